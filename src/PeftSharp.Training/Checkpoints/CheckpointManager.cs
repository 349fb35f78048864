using System.Globalization;
using System.Text.Json;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Serialization;

namespace PeftSharp.Training.Checkpoints;

/// <summary>
/// Writes and finds training checkpoints under one output folder:
/// <code>
/// &lt;dir&gt;/checkpoint-&lt;step&gt;/trainable.safetensors   trainable tensors by parameter name
///                           optimizer.safetensors   optimizer state dict
///                           trainer_state.json      step, data position, scheduler, RNG states, best metric, config hash
///                           (anything the caller's extra writer adds, e.g. an adapter in the PEFT layout)
/// &lt;dir&gt;/latest                                   name of the newest checkpoint folder (informational)
/// </code>
/// A checkpoint is written into a hidden temporary folder and renamed into place only when every file is
/// complete and flushed, so a crash or an exception mid-write leaves the previous checkpoints untouched. The
/// newest complete checkpoint is found by scanning (folders whose state file is missing or unreadable are
/// ignored), so a stale or missing <c>latest</c> file does no harm. After each save only the newest
/// <see cref="KeepLast"/> checkpoints are kept.
/// </summary>
public sealed class CheckpointManager
{
    public const string FolderPrefix = "checkpoint-";
    public const string TrainableFile = "trainable.safetensors";
    public const string OptimizerFile = "optimizer.safetensors";
    public const string StateFile = "trainer_state.json";
    public const string LatestFile = "latest";
    private const string TempPrefix = ".tmp-" + FolderPrefix;
    private const string OldPrefix = ".old-" + FolderPrefix;

    /// <exception cref="ArgumentOutOfRangeException"><paramref name="keepLast"/> is below 1.</exception>
    public CheckpointManager(string directory, int keepLast = 3)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        if (keepLast < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(keepLast), keepLast, "At least one checkpoint must be kept.");
        }
        Directory = Path.GetFullPath(directory);
        KeepLast = keepLast;
    }

    /// <summary>The output folder holding the checkpoint folders.</summary>
    public string Directory { get; }

    /// <summary>How many complete checkpoints survive rotation.</summary>
    public int KeepLast { get; }

    /// <summary>The folder name of a step's checkpoint.</summary>
    public static string FolderName(long step) => FolderPrefix + step.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Writes <c>checkpoint-&lt;state.Step&gt;</c> atomically (replacing an existing one for the same step), updates
    /// <c>latest</c> and rotates old checkpoints. <paramref name="writeExtra"/> may add files to the folder before
    /// it is published. Returns the checkpoint's path.
    /// </summary>
    /// <exception cref="IOException">Writing failed; the previous checkpoints are intact and no partial folder is published.</exception>
    public string Save(TrainerState state, IEnumerable<KeyValuePair<string, Tensor>> trainable, IReadOnlyDictionary<string, Tensor> optimizerState, Action<string>? writeExtra = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Step < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(state), state.Step, "Checkpoint step cannot be negative.");
        }
        System.IO.Directory.CreateDirectory(Directory);
        RemoveStaleTemporaries();
        string name = FolderName(state.Step);
        string final = Path.Combine(Directory, name);
        string temp = Path.Combine(Directory, $"{TempPrefix}{state.Step}-{Guid.NewGuid():N}");
        try
        {
            System.IO.Directory.CreateDirectory(temp);
            TensorFile.Save(Path.Combine(temp, TrainableFile), trainable);
            TensorFile.Save(Path.Combine(temp, OptimizerFile), optimizerState);
            WriteDurably(Path.Combine(temp, StateFile), JsonSerializer.SerializeToUtf8Bytes(state, TrainingJsonContext.Default.TrainerState));
            writeExtra?.Invoke(temp);
            Publish(temp, final);
        }
        catch
        {
            TryDeleteDirectory(temp);
            throw;
        }
        WriteLatestPointer(name);
        Rotate();
        return final;
    }

    /// <summary>Complete checkpoints (a readable state file whose step matches the folder name), oldest first.</summary>
    public IReadOnlyList<(long Step, string Path)> List()
    {
        var result = new List<(long, string)>();
        if (!System.IO.Directory.Exists(Directory))
        {
            return result;
        }
        foreach (var dir in System.IO.Directory.GetDirectories(Directory, FolderPrefix + "*"))
        {
            var suffix = Path.GetFileName(dir)[FolderPrefix.Length..];
            if (long.TryParse(suffix, NumberStyles.None, CultureInfo.InvariantCulture, out long step) && IsComplete(dir, step))
            {
                result.Add((step, dir));
            }
        }
        result.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return result;
    }

    /// <summary>The newest complete checkpoint folder, or null when there is none.</summary>
    public string? FindLatest()
    {
        var all = List();
        return all.Count == 0 ? null : all[^1].Path;
    }

    /// <summary>
    /// Resolves what a user passes to <c>--resume</c>: a checkpoint folder, or an output folder (its newest complete
    /// checkpoint).
    /// </summary>
    /// <exception cref="CheckpointException">The path does not exist or holds no complete checkpoint.</exception>
    public static string Resolve(string path)
    {
        var full = Path.GetFullPath(path);
        if (File.Exists(Path.Combine(full, StateFile)))
        {
            return full;
        }
        if (!System.IO.Directory.Exists(full))
        {
            throw new CheckpointException($"Cannot resume from {full}: no such folder.");
        }
        return new CheckpointManager(full).FindLatest()
            ?? throw new CheckpointException($"Cannot resume from {full}: it holds no complete {FolderPrefix}<step> folder (each needs {TrainableFile}, {OptimizerFile} and a readable {StateFile}).");
    }

    /// <summary>Reads a checkpoint folder (see <see cref="Resolve"/> for output folders).</summary>
    /// <exception cref="CheckpointException">A file is missing or unreadable; the message names it.</exception>
    public static Checkpoint Load(string path)
    {
        string folder = Resolve(path);
        var state = ReadState(Path.Combine(folder, StateFile));
        return new Checkpoint(folder, state, ReadTensors(folder, TrainableFile), ReadTensors(folder, OptimizerFile));
    }

    private static Dictionary<string, Tensor> ReadTensors(string folder, string file)
    {
        string path = Path.Combine(folder, file);
        if (!File.Exists(path))
        {
            throw new CheckpointException($"Checkpoint {folder} is incomplete: {file} is missing.");
        }
        try
        {
            using var persistent = TensorScope.Persistent();
            return TensorFile.Load(path);
        }
        catch (Exception e) when (e is SafetensorsFormatException or IOException or InvalidDataException)
        {
            throw new CheckpointException($"Checkpoint file {path} cannot be read: {e.Message}", e);
        }
    }

    /// <summary>Parses a <c>trainer_state.json</c>.</summary>
    /// <exception cref="CheckpointException">Missing, malformed, or written by an unknown format version.</exception>
    public static TrainerState ReadState(string path)
    {
        TrainerState? state;
        try
        {
            state = JsonSerializer.Deserialize(File.ReadAllBytes(path), TrainingJsonContext.Default.TrainerState);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"Trainer state {path} cannot be read: {e.Message}", e);
        }
        if (state is null)
        {
            throw new CheckpointException($"Trainer state {path} is empty (JSON null).");
        }
        if (state.FormatVersion != TrainerState.CurrentFormatVersion)
        {
            throw new CheckpointException($"Trainer state {path} has format version {state.FormatVersion}; this version of PeftSharp reads {TrainerState.CurrentFormatVersion}.");
        }
        foreach (var (name, words) in state.RngStates)
        {
            if (words is not { Length: 4 })
            {
                throw new CheckpointException($"Trainer state {path}: RNG state '{name}' must have 4 words; it has {words?.Length ?? 0}.");
            }
        }
        return state;
    }

    private static bool IsComplete(string dir, long step)
    {
        if (!File.Exists(Path.Combine(dir, TrainableFile)) || !File.Exists(Path.Combine(dir, OptimizerFile)))
        {
            return false;
        }
        try
        {
            return ReadState(Path.Combine(dir, StateFile)).Step == step;
        }
        catch (CheckpointException)
        {
            return false;
        }
    }

    private void Publish(string temp, string final)
    {
        if (!System.IO.Directory.Exists(final))
        {
            System.IO.Directory.Move(temp, final);
            return;
        }
        // Same step saved again (e.g. cancellation right after a periodic save): swap the folders so that at every
        // moment one complete copy exists under some name.
        string old = Path.Combine(Directory, $"{OldPrefix}{Path.GetFileName(final)}-{Guid.NewGuid():N}");
        System.IO.Directory.Move(final, old);
        System.IO.Directory.Move(temp, final);
        TryDeleteDirectory(old);
    }

    private void WriteLatestPointer(string name)
    {
        string path = Path.Combine(Directory, LatestFile);
        string temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        WriteDurably(temp, System.Text.Encoding.UTF8.GetBytes(name + "\n"));
        File.Move(temp, path, overwrite: true);
    }

    private void Rotate()
    {
        var all = List();
        for (int i = 0; i < all.Count - KeepLast; i++)
        {
            TryDeleteDirectory(all[i].Path);
        }
    }

    private void RemoveStaleTemporaries()
    {
        foreach (var prefix in new[] { TempPrefix, OldPrefix })
        {
            foreach (var dir in System.IO.Directory.GetDirectories(Directory, prefix + "*"))
            {
                TryDeleteDirectory(dir);
            }
        }
    }

    private static void WriteDurably(string path, byte[] bytes)
    {
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        file.Write(bytes);
        file.Flush(flushToDisk: true);
    }

    private static void TryDeleteDirectory(string dir)
    {
        try
        {
            if (System.IO.Directory.Exists(dir))
            {
                System.IO.Directory.Delete(dir, recursive: true);
            }
        }
        catch (IOException)
        {
            // Left for the next save's clean-up; it never counts as a checkpoint.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
