namespace PeftSharp.Training.Data;

/// <summary>
/// A data file that cannot be used. The message reads <c>&lt;file&gt;: line &lt;n&gt;: &lt;problem&gt;</c>, e.g.
/// <c>train.jsonl: line 17: expected a string in "completion", got number</c>.
/// </summary>
public sealed class DataFormatException : Exception
{
    public DataFormatException(string filePath, long lineNumber, string problem, Exception? inner = null)
        : base($"{filePath}: line {lineNumber}: {problem}", inner)
    {
        FilePath = filePath;
        LineNumber = lineNumber;
        Problem = problem;
    }

    /// <summary>The file as it was given to the reader.</summary>
    public string FilePath { get; }

    /// <summary>1-based line number (for CSV, the line on which the record starts).</summary>
    public long LineNumber { get; }

    /// <summary>What is wrong, without the file and line prefix.</summary>
    public string Problem { get; }
}
