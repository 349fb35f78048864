using PeftSharp.Nn;
using PeftSharp.Tensors;

namespace PeftSharp.Models.Bert;

// BERT encoder, read top to bottom. Shapes: B batch, T tokens, C hidden, H heads, D = C / H, L labels.
// Keys (BertModel; BertForSequenceClassification prefixes "bert." and adds classifier.*):
// embeddings.{word,position,token_type}_embeddings.weight, embeddings.LayerNorm.{weight,bias},
// encoder.layer.N.attention.self.{query,key,value}.*, encoder.layer.N.attention.output.{dense,LayerNorm}.*,
// encoder.layer.N.intermediate.dense.*, encoder.layer.N.output.{dense,LayerNorm}.*, pooler.dense.*.

/// <summary>Typed view of a BERT config.json.</summary>
public sealed record BertConfig(int VocabSize, int Hidden, int Layers, int Heads, int Intermediate, int MaxPositions, int TypeVocab,
    float Eps, string Act, int NumLabels, string? ProblemType)
{
    public static BertConfig From(HfConfig c)
    {
        int hidden = c.GetInt("hidden_size");
        int heads = c.GetInt("num_attention_heads");
        if (heads <= 0 || hidden % heads != 0)
        {
            throw new InvalidDataException($"{c.Source}: hidden_size ({hidden}) must be a positive multiple of num_attention_heads ({heads}).");
        }
        var pos = c.GetString("position_embedding_type") ?? "absolute";
        if (pos != "absolute")
        {
            throw new NotSupportedException($"{c.Source}: position_embedding_type \"{pos}\" is not supported; supported: absolute.");
        }
        int labels = c.GetIntOrNull("num_labels") ?? (c.Json["id2label"] is System.Text.Json.Nodes.JsonObject o ? o.Count : 2);
        return new BertConfig(c.GetInt("vocab_size"), hidden, c.GetInt("num_hidden_layers"), heads, c.GetInt("intermediate_size"),
            c.GetInt("max_position_embeddings"), c.GetInt("type_vocab_size", 2), c.GetFloat("layer_norm_eps", 1e-12f),
            c.GetString("hidden_act") ?? "gelu", labels, c.GetString("problem_type"));
    }
}

/// <summary>The bare encoder with pooler (BertModel).</summary>
public sealed class BertModel : PretrainedModel
{
    private readonly BertConfig _cfg;

    public BertModel(HfConfig config, Rng? init = null) : base(config)
    {
        _cfg = BertConfig.From(config);
        var rng = init ?? new Rng(0);
        RegisterModule("embeddings", new BertEmbeddings(_cfg, rng));
        RegisterModule("encoder", new BertEncoder(_cfg, rng));
        RegisterModule("pooler", new BertPooler(_cfg, rng));
    }

    public BertConfig Settings => _cfg;

    public override string ArchitectureName => "BertModel";

    /// <summary>Sequence output (B, T, C) and pooled first-token output (B, C).</summary>
    public (Tensor Sequence, Tensor Pooled) Encode(ModelInput input)
    {
        var (b, t) = input.Size();
        var h = ((BertEmbeddings)Child("embeddings")).Forward(input, b, t);      // (B, T, C)
        Tensor? mask = null;
        if (input.AttentionMask is { } am)
        {
            if (am.Rank != 2 || am.Dim(0) != b || am.Dim(1) != t)
            {
                throw new ArgumentException($"attention_mask {Shapes.Format(am.Shape)} must be (batch, length) = [{b}, {t}].");
            }
            mask = am;                                                             // (B, T): 0 = padding key
        }
        h = ((BertEncoder)Child("encoder")).Forward(h, mask);
        var pooled = Child("pooler").Forward(h.Select(1, 0));                     // (B, C)
        return (h, pooled);
    }

    public override ModelOutput Forward(ModelInput input) => new(Encode(input).Sequence, null);
}

/// <summary>BertForSequenceClassification: pooled output → dropout → classifier (L labels).</summary>
public sealed class BertForSequenceClassification : PretrainedModel
{
    public BertForSequenceClassification(HfConfig config, Rng? init = null) : base(config)
    {
        var rng = init ?? new Rng(0);
        var bert = RegisterModule("bert", new BertModel(config, rng));
        RegisterModule("classifier", new Linear(bert.Settings.Hidden, bert.Settings.NumLabels, bias: true, rng));
    }

    public override string ArchitectureName => "BertForSequenceClassification";

    public override IReadOnlyList<string> OutputHeads => ["classifier"];

    public int NumLabels => ((BertModel)Child("bert")).Settings.NumLabels;

    public override ModelOutput Forward(ModelInput input)
    {
        var (_, pooled) = ((BertModel)Child("bert")).Encode(input);
        var logits = Child("classifier").Forward(pooled);                         // (B, L)
        Tensor? loss = null;
        if (input.Labels is { } labels)
        {
            if (NumLabels == 1 || ((BertModel)Child("bert")).Settings.ProblemType == "regression")
            {
                var diff = logits.Reshape(-1).Sub(labels.DType == DType.F32 ? labels.Reshape(-1) : labels.ToFloat32Labels());
                loss = diff.Mul(diff).Mean();
            }
            else
            {
                loss = Tensor.CrossEntropy(logits, labels.Reshape(-1));
            }
        }
        return new ModelOutput(logits, loss);
    }
}

internal static class LabelExtensions
{
    public static Tensor ToFloat32Labels(this Tensor labels) => Tensor.FromArray(labels.ToIntArray().Select(v => (float)v).ToArray(), labels.Numel);
}

/// <summary>word + position + token-type embeddings, then LayerNorm.</summary>
public sealed class BertEmbeddings : Module
{
    public BertEmbeddings(BertConfig cfg, Rng rng)
    {
        RegisterModule("word_embeddings", new Embedding(cfg.VocabSize, cfg.Hidden, rng));
        RegisterModule("position_embeddings", new Embedding(cfg.MaxPositions, cfg.Hidden, rng));
        RegisterModule("token_type_embeddings", new Embedding(cfg.TypeVocab, cfg.Hidden, rng));
        RegisterModule("LayerNorm", new LayerNorm(cfg.Hidden, cfg.Eps));
        MaxPositions = cfg.MaxPositions;
    }

    private int MaxPositions { get; }

    public Tensor Forward(ModelInput input, int b, int t)
    {
        if (t > MaxPositions)
        {
            throw new ArgumentException($"BERT supports at most {MaxPositions} tokens; got {t}.");
        }
        var words = input.InputsEmbeds ?? Child("word_embeddings").Forward(input.InputIds!);
        var positions = CausalLanguageModel.Positions(b, t, 0, input.PositionIds);
        var types = input.TokenTypeIds ?? Tensor.FromInts(new int[b * t], b, t);
        var h = words.Add(Child("position_embeddings").Forward(Tensor.FromInts(positions, b, t)))
            .Add(Child("token_type_embeddings").Forward(types));
        return Child("LayerNorm").Forward(h);
    }
}

/// <summary>The stack of encoder layers ("encoder.layer.N").</summary>
public sealed class BertEncoder : Module
{
    public BertEncoder(BertConfig cfg, Rng rng)
    {
        RegisterModule("layer", new ModuleList(Enumerable.Range(0, cfg.Layers).Select(_ => (Module)new BertLayer(cfg, rng))));
    }

    public Tensor Forward(Tensor h, Tensor? mask)
    {
        var layers = (ModuleList)Child("layer");
        var mark = TensorScope.Mark();
        for (int i = 0; i < layers.Count; i++)
        {
            h = ((BertLayer)layers[i]).Forward(h, mask);
            TensorScope.ReleaseSince(mark, h); // no-grad only: keep one layer's intermediates at a time
        }
        return h;
    }
}

/// <summary>Post-norm layer: LN(x + attn(x)), then LN(h + dense(act(dense(h)))).</summary>
public sealed class BertLayer : Module
{
    private readonly BertConfig _cfg;

    public BertLayer(BertConfig cfg, Rng rng)
    {
        _cfg = cfg;
        RegisterModule("attention", new BertAttention(cfg, rng));
        RegisterModule("intermediate", new DenseBlock(cfg.Hidden, cfg.Intermediate, rng, withNorm: false, cfg.Eps));
        RegisterModule("output", new DenseBlock(cfg.Intermediate, cfg.Hidden, rng, withNorm: true, cfg.Eps));
    }

    public Tensor Forward(Tensor h, Tensor? mask)
    {
        var a = ((BertAttention)Child("attention")).Forward(h, mask);
        var mid = Activations.Apply(_cfg.Act, ((DenseBlock)Child("intermediate")).Dense(a));
        return ((DenseBlock)Child("output")).Residual(mid, a);
    }
}

/// <summary>"attention": self (query/key/value) + output (dense, LayerNorm with residual).</summary>
public sealed class BertAttention : Module
{
    public BertAttention(BertConfig cfg, Rng rng)
    {
        RegisterModule("self", new BertSelfAttention(cfg, rng));
        RegisterModule("output", new DenseBlock(cfg.Hidden, cfg.Hidden, rng, withNorm: true, cfg.Eps));
    }

    public Tensor Forward(Tensor h, Tensor? mask) =>
        ((DenseBlock)Child("output")).Residual(((BertSelfAttention)Child("self")).Forward(h, mask), h);
}

/// <summary>Bidirectional multi-head attention.</summary>
public sealed class BertSelfAttention : Module
{
    private readonly int _heads;

    public BertSelfAttention(BertConfig cfg, Rng rng)
    {
        _heads = cfg.Heads;
        RegisterModule("query", new Linear(cfg.Hidden, cfg.Hidden, true, rng));
        RegisterModule("key", new Linear(cfg.Hidden, cfg.Hidden, true, rng));
        RegisterModule("value", new Linear(cfg.Hidden, cfg.Hidden, true, rng));
    }

    public Tensor Forward(Tensor x, Tensor? mask)
    {
        int b = x.Dim(0), t = x.Dim(1), c = x.Dim(2), d = c / _heads;
        var q = Child("query").Forward(x).Reshape(b, t, _heads, d).Transpose(1, 2); // (B, H, T, D)
        var k = Child("key").Forward(x).Reshape(b, t, _heads, d).Transpose(1, 2);
        var v = Child("value").Forward(x).Reshape(b, t, _heads, d).Transpose(1, 2);
        var y = Tensor.Attention(q, k, v, keyPadding: mask);
        return y.Transpose(1, 2).Reshape(b, t, c);
    }
}

/// <summary>A "dense" Linear, optionally followed by LayerNorm over (dense(x) + residual) (BertSelfOutput/BertOutput).</summary>
public sealed class DenseBlock : Module
{
    public DenseBlock(int inFeatures, int outFeatures, Rng rng, bool withNorm, float eps)
    {
        RegisterModule("dense", new Linear(inFeatures, outFeatures, true, rng));
        if (withNorm)
        {
            RegisterModule("LayerNorm", new LayerNorm(outFeatures, eps));
        }
    }

    public Tensor Dense(Tensor x) => Child("dense").Forward(x);

    public Tensor Residual(Tensor x, Tensor residual) => Child("LayerNorm").Forward(Dense(x).Add(residual));
}

/// <summary>tanh(dense(first token)).</summary>
public sealed class BertPooler : Module
{
    public BertPooler(BertConfig cfg, Rng rng)
    {
        RegisterModule("dense", new Linear(cfg.Hidden, cfg.Hidden, true, rng));
    }

    public override Tensor Forward(Tensor first) => Child("dense").Forward(first).Tanh();
}
