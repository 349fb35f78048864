using System.Globalization;
using System.Text;

namespace PeftSharp.Training.Data;

/// <summary>
/// Reads classification data from CSV (RFC 4180): a header row naming the columns, fields separated by
/// <see cref="DataReadOptions.CsvDelimiter"/>, fields in double quotes may hold delimiters, line breaks and doubled
/// quotes (<c>""</c>). LF or CRLF line ends; UTF-8 with an optional byte-order mark; blank lines are skipped.
/// The text and label columns are found by name (case-insensitive, surrounding spaces ignored). A label made only of
/// ASCII digits is an integer id; anything else is a label name. Line numbers in errors are those on which a record starts.
/// </summary>
public static class CsvReader
{
    /// <summary>Reads the records of a file lazily.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="DataFormatException">The header lacks a column, or a record is malformed (and skipping is off).</exception>
    public static IEnumerable<ClassificationRecord> Read(string path, DataReadOptions? options = null, DataReadReport? report = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= new DataReadOptions();
        options.Validate();
        return ReadCore(() => JsonlReader.OpenFile(path), path, options, report);
    }

    /// <summary>Reads records from a stream; <paramref name="sourceName"/> names it in errors. The stream is disposed at the end.</summary>
    public static IEnumerable<ClassificationRecord> Read(Stream stream, string sourceName, DataReadOptions? options = null, DataReadReport? report = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(sourceName);
        options ??= new DataReadOptions();
        options.Validate();
        return ReadCore(() => stream, sourceName, options, report);
    }

    private static IEnumerable<ClassificationRecord> ReadCore(Func<Stream> open, string source, DataReadOptions options, DataReadReport? report)
    {
        var encoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        using var parser = new Parser(new StreamReader(open(), encoding, detectEncodingFromByteOrderMarks: true), options.CsvDelimiter, options.MaxLineBytes);
        List<string>? header = null;
        long headerLine = 0;
        int textIndex = -1, labelIndex = -1;
        while (true)
        {
            List<string>? fields;
            string? problem = null;
            long line;
            try
            {
                if (!parser.Next(out fields, out line))
                {
                    if (header is null)
                    {
                        throw new DataFormatException(source, Math.Max(1, line), "the file is empty; expected a header row");
                    }
                    yield break;
                }
            }
            catch (CsvException e)
            {
                if (header is null || !options.SkipBadLines)
                {
                    throw new DataFormatException(source, e.Line, e.Message);
                }
                report?.Skip(new DataFormatException(source, e.Line, e.Message));
                parser.Recover();
                continue;
            }
            catch (DecoderFallbackException)
            {
                throw new DataFormatException(source, Math.Max(1, parser.Line), "the file is not valid UTF-8");
            }
            if (fields.Count == 1 && fields[0].Length == 0)
            {
                continue;
            }
            if (header is null)
            {
                header = fields;
                headerLine = line;
                textIndex = FindColumn(header, options.TextColumn);
                labelIndex = FindColumn(header, options.LabelColumn);
                if (textIndex < 0 || labelIndex < 0)
                {
                    string missing = textIndex < 0 ? options.TextColumn : options.LabelColumn;
                    throw new DataFormatException(source, line,
                        $"the header has no column \"{missing}\" (columns: {string.Join(", ", header.Select(h => $"\"{h}\""))})");
                }
                continue;
            }
            if (fields.Count != header.Count)
            {
                problem = $"expected {header.Count} fields as in the header (line {headerLine}), found {fields.Count}";
            }
            else if (fields[labelIndex].Trim().Length == 0)
            {
                problem = $"the label (column \"{header[labelIndex]}\") is empty";
            }
            if (problem is not null)
            {
                var error = new DataFormatException(source, line, problem);
                if (!options.SkipBadLines)
                {
                    throw error;
                }
                report?.Skip(error);
                continue;
            }
            yield return new ClassificationRecord(source, line, fields[textIndex], ParseLabel(fields[labelIndex].Trim()));
        }
    }

    private static RawLabel ParseLabel(string s) =>
        s.Length <= 18 && s.All(char.IsAsciiDigit) ? RawLabel.FromId(long.Parse(s, CultureInfo.InvariantCulture)) : RawLabel.FromName(s);

    private static int FindColumn(List<string> header, string name)
    {
        for (int i = 0; i < header.Count; i++)
        {
            if (string.Equals(header[i].Trim(), name.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }
        return -1;
    }

    private sealed class CsvException(string message, long line) : Exception(message)
    {
        public long Line { get; } = line;
    }

    /// <summary>The RFC 4180 state machine over characters.</summary>
    private sealed class Parser(TextReader reader, char delimiter, int maxRecordChars) : IDisposable
    {
        private readonly StringBuilder _field = new();
        private long _line = 1;
        private bool _atEnd;

        /// <summary>The current physical line (1-based).</summary>
        public long Line => _line;

        /// <summary>Reads one record; false at the end of the input.</summary>
        public bool Next(out List<string> fields, out long line)
        {
            fields = [];
            line = _line;
            if (_atEnd || reader.Peek() < 0)
            {
                _atEnd = true;
                return false;
            }
            _field.Clear();
            long chars = 0;
            bool quoted = false, afterQuote = false, fieldStarted = false;
            while (true)
            {
                int c = reader.Read();
                if (c >= 0 && ++chars > maxRecordChars)
                {
                    throw new CsvException($"record is longer than the limit of {maxRecordChars} characters", line);
                }
                if (quoted)
                {
                    if (c < 0)
                    {
                        _atEnd = true;
                        throw new CsvException("a quoted field is not closed before the end of the file", line);
                    }
                    if (c == '"')
                    {
                        quoted = false;
                        afterQuote = true;
                        continue;
                    }
                    if (c == '\n')
                    {
                        _line++;
                    }
                    _field.Append((char)c);
                    continue;
                }
                if (c < 0 || c == '\n' || c == '\r')
                {
                    if (c == '\r' && reader.Peek() == '\n')
                    {
                        reader.Read();
                    }
                    if (c >= 0)
                    {
                        _line++;
                    }
                    else
                    {
                        _atEnd = true;
                    }
                    fields.Add(_field.ToString());
                    return true;
                }
                if (c == delimiter)
                {
                    fields.Add(_field.ToString());
                    _field.Clear();
                    afterQuote = fieldStarted = false;
                    continue;
                }
                if (afterQuote && c == '"')
                {
                    // A doubled quote inside a quoted field stands for one quote.
                    _field.Append('"');
                    quoted = true;
                    afterQuote = false;
                    continue;
                }
                if (afterQuote)
                {
                    throw new CsvException($"unexpected character '{(char)c}' after the closing quote of field {fields.Count + 1}", line);
                }
                if (c == '"')
                {
                    if (fieldStarted)
                    {
                        throw new CsvException($"a quote inside unquoted field {fields.Count + 1} (quote the whole field and double inner quotes)", line);
                    }
                    quoted = true;
                    fieldStarted = true;
                    continue;
                }
                fieldStarted = true;
                _field.Append((char)c);
            }
        }

        /// <summary>After an error, drops characters up to the end of the current physical line.</summary>
        public void Recover()
        {
            while (!_atEnd)
            {
                int c = reader.Read();
                if (c < 0)
                {
                    _atEnd = true;
                    return;
                }
                if (c == '\n')
                {
                    _line++;
                    return;
                }
            }
        }

        public void Dispose() => reader.Dispose();
    }
}
