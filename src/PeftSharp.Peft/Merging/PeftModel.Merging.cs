using PeftSharp.Nn;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Serialization;

namespace PeftSharp.Peft.Core;

public sealed partial class PeftModel
{
    /// <summary>Folds the named adapters (default: the active ones) into the base weights of every adapted layer.</summary>
    public void Merge(IEnumerable<string>? adapters = null)
    {
        RejectPromptMerge();
        var names = (adapters ?? Selection.Active).ToArray();
        foreach (var n in names)
        {
            if (!_configs.ContainsKey(n))
            {
                throw new KeyNotFoundException($"No adapter \"{n}\" to merge; the model has [{string.Join(", ", _order)}].");
            }
        }
        foreach (var (_, layer) in AdapterLayers())
        {
            layer.Merge(names);
        }
    }

    /// <summary>Takes every merged adapter back out of the base weights (restored up to float32 rounding).</summary>
    public void Unmerge()
    {
        foreach (var (_, layer) in AdapterLayers())
        {
            layer.Unmerge();
        }
    }

    /// <summary>
    /// Merges the named adapters (default: the active ones) and returns the plain model: every adapter layer is replaced
    /// by its base module and every modules_to_save wrapper by the original module carrying the active copy. The
    /// returned model computes what the adapted model computed. This PeftModel is unusable afterwards.
    /// </summary>
    public Module MergeAndUnload(IEnumerable<string>? adapters = null)
    {
        var names = (adapters ?? Selection.Active).ToArray();
        Merge(names);
        return Unwrap(names.FirstOrDefault());
    }

    /// <summary>Returns the plain base model without merging (adapters are dropped; merged ones stay in the weights).</summary>
    public Module Unload() => Unwrap(null);

    private Module Unwrap(string? copyAdapter)
    {
        DetachPrompts();
        foreach (var (path, layer) in AdapterLayers().ToArray())
        {
            ReplaceAt(path, layer.BaseLayer);
        }
        foreach (var (path, wrapper) in SavedModules().ToArray())
        {
            var keep = copyAdapter is not null && wrapper.HasCopy(copyAdapter) ? copyAdapter : Selection.Active.FirstOrDefault(wrapper.HasCopy);
            ReplaceAt(path, wrapper.Unwrap(keep));
        }
        var model = Model;
        Child(BaseModelName).RemoveChild(ModelName);
        _configs.Clear();
        _order.Clear();
        Selection.Active = [];
        return model;
    }

    /// <summary>
    /// Writes a plain model's weights as a Hugging Face model folder: model.safetensors (metadata {"format": "pt"}) with
    /// every parameter and buffer under its state-dict name (tensors shared between names, i.e. tied weights, are
    /// written once under the first name), plus config.json copied from <paramref name="configJsonPath"/> when given.
    /// </summary>
    public static void SaveModel(Module model, string directory, string? configJsonPath = null)
    {
        Directory.CreateDirectory(directory);
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var tensors = new List<KeyValuePair<string, Tensor>>();
        foreach (var (name, p) in model.NamedParameters().Concat(model.NamedBuffers()))
        {
            if (seen.Add(p))
            {
                tensors.Add(new(name, p));
            }
        }
        TensorFile.Save(Path.Combine(directory, "model.safetensors"), tensors, TensorFile.PyTorchMetadata);
        if (configJsonPath is not null)
        {
            File.Copy(configJsonPath, Path.Combine(directory, "config.json"), overwrite: true);
        }
    }
}
