using PeftSharp.Nn;
using PeftSharp.Tensors;

namespace PeftSharp.Models.Gpt2;

// GPT-2, read top to bottom. Shapes: B batch, T new tokens, P cached, S = P + T, C = n_embd, H heads, D = C / H.
// Keys: transformer.wte.weight, transformer.wpe.weight, transformer.h.N.ln_1.{weight,bias},
// transformer.h.N.attn.c_attn.{weight,bias} (Conv1D, weight (C, 3C)), transformer.h.N.attn.c_proj.*,
// transformer.h.N.ln_2.*, transformer.h.N.mlp.c_fc.*, transformer.h.N.mlp.c_proj.*, transformer.ln_f.*;
// lm_head.weight is tied to transformer.wte.weight and not stored.

/// <summary>Typed view of a GPT-2 config.json.</summary>
public sealed record Gpt2Config(int VocabSize, int Positions, int Embd, int Layers, int Heads, int Inner, float Eps, string Act,
    bool ScaleAttnWeights, bool ScaleByInverseLayerIdx)
{
    public static Gpt2Config From(HfConfig c)
    {
        int embd = c.GetInt("n_embd");
        int heads = c.GetInt("n_head");
        if (heads <= 0 || embd % heads != 0)
        {
            throw new InvalidDataException($"{c.Source}: n_embd ({embd}) must be a positive multiple of n_head ({heads}).");
        }
        // reorder_and_upcast_attn only changes half-precision arithmetic; compute here is float32, so it is ignored.
        return new Gpt2Config(c.GetInt("vocab_size"), c.GetInt("n_positions"), embd, c.GetInt("n_layer"), heads,
            c.GetIntOrNull("n_inner") ?? 4 * embd, c.GetFloat("layer_norm_epsilon", 1e-5f), c.GetString("activation_function") ?? "gelu_new",
            c.GetBool("scale_attn_weights", true), c.GetBool("scale_attn_by_inverse_layer_idx", false));
    }
}

/// <summary>GPT2LMHeadModel.</summary>
public sealed class Gpt2LMHeadModel : CausalLanguageModel
{
    public Gpt2LMHeadModel(HfConfig config, Rng? init = null) : base(config)
    {
        Settings = Gpt2Config.From(config);
        var rng = init ?? new Rng(0);
        Transformer = RegisterModule("transformer", new Gpt2Model(Settings, rng));
        var head = RegisterModule("lm_head", new Linear(Settings.Embd, Settings.VocabSize, bias: false, rng));
        head.SetParameter(Linear.WeightName, Transformer.Wte.Weight);
    }

    public Gpt2Config Settings { get; }

    public Gpt2Model Transformer { get; }

    public override string ArchitectureName => "GPT2LMHeadModel";

    public override IReadOnlyDictionary<string, string> TiedWeights { get; } =
        new Dictionary<string, string> { ["lm_head.weight"] = "transformer.wte.weight" };

    public override IReadOnlyList<string> OutputHeads => ["lm_head"];

    public override int VocabSize => Settings.VocabSize;

    public override int HiddenSize => Settings.Embd;

    public override int NumLayers => Settings.Layers;

    public override (int KvHeads, int HeadDim) KvShape => (Settings.Heads, Settings.Embd / Settings.Heads);

    public override Embedding InputEmbeddings => Transformer.Wte;

    public override ModelOutput Forward(ModelInput input)
    {
        input = WithPrompt(input);
        var hidden = Transformer.Forward(input);                // (B, T, C)
        var logits = Child("lm_head").Forward(HeadInput(hidden, input)); // (B, T, V), or (B, 1, V)
        return new ModelOutput(logits, input.Labels is { } l ? ShiftedLoss(logits, l) : null);
    }
}

/// <summary>The GPT-2 body (key prefix "transformer.").</summary>
public sealed class Gpt2Model : Module
{
    private readonly Gpt2Config _cfg;

    public Gpt2Model(Gpt2Config cfg, Rng rng)
    {
        _cfg = cfg;
        RegisterModule("wte", new Embedding(cfg.VocabSize, cfg.Embd, rng));
        RegisterModule("wpe", new Embedding(cfg.Positions, cfg.Embd, rng));
        RegisterModule("h", new ModuleList(Enumerable.Range(0, cfg.Layers).Select(i => (Module)new Gpt2Block(cfg, i, rng))));
        RegisterModule("ln_f", new LayerNorm(cfg.Embd, cfg.Eps));
    }

    public Embedding Wte => (Embedding)Child("wte");

    public Tensor Forward(ModelInput input)
    {
        var (b, t) = input.Size();
        int past = input.Cache?.Length ?? 0;
        var positions = CausalLanguageModel.Positions(b, t, past, input.PositionIds);
        if (positions.Any(p => p < 0 || p >= _cfg.Positions))
        {
            throw new ArgumentException($"GPT-2 supports positions 0..{_cfg.Positions - 1}; the input reaches position {positions.Max()}.");
        }
        var h = (input.InputsEmbeds ?? Child("wte").Forward(input.InputIds!))
            .Add(Child("wpe").Forward(Tensor.FromInts(positions, b, t)));  // (B, T, C)
        var mask = CausalLanguageModel.KeyPadding(b, t, past, input.AttentionMask);         // (B, S) or null
        var blocks = (ModuleList)Child("h");
        var mark = CausalLanguageModel.LayerReleaseMark(input.Cache);
        for (int i = 0; i < blocks.Count; i++)
        {
            h = ((Gpt2Block)blocks[i]).Forward(h, mask, input.Cache, i);
            TensorScope.ReleaseSince(mark, h); // no-grad only: keep one block's intermediates at a time
        }
        return Child("ln_f").Forward(h);
    }
}

/// <summary>Pre-norm block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).</summary>
public sealed class Gpt2Block : Module
{
    public Gpt2Block(Gpt2Config cfg, int index, Rng rng)
    {
        RegisterModule("ln_1", new LayerNorm(cfg.Embd, cfg.Eps));
        RegisterModule("attn", new Gpt2Attention(cfg, index, rng));
        RegisterModule("ln_2", new LayerNorm(cfg.Embd, cfg.Eps));
        RegisterModule("mlp", new Gpt2Mlp(cfg, rng));
    }

    public Tensor Forward(Tensor h, Tensor? mask, KvCache? cache, int layer)
    {
        h = h.Add(((Gpt2Attention)Child("attn")).Forward(Child("ln_1").Forward(h), mask, cache, layer));
        return h.Add(Child("mlp").Forward(Child("ln_2").Forward(h)));
    }
}

/// <summary>Fused q/k/v projection (c_attn), causal attention, output projection (c_proj).</summary>
public sealed class Gpt2Attention : Module
{
    private readonly Gpt2Config _cfg;
    private readonly float _scale;

    public Gpt2Attention(Gpt2Config cfg, int index, Rng rng)
    {
        _cfg = cfg;
        int d = cfg.Embd / cfg.Heads;
        float s = cfg.ScaleAttnWeights ? 1f / MathF.Sqrt(d) : 1f;
        _scale = cfg.ScaleByInverseLayerIdx ? s / (index + 1) : s;
        RegisterModule("c_attn", new Conv1D(cfg.Embd, 3 * cfg.Embd, rng));
        RegisterModule("c_proj", new Conv1D(cfg.Embd, cfg.Embd, rng));
    }

    public Tensor Forward(Tensor x, Tensor? mask, KvCache? cache, int layer)
    {
        int b = x.Dim(0), t = x.Dim(1), c = _cfg.Embd, h = _cfg.Heads, d = c / h;
        var qkv = Child("c_attn").Forward(x);                                   // (B, T, 3C)
        var q = qkv.Narrow(2, 0, c).Reshape(b, t, h, d).Transpose(1, 2);        // (B, H, T, D)
        var k = qkv.Narrow(2, c, c).Reshape(b, t, h, d).Transpose(1, 2);
        var v = qkv.Narrow(2, 2 * c, c).Reshape(b, t, h, d).Transpose(1, 2);
        if (cache is not null)
        {
            (k, v) = cache.Append(layer, k, v);
        }
        var y = Tensor.Attention(q, k, v, causal: true, keyPadding: mask, scale: _scale); // (B, H, T, D)
        return Child("c_proj").Forward(y.Transpose(1, 2).Reshape(b, t, c));
    }
}

/// <summary>c_proj(act(c_fc(x))).</summary>
public sealed class Gpt2Mlp : Module
{
    private readonly string _act;

    public Gpt2Mlp(Gpt2Config cfg, Rng rng)
    {
        _act = cfg.Act;
        RegisterModule("c_fc", new Conv1D(cfg.Embd, cfg.Inner, rng));
        RegisterModule("c_proj", new Conv1D(cfg.Inner, cfg.Embd, rng));
        _ = Activations.Apply(_act, Tensor.Zeros(1));
    }

    public override Tensor Forward(Tensor x) => Child("c_proj").Forward(Activations.Apply(_act, Child("c_fc").Forward(x)));
}
