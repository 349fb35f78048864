namespace PeftSharp.Training.Data;

/// <summary>The records of one data file, all of one format, with what was skipped.</summary>
public sealed class DataSet
{
    private DataSet(string source, DataFormat format, IReadOnlyList<DataRecord> records, DataReadReport report)
    {
        Source = source;
        Format = format;
        Records = records;
        Report = report;
    }

    /// <summary>The file path.</summary>
    public string Source { get; }

    /// <summary>The format of every record (detected or as requested).</summary>
    public DataFormat Format { get; }

    /// <summary>The records in file order.</summary>
    public IReadOnlyList<DataRecord> Records { get; }

    /// <summary>Skipped lines (with <see cref="DataReadOptions.SkipBadLines"/>).</summary>
    public DataReadReport Report { get; }

    /// <summary>
    /// Reads a whole data file: <c>.csv</c> as CSV classification data (<c>.tsv</c> likewise, tab-separated), anything
    /// else as JSON Lines.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="DataFormatException">A malformed record (without skipping), or no valid record at all.</exception>
    /// <exception cref="ArgumentException">A CSV file with a format other than Auto or Classification.</exception>
    public static DataSet Load(string path, DataReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= new DataReadOptions();
        var report = new DataReadReport();
        string ext = Path.GetExtension(path).ToLowerInvariant();
        List<DataRecord> records;
        if (ext is ".csv" or ".tsv")
        {
            if (options.Format is not (DataFormat.Auto or DataFormat.Classification))
            {
                throw new ArgumentException($"{path}: CSV files hold classification data; format {options.Format} was requested.", nameof(options));
            }
            var csvOptions = ext == ".tsv" && options.CsvDelimiter == ',' ? CopyWithDelimiter(options, '\t') : options;
            records = [.. CsvReader.Read(path, csvOptions, report)];
        }
        else
        {
            records = [.. JsonlReader.Read(path, options, report)];
        }
        if (records.Count == 0)
        {
            throw new DataFormatException(path, 1, report.SkippedLines > 0
                ? $"no valid record ({report.SkippedLines} malformed lines skipped; the first: {report.Problems[0].Message})"
                : "the file holds no records");
        }
        var format = records[0] switch
        {
            TextRecord => DataFormat.Text,
            PromptCompletionRecord => DataFormat.PromptCompletion,
            ChatRecord => DataFormat.Messages,
            _ => DataFormat.Classification,
        };
        return new DataSet(path, format, records, report);
    }

    private static DataReadOptions CopyWithDelimiter(DataReadOptions o, char delimiter) => new()
    {
        Format = o.Format,
        SkipBadLines = o.SkipBadLines,
        MaxLineBytes = o.MaxLineBytes,
        TextColumn = o.TextColumn,
        LabelColumn = o.LabelColumn,
        CsvDelimiter = delimiter,
    };
}
