using PeftSharp.Nn;
using PeftSharp.Peft.Formats;
using PeftSharp.Peft.Methods.PromptLearning;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Peft.Core;

// Prompt learning on PeftModel: the encoders live under "prompt_encoder.<adapter>" (Hugging Face's parameter names,
// e.g. "prompt_encoder.default.embedding.weight"), the model is told where to get virtual tokens, and the adapter file
// holds one tensor, "prompt_embeddings".
public sealed partial class PeftModel
{
    /// <summary>The child holding one prompt encoder per prompt-learning adapter.</summary>
    public const string PromptEncoderName = "prompt_encoder";

    /// <summary>The single key of a prompt-learning adapter file.</summary>
    public const string PromptEmbeddingsKey = "prompt_embeddings";

    /// <summary>Set while <see cref="LoadAdapter"/> adds an adapter whose values come from a file.</summary>
    private bool _weightsFollow;

    /// <summary>The prompt encoder of adapter <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">The model has no prompt-learning adapter of that name.</exception>
    public PromptEncoder PromptEncoderOf(string name) =>
        HasChild(PromptEncoderName) && Child(PromptEncoderName).HasChild(name)
            ? (PromptEncoder)Child(PromptEncoderName).Child(name)
            : throw new KeyNotFoundException($"No prompt-learning adapter \"{name}\"; the model has [{string.Join(", ", _order)}].");

    private void AddPromptAdapter(string name, AdapterConfig config, PromptLearningMethod method)
    {
        if (Model is not IPromptLearningHost host)
        {
            throw new NotSupportedException($"{Model.GetType().Name} cannot carry {method.PeftType} adapters: prompt learning needs a model that accepts virtual tokens (a causal language model).");
        }
        var resolved = ((PromptLearningConfig)config).Resolve(host.PromptShape);
        var encoder = method.CreateEncoder(resolved, host, new Rng(_rng.NextUInt64()), _weightsFollow);
        if (!HasChild(PromptEncoderName))
        {
            RegisterModule(PromptEncoderName, new PromptEncoders());
        }
        encoder.Train(Training);
        Child(PromptEncoderName).AddChild(name, encoder);
        host.PromptSource = new Source(this);
        _method = method;
        _configs[name] = resolved;
        _order.Add(name);
        if (Selection.Active.Count == 0)
        {
            Selection.Active = [name];
        }
        UpdateTrainable();
    }

    /// <summary>Holds the encoders by adapter name (Hugging Face's ModuleDict).</summary>
    private sealed class PromptEncoders : Module
    {
    }

    private sealed class Source(PeftModel owner) : IPromptSource
    {
        public VirtualPrompt? For(int batch) => owner.CurrentPrompt(batch);
    }

    /// <summary>The active adapter's virtual tokens, or none when adapters are disabled.</summary>
    private VirtualPrompt? CurrentPrompt(int batch)
    {
        if (Selection.Disabled || _method is not PromptLearningMethod || Selection.Active.Count == 0)
        {
            return null;
        }
        if (Selection.RowAdapters is not null)
        {
            throw new NotSupportedException($"{_method.PeftType} adapters cannot be chosen per row; run one adapter per batch.");
        }
        if (Selection.Active.Count > 1)
        {
            throw new NotSupportedException($"Only one {_method.PeftType} adapter can be active at a time; active: [{string.Join(", ", Selection.Active)}].");
        }
        return PromptEncoderOf(Selection.Active[0]).Prompt(batch);
    }

    private void UpdatePromptTrainable()
    {
        if (!HasChild(PromptEncoderName))
        {
            return;
        }
        foreach (var (name, encoder) in Child(PromptEncoderName).Children())
        {
            bool trainable = IsTrainable(name);
            foreach (var (_, p) in encoder.NamedParameters())
            {
                p.RequiresGrad = trainable;
            }
        }
    }

    private void RemovePromptEncoder(string name)
    {
        if (!HasChild(PromptEncoderName))
        {
            return;
        }
        var encoders = Child(PromptEncoderName);
        encoders.RemoveChild(name);
        if (!encoders.Children().Any())
        {
            DetachPrompts();
        }
    }

    /// <summary>Removes every prompt encoder and stops the model from asking for virtual tokens.</summary>
    private void DetachPrompts()
    {
        if (!HasChild(PromptEncoderName))
        {
            return;
        }
        RemoveChild(PromptEncoderName);
        if (Model is IPromptLearningHost host)
        {
            host.PromptSource = null;
        }
    }

    private void RejectPromptMerge()
    {
        if (_method is PromptLearningMethod m)
        {
            throw new NotSupportedException($"{m.PeftType} adapters cannot be merged: they add virtual tokens to the input rather than changing weights. Use Unload() to get the base model back.");
        }
    }

    /// <summary>
    /// The one file entry of a prompt-learning adapter: saved as the encoder's output (the table itself without a network),
    /// loaded into the table, as PEFT does.
    /// </summary>
    internal AdapterFiles.Entry? PromptEntry(string adapter)
    {
        if (_method is not PromptLearningMethod method)
        {
            return null;
        }
        var encoder = PromptEncoderOf(adapter);
        Tensor saved;
        using (GradMode.NoGrad())
        {
            saved = encoder.HasNetwork ? encoder.Output().Contiguous().Detach() : encoder.Embedding.Weight;
        }
        return new AdapterFiles.Entry(PromptEmbeddingsKey, saved, false, values =>
        {
            var table = encoder.Embedding.Weight;
            if (values.Length != table.Numel)
            {
                throw new AdapterLoadException($"{PromptEmbeddingsKey} holds the encoder output {Shapes.Format(saved.Shape)}, which does not fit the trainable {method.PeftType} table {Shapes.Format(table.Shape)}; load this adapter for inference instead.");
            }
            values.CopyTo(table.Span);
        });
    }
}
