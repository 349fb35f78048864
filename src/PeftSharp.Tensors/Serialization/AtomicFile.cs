namespace PeftSharp.Tensors.Serialization;

/// <summary>Write-to-temporary, flush, rename: a reader sees either the old file or the complete new one.</summary>
internal static class AtomicFile
{
    /// <summary>
    /// Runs <paramref name="body"/> against a new temporary file beside <paramref name="path"/> (space for
    /// <paramref name="length"/> bytes is reserved up front, so a full disk usually fails before any byte is
    /// written), flushes it to disk and renames it over <paramref name="path"/>. On failure the temporary file is
    /// deleted and the exception propagates; the target is untouched.
    /// </summary>
    public static void Write(string path, long length, Func<Stream, Stream>? wrap, Action<Stream> body)
    {
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' has no parent directory.", nameof(path));
        string temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                BufferSize = 1 << 16,
                PreallocationSize = length,
            }))
            {
                var target = wrap?.Invoke(file) ?? file;
                body(target);
                target.Flush();
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    private static void TryDelete(string temp)
    {
        try
        {
            File.Delete(temp);
        }
        catch (IOException)
        {
            // The original exception matters more than a leftover temporary file.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
