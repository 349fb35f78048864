namespace PeftSharp.Tensors.Serialization;

/// <summary>
/// A safetensors file (or checkpoint index) breaks the format: its message names the file, the tensor when
/// one is concerned, and what is wrong. Thrown before any tensor data is trusted. (An <see cref="IOException"/>:
/// <see cref="InvalidDataException"/>, the natural base, is sealed.)
/// </summary>
public sealed class SafetensorsFormatException : IOException
{
    public SafetensorsFormatException(string filePath, string? tensorName, string problem, Exception? inner = null)
        : base(Compose(filePath, tensorName, problem), inner)
    {
        FilePath = filePath;
        TensorName = tensorName;
        Problem = problem;
    }

    /// <summary>The file that failed validation.</summary>
    public string FilePath { get; }

    /// <summary>The tensor concerned, or null when the problem is not specific to one tensor.</summary>
    public string? TensorName { get; }

    /// <summary>The problem alone, without file and tensor name.</summary>
    public string Problem { get; }

    private static string Compose(string filePath, string? tensorName, string problem) =>
        tensorName is null ? $"{filePath}: {problem}" : $"{filePath}: tensor '{tensorName}': {problem}";
}
