using PeftSharp.Nn;
using PeftSharp.Tensors;
using Kernels = PeftSharp.Tensors.Kernels;

namespace PeftSharp.Models.Llama;

// Llama / Mistral / Qwen2 decoder, read top to bottom. Shapes: B batch, T new tokens, P cached tokens,
// S = P + T keys, C hidden, H heads, Hkv key/value heads, D head dim, V vocab.
// Parameter names equal the Hugging Face checkpoint keys: model.embed_tokens.weight,
// model.layers.N.self_attn.{q,k,v,o}_proj.weight, model.layers.N.mlp.{gate,up,down}_proj.weight,
// model.layers.N.{input,post_attention}_layernorm.weight, model.norm.weight, lm_head.weight.

/// <summary>LlamaForCausalLM (also Mistral and Qwen2 checkpoints).</summary>
public sealed class LlamaForCausalLM : CausalLanguageModel
{
    public LlamaForCausalLM(HfConfig config, Rng? init = null) : base(config)
    {
        Settings = LlamaConfig.From(config);
        var rng = init ?? new Rng(0);
        Body = RegisterModule("model", new LlamaModel(Settings, rng));
        var head = RegisterModule("lm_head", new Linear(Settings.HiddenSize, Settings.VocabSize, bias: false, rng));
        if (Settings.TieWordEmbeddings)
        {
            head.SetParameter(Linear.WeightName, Body.EmbedTokens.Weight);
        }
    }

    public LlamaConfig Settings { get; }

    public LlamaModel Body { get; }

    public override string ArchitectureName => Config.Architecture ?? "LlamaForCausalLM";

    public override IReadOnlyDictionary<string, string> TiedWeights => Settings.TieWordEmbeddings
        ? new Dictionary<string, string> { ["lm_head.weight"] = "model.embed_tokens.weight" }
        : new Dictionary<string, string>();

    public override IReadOnlyList<string> OutputHeads => ["lm_head"];

    public override int VocabSize => Settings.VocabSize;

    public override int HiddenSize => Settings.HiddenSize;

    public override int NumLayers => Settings.NumLayers;

    public override (int KvHeads, int HeadDim) KvShape => (Settings.NumKvHeads, Settings.HeadDim);

    public override Embedding InputEmbeddings => Body.EmbedTokens;

    public override ModelOutput Forward(ModelInput input)
    {
        input = WithPrompt(input);
        var hidden = Body.Forward(input);                      // (B, T, C)
        var logits = Child("lm_head").Forward(HeadInput(hidden, input)); // (B, T, V), or (B, 1, V)
        var loss = input.Labels is { } labels ? ShiftedLoss(logits, labels) : null;
        return new ModelOutput(logits, loss);
    }
}

/// <summary>The decoder stack: embeddings, layers, final norm (Hugging Face's LlamaModel, key prefix "model.").</summary>
public sealed class LlamaModel : Module
{
    private readonly LlamaConfig _cfg;
    private readonly float[] _invFreq; // (D/2)
    private Kernels.RopeTable? _rope;

    public LlamaModel(LlamaConfig cfg, Rng rng)
    {
        _cfg = cfg;
        RegisterModule("embed_tokens", new Embedding(cfg.VocabSize, cfg.HiddenSize, rng));
        RegisterModule("layers", new ModuleList(Enumerable.Range(0, cfg.NumLayers).Select(_ => (Module)new LlamaDecoderLayer(cfg, rng))));
        RegisterModule("norm", new RmsNorm(cfg.HiddenSize, cfg.RmsNormEps));
        _invFreq = InverseFrequencies(cfg);
    }

    public Embedding EmbedTokens => (Embedding)Child("embed_tokens");

    public ModuleList Layers => (ModuleList)Child("layers");

    /// <summary>inv_freq[i] = 1 / θ^(2i/D) in float32 as transformers computes it, then any rope_scaling.</summary>
    public static float[] InverseFrequencies(LlamaConfig cfg)
    {
        int half = cfg.HeadDim / 2;
        var inv = new float[half];
        for (int i = 0; i < half; i++)
        {
            float exponent = (float)(2 * i) / cfg.HeadDim;
            inv[i] = 1f / MathF.Pow(cfg.RopeTheta, exponent);
        }
        cfg.RopeScaling?.Apply(inv);
        return inv;
    }

    public Tensor Forward(ModelInput input)
    {
        var (b, t) = input.Size();
        int past = input.Cache?.Length ?? 0;
        var h = input.InputsEmbeds ?? Child("embed_tokens").Forward(input.InputIds!);   // (B, T, C)
        var positions = CausalLanguageModel.Positions(b, t, past, input.PositionIds);
        var rope = RopeFor(positions);
        var posIds = Tensor.FromInts(positions, b, t);
        var mask = CausalLanguageModel.KeyPadding(b, t, past, input.AttentionMask);  // (B, S) or null
        var mark = CausalLanguageModel.LayerReleaseMark(input.Cache);
        for (int i = 0; i < Layers.Count; i++)
        {
            h = ((LlamaDecoderLayer)Layers[i]).Forward(h, posIds, rope, mask, input.Cache, i);
            TensorScope.ReleaseSince(mark, h); // no-grad only: keep one layer's intermediates at a time
        }
        return Child("norm").Forward(h);
    }

    /// <summary>The rotary table, grown (doubling) when a position beyond it appears.</summary>
    private Kernels.RopeTable RopeFor(int[] positions)
    {
        int max = positions.Length == 0 ? 0 : positions.Max();
        if (positions.Length > 0 && positions.Min() < 0)
        {
            throw new ArgumentException("Position ids must be non-negative.");
        }
        if (_rope is null || max >= _rope.MaxPositions)
        {
            int size = Math.Max(_cfg.MaxPositions, 1);
            while (size <= max)
            {
                size *= 2;
            }
            _rope = Kernels.RopeTable.Create(_invFreq, size);
        }
        return _rope;
    }
}

/// <summary>One pre-norm decoder block: attention and a gated MLP, each with a residual.</summary>
public sealed class LlamaDecoderLayer : Module
{
    public LlamaDecoderLayer(LlamaConfig cfg, Rng rng)
    {
        RegisterModule("self_attn", new LlamaAttention(cfg, rng));
        RegisterModule("mlp", new LlamaMlp(cfg, rng));
        RegisterModule("input_layernorm", new RmsNorm(cfg.HiddenSize, cfg.RmsNormEps));
        RegisterModule("post_attention_layernorm", new RmsNorm(cfg.HiddenSize, cfg.RmsNormEps));
    }

    public Tensor Forward(Tensor h, Tensor positions, Kernels.RopeTable rope, Tensor? mask, KvCache? cache, int layer)
    {
        var attn = ((LlamaAttention)Child("self_attn")).Forward(Child("input_layernorm").Forward(h), positions, rope, mask, cache, layer);
        h = h.Add(attn);
        return h.Add(Child("mlp").Forward(Child("post_attention_layernorm").Forward(h)));
    }
}

/// <summary>Multi-head attention with grouped-query key/value heads and rotary positions.</summary>
public sealed class LlamaAttention : Module
{
    private readonly LlamaConfig _cfg;

    public LlamaAttention(LlamaConfig cfg, Rng rng)
    {
        _cfg = cfg;
        int c = cfg.HiddenSize, d = cfg.HeadDim;
        RegisterModule("q_proj", new Linear(c, cfg.NumHeads * d, cfg.QkvBias, rng));
        RegisterModule("k_proj", new Linear(c, cfg.NumKvHeads * d, cfg.QkvBias, rng));
        RegisterModule("v_proj", new Linear(c, cfg.NumKvHeads * d, cfg.QkvBias, rng));
        RegisterModule("o_proj", new Linear(cfg.NumHeads * d, c, cfg.OutputBias, rng));
    }

    public Tensor Forward(Tensor x, Tensor positions, Kernels.RopeTable rope, Tensor? mask, KvCache? cache, int layer)
    {
        int b = x.Dim(0), t = x.Dim(1), d = _cfg.HeadDim;
        var q = Child("q_proj").Forward(x).Reshape(b, t, _cfg.NumHeads, d).Transpose(1, 2);   // (B, H, T, D)
        var k = Child("k_proj").Forward(x).Reshape(b, t, _cfg.NumKvHeads, d).Transpose(1, 2); // (B, Hkv, T, D)
        var v = Child("v_proj").Forward(x).Reshape(b, t, _cfg.NumKvHeads, d).Transpose(1, 2); // (B, Hkv, T, D)
        q = Tensor.Rope(q, positions, rope);                                                    // (B, H, T, D) laid out (B, T, H, D)
        k = Tensor.Rope(k, positions, rope);
        if (cache is not null)
        {
            (k, v) = cache.Append(layer, k, v);                                                // (B, Hkv, S, D)
        }
        var y = Tensor.Attention(q, k, v, causal: true, keyPadding: mask);                      // (B, H, T, D) laid out (B, T, H, D)
        return Child("o_proj").Forward(y.Transpose(1, 2).Reshape(b, t, _cfg.NumHeads * d));
    }
}

/// <summary>down_proj(act(gate_proj(x)) ⊙ up_proj(x)); SiLU uses the fused SwiGLU kernel.</summary>
public sealed class LlamaMlp : Module
{
    private readonly string _act;

    public LlamaMlp(LlamaConfig cfg, Rng rng)
    {
        _act = cfg.HiddenAct;
        RegisterModule("gate_proj", new Linear(cfg.HiddenSize, cfg.IntermediateSize, cfg.MlpBias, rng));
        RegisterModule("up_proj", new Linear(cfg.HiddenSize, cfg.IntermediateSize, cfg.MlpBias, rng));
        RegisterModule("down_proj", new Linear(cfg.IntermediateSize, cfg.HiddenSize, cfg.MlpBias, rng));
        _ = Activations.Apply(_act, Tensor.Zeros(1)); // validate the activation name early
    }

    public override Tensor Forward(Tensor x)
    {
        var gate = Child("gate_proj").Forward(x);
        var up = Child("up_proj").Forward(x);
        var mid = _act == "silu" ? Tensor.SwiGlu(gate, up) : Activations.Apply(_act, gate).Mul(up);
        return Child("down_proj").Forward(mid);
    }
}
