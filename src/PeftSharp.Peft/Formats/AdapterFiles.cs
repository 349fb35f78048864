using PeftSharp.Peft.Core;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Serialization;

namespace PeftSharp.Peft.Formats;

/// <summary>
/// The Hugging Face PEFT adapter folder: adapter_config.json and adapter_model.safetensors (metadata {"format": "pt"}).
/// Keys are the model's parameter names without the adapter name: "base_model.model.&lt;module&gt;.lora_A.weight".
/// The adapter "default" goes in the folder itself, every other adapter X in the sub-folder X.
/// </summary>
public static class AdapterFiles
{
    public const string WeightsFileName = "adapter_model.safetensors";

    /// <summary>One tensor of the file: its key, the live tensor, whether loading may omit it, and how to store a loaded value.</summary>
    internal readonly record struct Entry(string Key, Tensor Tensor, bool Optional, Action<float[]> Assign);

    /// <summary>Every tensor Hugging Face writes for <paramref name="adapter"/>, in model order.</summary>
    internal static IEnumerable<Entry> Entries(PeftModel model, string adapter)
    {
        var config = model.Configs.TryGetValue(adapter, out var c) ? c : throw new KeyNotFoundException($"No adapter \"{adapter}\".");
        var method = model.Method!;
        if (model.PromptEntry(adapter) is { } prompt)
        {
            yield return prompt;
            yield break;
        }
        var sharedKeys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (path, layer) in model.AdapterLayers())
        {
            if (!layer.HasAdapter(adapter))
            {
                continue;
            }
            var shared = layer.SharedTensors(adapter).ToArray();
            foreach (var p in layer.AdapterParameters(adapter))
            {
                var t = p.Value;
                if (shared.Any(s => ReferenceEquals(s.Value, t)))
                {
                    continue;
                }
                var key = PeftModel.KeyPrefix + path + "." + p.FileKey;
                yield return new Entry(key, layer.SavedValue(adapter, p), false, v =>
                {
                    if (v.Length != t.Numel)
                    {
                        throw new AdapterLoadException($"\"{key}\" holds {v.Length} values but the adapter's tensor has {t.Numel}.");
                    }
                    v.CopyTo(t.Span);
                });
            }
            foreach (var s in shared)
            {
                // Shared tensors are one object in every layer: the first layer that holds one writes (and loads) it.
                var t = s.Value;
                if (sharedKeys.Add(s.FileKey))
                {
                    yield return new Entry(PeftModel.BaseModelName + "." + s.FileKey, t, s.Optional, v => v.CopyTo(t.Span));
                }
            }
            foreach (var extra in method.ExtraSavedBaseParameters(config, path, layer))
            {
                var (owner, local) = Locate(layer, extra);
                var t = owner.Parameter(local)!;
                yield return new Entry(PeftModel.KeyPrefix + path + "." + extra, t, true, v => BaseWeights.Write(owner, local, v));
            }
        }
        foreach (var (path, wrapper) in model.SavedModules())
        {
            if (!wrapper.HasCopy(adapter))
            {
                continue;
            }
            foreach (var p in wrapper.CopyParameters(adapter))
            {
                var t = p.Value;
                yield return new Entry(PeftModel.KeyPrefix + path + "." + p.FileKey, t, false, v => v.CopyTo(t.Span));
            }
        }
        if (method.BiasMode(config) == "all")
        {
            // Hugging Face keeps every state-dict entry whose name contains "bias", under the adapted model's names.
            foreach (var (name, p) in model.Model.NamedParameters())
            {
                if (name.EndsWith(".bias", StringComparison.Ordinal) && !name.Contains("." + ModulesToSaveWrapper.CopiesName + ".", StringComparison.Ordinal))
                {
                    var (owner, local) = Locate(model.Model, name);
                    yield return new Entry(PeftModel.KeyPrefix + name, p, true, v => BaseWeights.Write(owner, local, v));
                }
            }
        }
    }

    private static (Nn.Module Owner, string Local) Locate(Nn.Module root, string path)
    {
        int dot = path.LastIndexOf('.');
        return dot < 0 ? (root, path) : (root.Get(path[..dot]), path[(dot + 1)..]);
    }

    /// <summary>Writes the named adapters: each one's config and weights, "default" at the top, others in sub-folders.</summary>
    public static void Save(PeftModel model, string directory, IReadOnlyList<string> adapters)
    {
        foreach (var name in adapters)
        {
            var config = model.Configs.TryGetValue(name, out var c) ? c : throw new KeyNotFoundException($"No adapter \"{name}\" to save.");
            var dir = name == PeftModel.DefaultAdapterName ? directory : Path.Combine(directory, name);
            Directory.CreateDirectory(dir);
            var saved = config with { InferenceMode = true };
            File.WriteAllText(Path.Combine(dir, AdapterConfig.FileName), saved.ToJsonString());
            var tensors = Entries(model, name).Select(e => new KeyValuePair<string, Tensor>(e.Key, e.Tensor)).ToList();
            TensorFile.Save(Path.Combine(dir, WeightsFileName), tensors, TensorFile.PyTorchMetadata);
        }
    }

    /// <summary>
    /// Copies the tensors of an adapter file into adapter <paramref name="adapter"/>, which must already exist on the model.
    /// Every key must name a tensor of the adapter, every required tensor must be present, and shapes must agree.
    /// </summary>
    /// <exception cref="AdapterLoadException">A key fits no module, a tensor is missing, or shapes differ (both named).</exception>
    public static void LoadWeights(PeftModel model, string adapter, string file)
    {
        if (!File.Exists(file))
        {
            throw new FileNotFoundException($"No {WeightsFileName} at {file}.", file);
        }
        var expected = Entries(model, adapter).ToDictionary(e => e.Key, StringComparer.Ordinal);
        using var checkpoint = SafetensorsCheckpoint.Open(file);
        var present = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in checkpoint.Tensors)
        {
            if (!expected.TryGetValue(entry.Name, out var target))
            {
                throw new AdapterLoadException($"{file}: key \"{entry.Name}\" does not fit the model: {Explain(model, entry.Name)}");
            }
            var shape = entry.ShapeAsInt32();
            if (!shape.AsSpan().SequenceEqual(target.Tensor.Shape))
            {
                throw new AdapterLoadException($"{file}: \"{entry.Name}\" (module {ModuleOf(entry.Name)}) has shape {Shapes.Format(shape)} in the file but {Shapes.Format(target.Tensor.Shape)} in the model.");
            }
            var values = TensorFile.Read(checkpoint, entry.Name).ToArray();
            target.Assign(values);
            present.Add(entry.Name);
        }
        var missing = expected.Values.Where(e => !e.Optional && !present.Contains(e.Key)).Select(e => e.Key).ToArray();
        if (missing.Length > 0)
        {
            throw new AdapterLoadException($"{file} lacks {missing.Length} tensor(s) the adapter needs, e.g. {string.Join(", ", missing.Take(4))} (module {ModuleOf(missing[0])}).");
        }
    }

    private static string ModuleOf(string key)
    {
        var k = key.StartsWith(PeftModel.KeyPrefix, StringComparison.Ordinal) ? key[PeftModel.KeyPrefix.Length..] : key;
        foreach (var marker in new[] { ".lora_", ".ia3_", ".base_layer.", "." })
        {
            int i = k.IndexOf(marker, StringComparison.Ordinal);
            if (i > 0 && marker != ".")
            {
                return k[..i];
            }
        }
        int last = k.LastIndexOf('.');
        return last > 0 ? k[..last] : k;
    }

    private static string Explain(PeftModel model, string key)
    {
        if (!key.StartsWith(PeftModel.KeyPrefix, StringComparison.Ordinal))
        {
            return $"adapter keys start with \"{PeftModel.KeyPrefix}\".";
        }
        var module = ModuleOf(key);
        try
        {
            var m = model.Model.Get(module);
            return $"module \"{module}\" exists ({m.Describe()}) but holds no such tensor for this adapter.";
        }
        catch (KeyNotFoundException)
        {
            return $"the model has no module \"{module}\".";
        }
    }
}
