using System.Text.Json;

namespace PeftSharp.Tensors.Serialization;

/// <summary>
/// A model's weights as one safetensors file or as shards listed by <c>model.safetensors.index.json</c>
/// (<c>{"metadata": {...}, "weight_map": {"tensor": "shard file", ...}}</c>), with lookup by tensor name across
/// shards. Each shard is opened once and fully validated; the index must map every tensor to a shard that
/// holds it, every shard tensor must be in the index, no tensor may appear in two shards, and shard names must
/// stay inside the index's directory (no absolute paths, no <c>..</c> escaping it). The check is on the path
/// as written: a shard that is a symbolic link (as in the Hugging Face cache) is followed.
/// </summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    /// <summary>Index file name written by transformers.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    /// <summary>Single-file checkpoint name written by transformers.</summary>
    public const string SingleFileName = "model.safetensors";

    private const string WeightMapKey = "weight_map";
    private const string MetadataKey = "metadata";
    private const long MaxIndexLength = SafetensorsHeader.MaxHeaderLength;

    private readonly SafetensorsFile[] _shards;
    private readonly Dictionary<string, SafetensorsFile> _owner;

    private SafetensorsCheckpoint(string? indexPath, SafetensorsFile[] shards, Dictionary<string, SafetensorsFile> owner,
        IReadOnlyList<SafetensorsEntry> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        IndexPath = indexPath;
        _shards = shards;
        _owner = owner;
        Shards = Array.AsReadOnly(shards);
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The index file, or null for a single-file checkpoint.</summary>
    public string? IndexPath { get; }

    /// <summary>The open shard files (one for a single-file checkpoint), in order of first mention in the index.</summary>
    public IReadOnlyList<SafetensorsFile> Shards { get; }

    /// <summary>Every tensor: in index order for a sharded checkpoint, header order for a single file.</summary>
    public IReadOnlyList<SafetensorsEntry> Tensors { get; }

    /// <summary>
    /// The index's <c>metadata</c> (strings as they are, numbers such as <c>total_size</c> as their JSON text),
    /// or the single file's <c>__metadata__</c>.
    /// </summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>
    /// Opens a checkpoint. <paramref name="path"/> may be a directory (its <see cref="IndexFileName"/> is used when
    /// present, else <see cref="SingleFileName"/>), an index <c>.json</c> file, or a single <c>.safetensors</c> file.
    /// </summary>
    /// <exception cref="SafetensorsFormatException">The index or a shard is malformed or inconsistent.</exception>
    /// <exception cref="FileNotFoundException">Neither an index nor a single file was found.</exception>
    public static SafetensorsCheckpoint Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            string index = Path.Combine(full, IndexFileName);
            string single = Path.Combine(full, SingleFileName);
            if (File.Exists(index))
            {
                return OpenIndex(index);
            }
            if (File.Exists(single))
            {
                return OpenSingle(single);
            }
            throw new FileNotFoundException($"{full}: neither {IndexFileName} nor {SingleFileName} exists.", index);
        }
        return full.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? OpenIndex(full) : OpenSingle(full);
    }

    /// <summary>Whether any shard holds <paramref name="name"/>.</summary>
    public bool Contains(string name) => _owner.ContainsKey(name);

    /// <summary>The shard that holds <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such tensor.</exception>
    public SafetensorsFile FileOf(string name) => _owner.TryGetValue(name, out var file)
        ? file
        : throw new KeyNotFoundException($"{IndexPath ?? _shards[0].Path}: no tensor named '{name}'.");

    /// <summary>The entry of <paramref name="name"/> in its shard.</summary>
    public SafetensorsEntry GetEntry(string name) => FileOf(name).GetEntry(name);

    /// <inheritdoc cref="SafetensorsFile.GetBytes"/>
    public ReadOnlySpan<byte> GetBytes(string name) => FileOf(name).GetBytes(name);

    /// <inheritdoc cref="SafetensorsFile.GetSingles"/>
    public ReadOnlySpan<float> GetSingles(string name) => FileOf(name).GetSingles(name);

    /// <inheritdoc cref="SafetensorsFile.ReadSingles"/>
    public float[] ReadSingles(string name) => FileOf(name).ReadSingles(name);

    /// <inheritdoc cref="SafetensorsFile.CopySingles(string, Span{float})"/>
    public void CopySingles(string name, Span<float> destination) => FileOf(name).CopySingles(name, destination);

    /// <inheritdoc cref="SafetensorsFile.ReadHalfBits"/>
    public ushort[] ReadHalfBits(string name) => FileOf(name).ReadHalfBits(name);

    /// <inheritdoc cref="SafetensorsFile.ReadInt64s"/>
    public long[] ReadInt64s(string name) => FileOf(name).ReadInt64s(name);

    /// <summary>Closes every shard.</summary>
    public void Dispose()
    {
        foreach (var shard in _shards)
        {
            shard.Dispose();
        }
    }

    private static SafetensorsCheckpoint OpenSingle(string file)
    {
        var shard = SafetensorsFile.Open(file);
        var owner = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        foreach (var e in shard.Tensors)
        {
            owner.Add(e.Name, shard);
        }
        return new SafetensorsCheckpoint(null, [shard], owner, shard.Tensors, shard.Metadata);
    }

    private static SafetensorsCheckpoint OpenIndex(string indexPath)
    {
        var (metadata, weightMap) = ReadIndex(indexPath);
        string directory = Path.GetDirectoryName(indexPath)!;
        var shardsByName = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var shards = new List<SafetensorsFile>();
        try
        {
            var owner = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            var tensors = new List<SafetensorsEntry>(weightMap.Count);
            foreach (var (tensor, shardName) in weightMap)
            {
                if (!shardsByName.TryGetValue(shardName, out var shard))
                {
                    string shardPath = ResolveShard(indexPath, directory, tensor, shardName);
                    if (!File.Exists(shardPath))
                    {
                        throw new SafetensorsFormatException(indexPath, tensor, $"shard \"{shardName}\" does not exist.");
                    }
                    shard = SafetensorsFile.Open(shardPath);
                    shards.Add(shard);
                    shardsByName.Add(shardName, shard);
                }
                if (!shard.TryGetEntry(tensor, out var entry))
                {
                    throw new SafetensorsFormatException(indexPath, tensor, $"the index maps it to shard \"{shardName}\", which does not hold it.");
                }
                owner.Add(tensor, shard);
                tensors.Add(entry);
            }
            foreach (var shard in shards)
            {
                foreach (var e in shard.Tensors)
                {
                    if (!owner.TryGetValue(e.Name, out var mapped) || !ReferenceEquals(mapped, shard))
                    {
                        throw new SafetensorsFormatException(indexPath, e.Name,
                            $"shard \"{Path.GetFileName(shard.Path)}\" holds it but the index maps it {(mapped is null ? "nowhere" : $"to \"{Path.GetFileName(mapped.Path)}\"")}.");
                    }
                }
            }
            return new SafetensorsCheckpoint(indexPath, shards.ToArray(), owner, tensors.AsReadOnly(), metadata);
        }
        catch
        {
            foreach (var shard in shards)
            {
                shard.Dispose();
            }
            throw;
        }
    }

    /// <summary>Resolves a shard name lexically and refuses any that leaves the index's directory.</summary>
    private static string ResolveShard(string indexPath, string directory, string tensor, string shardName)
    {
        if (shardName.Length == 0 || shardName.Contains('\0') || Path.IsPathRooted(shardName)
            || shardName.EndsWith('/') || shardName.EndsWith(Path.DirectorySeparatorChar))
        {
            throw new SafetensorsFormatException(indexPath, tensor, $"shard name \"{shardName}\" is not a relative file name.");
        }
        string resolved = Path.GetFullPath(Path.Combine(directory, shardName));
        string root = Path.TrimEndingDirectorySeparator(directory) + Path.DirectorySeparatorChar;
        var comparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        if (!resolved.StartsWith(root, comparison))
        {
            throw new SafetensorsFormatException(indexPath, tensor, $"shard name \"{shardName}\" points outside the checkpoint directory.");
        }
        return resolved;
    }

    private static (IReadOnlyDictionary<string, string> Metadata, List<KeyValuePair<string, string>> WeightMap) ReadIndex(string indexPath)
    {
        byte[] json;
        using (var stream = new FileStream(indexPath, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            if (stream.Length > MaxIndexLength)
            {
                throw new SafetensorsFormatException(indexPath, null, $"index file has {stream.Length} bytes, more than the {MaxIndexLength}-byte limit.");
            }
            json = new byte[stream.Length];
            stream.ReadExactly(json);
        }
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        List<KeyValuePair<string, string>>? weightMap = null;
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 16 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new SafetensorsFormatException(indexPath, null, "index is not a JSON object.");
            }
            var topKeys = new HashSet<string>(StringComparer.Ordinal);
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string key = reader.GetString()!;
                if (!topKeys.Add(key))
                {
                    throw new SafetensorsFormatException(indexPath, null, $"duplicate key \"{key}\".");
                }
                reader.Read();
                if (key == WeightMapKey)
                {
                    weightMap = ReadWeightMap(ref reader, indexPath);
                }
                else if (key == MetadataKey && reader.TokenType == JsonTokenType.StartObject)
                {
                    ReadIndexMetadata(ref reader, indexPath, metadata);
                }
                else
                {
                    reader.Skip(); // other keys carry nothing the loader needs
                }
            }
            while (reader.Read())
            {
                // Drains the reader so trailing garbage after the object is reported as invalid JSON.
            }
        }
        catch (JsonException e)
        {
            throw new SafetensorsFormatException(indexPath, null, $"index is not valid JSON (line {e.LineNumber + 1}): {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            throw new SafetensorsFormatException(indexPath, null, $"index holds a string that cannot be decoded: {e.Message}", e);
        }
        return weightMap is null
            ? throw new SafetensorsFormatException(indexPath, null, $"index has no \"{WeightMapKey}\" object.")
            : (metadata, weightMap);
    }

    private static List<KeyValuePair<string, string>> ReadWeightMap(ref Utf8JsonReader reader, string indexPath)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new SafetensorsFormatException(indexPath, null, $"\"{WeightMapKey}\" must be an object mapping tensor names to shard files.");
        }
        var result = new List<KeyValuePair<string, string>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string tensor = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
            {
                throw new SafetensorsFormatException(indexPath, tensor, $"\"{WeightMapKey}\" value must be a shard file name string.");
            }
            if (!seen.Add(tensor))
            {
                throw new SafetensorsFormatException(indexPath, tensor, $"listed twice in \"{WeightMapKey}\".");
            }
            result.Add(new(tensor, reader.GetString()!));
        }
        return result;
    }

    private static void ReadIndexMetadata(ref Utf8JsonReader reader, string indexPath, Dictionary<string, string> metadata)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string key = reader.GetString()!;
            reader.Read();
            string value = reader.TokenType switch
            {
                JsonTokenType.String => reader.GetString()!,
                JsonTokenType.Number or JsonTokenType.True or JsonTokenType.False or JsonTokenType.Null =>
                    System.Text.Encoding.UTF8.GetString(reader.ValueSpan),
                _ => throw new SafetensorsFormatException(indexPath, null, $"\"{MetadataKey}\" value for \"{key}\" must be a string or number."),
            };
            if (!metadata.TryAdd(key, value))
            {
                throw new SafetensorsFormatException(indexPath, null, $"duplicate key \"{key}\" in \"{MetadataKey}\".");
            }
        }
    }
}
