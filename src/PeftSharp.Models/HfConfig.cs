using System.Text.Json;
using System.Text.Json.Nodes;

namespace PeftSharp.Models;

/// <summary>
/// A Hugging Face config.json: typed reads with the field named in every error, and the original JSON kept so
/// that saving writes back every field (including ones PeftSharp does not use) unchanged.
/// </summary>
public sealed class HfConfig
{
    public const string FileName = "config.json";

    private HfConfig(JsonObject json, string source)
    {
        Json = json;
        Source = source;
    }

    /// <summary>The raw JSON object (mutable: updates are written back by <see cref="Save"/>).</summary>
    public JsonObject Json { get; }

    /// <summary>Where the config came from (for error messages).</summary>
    public string Source { get; }

    /// <summary>Reads config.json from a model folder (or a path to the file itself).</summary>
    /// <exception cref="FileNotFoundException">No config.json.</exception>
    /// <exception cref="InvalidDataException">The file is not a JSON object.</exception>
    public static HfConfig Load(string path)
    {
        var file = Directory.Exists(path) ? Path.Combine(path, FileName) : path;
        if (!File.Exists(file))
        {
            throw new FileNotFoundException($"No {FileName} in {path}: a Hugging Face model folder holds config.json and model.safetensors.", file);
        }
        var info = new FileInfo(file);
        if (info.Length > 64L << 20)
        {
            throw new InvalidDataException($"{file} is {info.Length} bytes; a config.json larger than 64 MiB is not plausible.");
        }
        return Parse(File.ReadAllText(file), file);
    }

    /// <summary>Parses config JSON text.</summary>
    public static HfConfig Parse(string json, string source = "config.json")
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source} is not valid JSON: {e.Message}", e);
        }
        return node is JsonObject obj
            ? new HfConfig(obj, source)
            : throw new InvalidDataException($"{source} must hold a JSON object.");
    }

    /// <summary>model_type, or null.</summary>
    public string? ModelType => GetString("model_type");

    /// <summary>The first entry of architectures, or null.</summary>
    public string? Architecture => Json["architectures"] is JsonArray { Count: > 0 } a ? a[0]?.GetValue<string>() : null;

    public bool Has(string key) => Json[key] is not null;

    public int GetInt(string key, int? fallback = null)
    {
        var node = Json[key];
        if (node is null)
        {
            return fallback ?? throw Missing(key);
        }
        try
        {
            double v = node.GetValue<double>();
            if (v != Math.Floor(v) || v < int.MinValue || v > int.MaxValue)
            {
                throw new InvalidDataException($"{Source}: \"{key}\" must be an integer; got {node.ToJsonString()}.");
            }
            return (int)v;
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{Source}: \"{key}\" must be an integer; got {node.ToJsonString()}.", e);
        }
    }

    public int? GetIntOrNull(string key) => Json[key] is null ? null : GetInt(key);

    public float GetFloat(string key, float? fallback = null)
    {
        var node = Json[key];
        if (node is null)
        {
            return fallback ?? throw Missing(key);
        }
        try
        {
            return (float)node.GetValue<double>();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{Source}: \"{key}\" must be a number; got {node.ToJsonString()}.", e);
        }
    }

    public bool GetBool(string key, bool fallback)
    {
        var node = Json[key];
        if (node is null)
        {
            return fallback;
        }
        try
        {
            return node.GetValue<bool>();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{Source}: \"{key}\" must be true or false; got {node.ToJsonString()}.", e);
        }
    }

    public string? GetString(string key)
    {
        var node = Json[key];
        if (node is null)
        {
            return null;
        }
        try
        {
            return node.GetValue<string>();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{Source}: \"{key}\" must be a string; got {node.ToJsonString()}.", e);
        }
    }

    /// <summary>An integer or list of integers (e.g. eos_token_id) as a list; empty when absent.</summary>
    public int[] GetIntList(string key)
    {
        var node = Json[key];
        return node switch
        {
            null => [],
            JsonArray a => a.Select(n => n is null ? throw new InvalidDataException($"{Source}: \"{key}\" holds null.") : (int)n.GetValue<double>()).ToArray(),
            _ => [GetInt(key)],
        };
    }

    private InvalidDataException Missing(string key) => new($"{Source}: required field \"{key}\" is missing.");

    /// <summary>Writes config.json (indented, as transformers does) atomically into <paramref name="directory"/>.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var text = Json.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
        var path = Path.Combine(directory, FileName);
        var tmp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            File.WriteAllText(tmp, text);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp))
            {
                File.Delete(tmp);
            }
        }
    }

    /// <summary>A deep copy.</summary>
    public HfConfig Clone() => new((JsonObject)Json.DeepClone(), Source);
}
