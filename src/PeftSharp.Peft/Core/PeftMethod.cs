using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Core;

/// <summary>
/// One fine-tuning method: how its configuration is read, which modules it can adapt, and how it wraps a
/// module and adds an adapter to a wrapped module. Registered once in <see cref="PeftMethods.All"/>.
/// </summary>
public abstract class PeftMethod
{
    /// <summary>The peft_type written in adapter_config.json ("LORA").</summary>
    public abstract string PeftType { get; }

    /// <summary>Reads this method's configuration (unknown fields preserved).</summary>
    public abstract AdapterConfig ReadConfig(JsonObject json);

    /// <summary>True when a module of this type can carry this method's adapter.</summary>
    public abstract bool CanAdapt(Module module);

    /// <summary>Wraps a base module in this method's adapter layer (no adapter added yet).</summary>
    public abstract AdapterLayer Wrap(Module baseModule, AdapterSelection selection);

    /// <summary>
    /// Adds adapter <paramref name="name"/> to a layer made by <see cref="Wrap"/>. <paramref name="modulePath"/> is the
    /// module's dotted path in the base model (rank/alpha patterns match on it); <paramref name="rng"/> draws initial values.
    /// </summary>
    public abstract void AddAdapter(AdapterLayer layer, string name, AdapterConfig config, string modulePath, Rng rng);

    /// <summary>
    /// Adds adapter <paramref name="name"/> to every targeted layer (paths relative to the base model, in model order).
    /// The default adds it layer by layer; a method whose layers share tensors (<see cref="AdapterLayer.SharedTensors"/>)
    /// overrides this to create them once for all layers.
    /// </summary>
    public virtual void AddAdapter(IReadOnlyList<(string Path, AdapterLayer Layer)> layers, string name, AdapterConfig config, Rng rng)
    {
        foreach (var (path, layer) in layers)
        {
            AddAdapter(layer, name, config, path, rng);
        }
    }

    /// <summary>
    /// Base-model parameter names, relative to the adapted module, that Hugging Face writes into the adapter
    /// file for this configuration besides the adapter's own tensors (e.g. "base_layer.weight" of an adapted
    /// embedding). Loading accepts but does not require them.
    /// </summary>
    public virtual IEnumerable<string> ExtraSavedBaseParameters(AdapterConfig config, string modulePath, AdapterLayer layer) => [];

    /// <summary>
    /// Training-time behaviour of trainable adapter <paramref name="adapter"/> of <paramref name="model"/> beyond the
    /// forward pass (an extra loss term, work after each optimizer step), or null when the method has none.
    /// </summary>
    public virtual IAdapterTrainingHooks? CreateTrainingHooks(PeftModel model, string adapter) => null;

    /// <summary>Which bias parameters the adapter trains and saves: "none", "all" or "lora_only".</summary>
    public virtual string BiasMode(AdapterConfig config) => "none";
}

/// <summary>The method registry: an explicit list, one line per method, checked for unique peft_type names.</summary>
public static class PeftMethods
{
    /// <summary>Every supported method.</summary>
    public static IReadOnlyList<PeftMethod> All { get; } = Check(
    [
        Methods.Lora.LoraMethod.Instance,
        Methods.Ia3.Ia3Method.Instance,
        Methods.PromptTuning.PromptTuningMethod.Instance,
        Methods.PrefixTuning.PrefixTuningMethod.Instance,
        Methods.PTuning.PTuningMethod.Instance,
        Methods.LoHa.LoHaMethod.Instance,
        Methods.LoKr.LoKrMethod.Instance,
        Methods.Vera.VeraMethod.Instance,
        Methods.FourierFT.FourierFTMethod.Instance,
        Methods.VbLora.VbLoraMethod.Instance,
        Methods.LnTuning.LnTuningMethod.Instance,
        Methods.Oft.OftMethod.Instance,
        Methods.Boft.BoftMethod.Instance,
        Methods.Hra.HraMethod.Instance,
        Methods.Bone.BoneMethod.Instance,
        Methods.AdaLora.AdaLoraMethod.Instance,
    ]);

    /// <summary>The method with this peft_type (case-insensitive), or null.</summary>
    public static PeftMethod? Find(string peftType) =>
        All.FirstOrDefault(m => string.Equals(m.PeftType, peftType, StringComparison.OrdinalIgnoreCase));

    private static PeftMethod[] Check(PeftMethod[] methods)
    {
        var dup = methods.GroupBy(m => m.PeftType, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
        {
            throw new InvalidOperationException($"peft_type \"{dup.Key}\" is registered twice.");
        }
        return methods;
    }
}
