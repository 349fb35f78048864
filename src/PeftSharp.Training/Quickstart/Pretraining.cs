using PeftSharp.Models;
using PeftSharp.Models.Llama;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;
using PeftSharp.Text.Tokenization;
using PeftSharp.Training.Checkpoints;
using PeftSharp.Training.Data;
using PeftSharp.Training.Optimizers;
using PeftSharp.Training.Schedules;

namespace PeftSharp.Training.Quickstart;

/// <summary>Settings of the quickstart base model's pretraining (the defaults are the recipe that produced the shipped model).</summary>
public sealed record PretrainOptions
{
    public ulong Seed { get; init; } = 20261122;
    public int Stories { get; init; } = 60_000;
    public int SequenceLength { get; init; } = 64;
    public int BatchSize { get; init; } = 32;
    public long Steps { get; init; } = 1500;
    public double LearningRate { get; init; } = 1e-3;
    public long WarmupSteps { get; init; } = 100;
    public double WeightDecay { get; init; } = 0.1;
    public int Hidden { get; init; } = 128;
    public int Layers { get; init; } = 4;
    public int Heads { get; init; } = 4;
    public int KvHeads { get; init; } = 2;
    public int Intermediate { get; init; } = 384;
}

/// <summary>
/// The reproducible recipe for the embedded quickstart model: generate the corpus of <see cref="SyntheticWorld"/>,
/// tokenize it with <see cref="TinyTokenizer"/>, and train a small Llama from scratch with AdamW on packed rows.
/// </summary>
public static class Pretraining
{
    /// <summary>The model's config.json (a Llama with grouped-query attention and tied embeddings).</summary>
    public static HfConfig Config(PretrainOptions o) => HfConfig.Parse($$"""
        {
          "architectures": ["LlamaForCausalLM"],
          "model_type": "llama",
          "vocab_size": {{TinyTokenizer.VocabSize}},
          "hidden_size": {{o.Hidden}},
          "intermediate_size": {{o.Intermediate}},
          "num_hidden_layers": {{o.Layers}},
          "num_attention_heads": {{o.Heads}},
          "num_key_value_heads": {{o.KvHeads}},
          "max_position_embeddings": 128,
          "rms_norm_eps": 1e-05,
          "rope_theta": 10000.0,
          "hidden_act": "silu",
          "tie_word_embeddings": true,
          "attention_bias": false,
          "mlp_bias": false,
          "attention_dropout": 0.0,
          "pretraining_tp": 1,
          "rope_scaling": null,
          "use_cache": true,
          "bos_token_id": {{TinyTokenizer.BosId}},
          "eos_token_id": {{TinyTokenizer.EosId}},
          "pad_token_id": {{TinyTokenizer.PadId}},
          "initializer_range": 0.02,
          "torch_dtype": "float32",
          "transformers_version": "4.44.2"
        }
        """, "quickstart config");

    /// <summary>A new model with transformers' Llama initialisation (normal(0, 0.02) weights, unit norms).</summary>
    public static LlamaForCausalLM NewModel(PretrainOptions o)
    {
        var model = new LlamaForCausalLM(Config(o), new Rng(o.Seed));
        var rng = new Rng(o.Seed + 1);
        foreach (var (name, p) in model.NamedParameters().ToArray())
        {
            if (p.Rank == 2 && name != "lm_head.weight")
            {
                Tensor.Normal(p.Shape.ToArray(), 0f, 0.02f, rng).CopyTo(p.Span);
            }
        }
        return model;
    }

    /// <summary>The corpus as one token stream: each story followed by &lt;/s&gt;.</summary>
    public static int[] TokenStream(Tokenizer tokenizer, PretrainOptions o)
    {
        var ids = new List<int>();
        foreach (var story in SyntheticWorld.Corpus(o.Seed, o.Stories))
        {
            ids.AddRange(tokenizer.Encode(story, addSpecialTokens: false).Ids);
            ids.Add(TinyTokenizer.EosId);
        }
        return ids.ToArray();
    }

    /// <summary>
    /// Trains the model and writes config.json, model.safetensors, tokenizer.json and tokenizer_config.json to
    /// <paramref name="outputDirectory"/>; checkpoints go to its "checkpoints" sub-folder (so a run can resume).
    /// </summary>
    public static TrainingResult Run(string outputDirectory, PretrainOptions o, IProgress<TrainingEvent>? progress = null, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(outputDirectory);
        TinyTokenizer.Save(outputDirectory);
        var tokenizer = Tokenizer.FromDirectory(outputDirectory);
        var stream = TokenStream(tokenizer, o);
        int rowLen = o.SequenceLength;
        int rows = stream.Length / rowLen;
        var model = NewModel(o);
        var source = new PackedRows(stream, rows, rowLen, o.BatchSize, o.Seed);
        var heldOut = new PackedRows(TokenStream(tokenizer, o with { Seed = o.Seed + 7, Stories = 400 }), 0, rowLen, o.BatchSize, o.Seed);
        var named = model.NamedParameters().Where(p => p.Name != "lm_head.weight").ToArray();
        var optimizer = new AdamW(ParameterGroups.SplitWeightDecay(named, o.WeightDecay), o.LearningRate, 0.9, 0.95);
        var scheduler = new LrScheduler(optimizer, LearningRateSchedule.Cosine(o.WarmupSteps, o.Steps));
        var task = new TrainingTask<TokenRows>
        {
            ComputeLoss = batch => model.Forward(new ModelInput { InputIds = batch.Ids, Labels = batch.Ids }).Loss!,
            CountTokens = batch => batch.Ids.Numel,
            Evaluate = ct =>
            {
                double sum = 0;
                int n = 0;
                foreach (var batch in heldOut.All())
                {
                    ct.ThrowIfCancellationRequested();
                    sum += model.Forward(new ModelInput { InputIds = batch.Ids, Labels = batch.Ids }).Loss!.Item();
                    n++;
                }
                return new EvaluationResult(sum / Math.Max(n, 1));
            },
        };
        var trainer = new Trainer<TokenRows>(task, source, optimizer, scheduler, new TrainerOptions
        {
            MaxSteps = o.Steps,
            MaxGradNorm = 1.0,
            EvalEvery = Math.Max(o.Steps / 10, 1),
            CheckpointEvery = Math.Max(o.Steps / 5, 1),
            KeepCheckpoints = 1,
            OutputDirectory = Path.Combine(outputDirectory, "checkpoints"),
        }, model, progress: progress);
        var checkpoints = Path.Combine(outputDirectory, "checkpoints");
        var resume = Directory.Exists(checkpoints) && new CheckpointManager(checkpoints).FindLatest() is not null ? checkpoints : null;
        var result = trainer.Run(resume, cancellationToken);
        if (result.StopReason == StopReason.Completed)
        {
            AutoModel.SavePretrained(model, outputDirectory);
        }
        return result;
    }
}

/// <summary>A batch of packed token rows (B, T); labels equal the ids (the model shifts them).</summary>
public sealed record TokenRows(Tensor Ids);

/// <summary>Fixed-length rows cut from a token stream, shuffled per epoch from a seed (resumable by position).</summary>
internal sealed class PackedRows : IBatchSource<TokenRows>
{
    private readonly int[] _stream;
    private readonly int _rowLen;
    private readonly int _batch;
    private readonly EpochSampler _sampler;

    public PackedRows(int[] stream, int rows, int rowLen, int batch, ulong seed)
    {
        _stream = stream;
        rows = rows > 0 ? rows : stream.Length / rowLen;
        _rowLen = rowLen;
        _batch = batch;
        if (rows < batch)
        {
            throw new ArgumentException($"The corpus gives {rows} rows of {rowLen} tokens, fewer than one batch of {batch}.");
        }
        _sampler = QuickstartShuffle.Sampler(rows, batch, epoch => unchecked((int)(seed ^ (ulong)epoch * 0x9E3779B97F4A7C15UL)));
    }

    public DataPosition Position
    {
        get => _sampler.Position;
        set => _sampler.Position = value;
    }

    private long BatchesPerEpoch => _sampler.BatchesPerEpoch;

    public TokenRows Next()
    {
        var rows = _sampler.Next();
        var ids = new int[_batch * _rowLen];
        for (int i = 0; i < _batch; i++)
        {
            Array.Copy(_stream, rows[i] * _rowLen, ids, i * _rowLen, _rowLen);
        }
        return new TokenRows(Tensor.FromInts(ids, _batch, _rowLen));
    }

    /// <summary>Every full batch in stream order (evaluation).</summary>
    public IEnumerable<TokenRows> All()
    {
        for (long b = 0; b < BatchesPerEpoch; b++)
        {
            var ids = new int[_batch * _rowLen];
            Array.Copy(_stream, b * _batch * _rowLen, ids, 0, ids.Length);
            yield return new TokenRows(Tensor.FromInts(ids, _batch, _rowLen));
        }
    }
}
