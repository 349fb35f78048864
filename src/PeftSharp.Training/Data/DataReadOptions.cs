namespace PeftSharp.Training.Data;

/// <summary>How data files are read.</summary>
public sealed class DataReadOptions
{
    /// <summary>The default <see cref="MaxLineBytes"/>: 16 MiB.</summary>
    public const int DefaultMaxLineBytes = 16 << 20;

    /// <summary>The record format; <see cref="DataFormat.Auto"/> detects it from the first valid record.</summary>
    public DataFormat Format { get; init; } = DataFormat.Auto;

    /// <summary>
    /// Skip malformed lines and count them (<see cref="DataReadReport"/>) instead of throwing
    /// <see cref="DataFormatException"/>. Problems that concern the whole file (missing file, CSV header) still throw.
    /// </summary>
    public bool SkipBadLines { get; init; }

    /// <summary>
    /// Longest accepted line in UTF-8 bytes for JSONL (characters of one record for CSV). A longer line is an error
    /// (or skipped) and is never held in memory whole, so a hostile file cannot make the reader allocate without bound.
    /// </summary>
    public int MaxLineBytes { get; init; } = DefaultMaxLineBytes;

    /// <summary>CSV column holding the text.</summary>
    public string TextColumn { get; init; } = "text";

    /// <summary>CSV column holding the label.</summary>
    public string LabelColumn { get; init; } = "label";

    /// <summary>Separator of CSV fields.</summary>
    public char CsvDelimiter { get; init; } = ',';

    internal void Validate()
    {
        if (MaxLineBytes < 16)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxLineBytes), MaxLineBytes, "MaxLineBytes must be at least 16.");
        }
        if (CsvDelimiter is '"' or '\r' or '\n')
        {
            throw new ArgumentException($"CSV delimiter cannot be a quote or a line break (got U+{(int)CsvDelimiter:X4}).", nameof(CsvDelimiter));
        }
        if (string.IsNullOrEmpty(TextColumn) || string.IsNullOrEmpty(LabelColumn) || TextColumn == LabelColumn)
        {
            throw new ArgumentException($"CSV text and label columns must be two different non-empty names (got \"{TextColumn}\" and \"{LabelColumn}\").");
        }
    }
}

/// <summary>What reading a file skipped (with <see cref="DataReadOptions.SkipBadLines"/>).</summary>
public sealed class DataReadReport
{
    /// <summary>How many problems are kept in <see cref="Problems"/>; the count goes on.</summary>
    public const int MaxKeptProblems = 100;

    private readonly List<DataFormatException> _problems = [];

    /// <summary>Number of skipped records.</summary>
    public int SkippedLines { get; private set; }

    /// <summary>The first <see cref="MaxKeptProblems"/> problems, in file order.</summary>
    public IReadOnlyList<DataFormatException> Problems => _problems;

    internal void CountOnly() => SkippedLines++;

    internal void Skip(DataFormatException problem)
    {
        SkippedLines++;
        if (_problems.Count < MaxKeptProblems)
        {
            _problems.Add(problem);
        }
    }
}
