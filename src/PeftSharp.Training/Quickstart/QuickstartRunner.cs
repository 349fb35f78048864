using System.Diagnostics;
using PeftSharp.Models;
using PeftSharp.Models.Generation;
using PeftSharp.Peft;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.Lora;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;
using PeftSharp.Text.Tokenization;
using PeftSharp.Training.Data;
using PeftSharp.Training.Optimizers;
using PeftSharp.Training.Schedules;

namespace PeftSharp.Training.Quickstart;

/// <summary>Settings of <see cref="QuickstartRunner"/>. The defaults are the full demonstration; tests use fewer steps.</summary>
public sealed record QuickstartOptions
{
    /// <summary>The base model folder (config.json, model.safetensors, tokenizer.json).</summary>
    public required string BaseModel { get; init; }

    /// <summary>Where the adapter, metrics and samples go.</summary>
    public required string Output { get; init; }

    public long Steps { get; init; } = 300;
    public int BatchSize { get; init; } = 32;
    public int TrainExamples { get; init; } = 4000;
    public double LearningRate { get; init; } = 3e-3;
    public int Rank { get; init; } = 8;
    public double Alpha { get; init; } = 16;
    public ulong Seed { get; init; } = 7;
}

/// <summary>What the quickstart measured and wrote.</summary>
public sealed record QuickstartReport(
    double BaseAccuracy, double AdaptedAccuracy, double BaseAnswerLoss, double AdaptedAnswerLoss,
    string AdapterDirectory, string SamplePrompt, string SampleAnswer, string BaseSample, string AdaptedSample,
    TrainableReport Trainable, TrainingResult Training, TimeSpan Elapsed);

/// <summary>
/// The end-to-end demonstration: score the base model on the held-out question-answering task of
/// <see cref="SyntheticWorld"/> (which its pretraining corpus never shows), LoRA-fine-tune it, score it again on
/// unseen stories, save the adapter in the Hugging Face PEFT layout, and generate a sample with and without it.
/// </summary>
public static class QuickstartRunner
{
    public static QuickstartReport Run(QuickstartOptions o, IProgress<TrainingEvent>? progress = null, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        log ??= _ => { };
        var model = (CausalLanguageModel)AutoModel.FromPretrained(o.BaseModel);
        var tokenizer = Tokenizer.FromDirectory(o.BaseModel);
        var train = Encode(tokenizer, SyntheticWorld.Questions(o.Seed, o.TrainExamples));
        var test = Encode(tokenizer, SyntheticWorld.TestQuestions());
        log($"base model: {model.ArchitectureName}, {model.NamedParameters().Sum(p => (long)p.Parameter.Numel):N0} parameters ({Path.GetFullPath(o.BaseModel)})");
        log($"task: \"question : what kind of word is <word> ? answer :\" (name, animal, thing, place, color or feeling); {train.Count} training questions, {test.Count} test questions about words training never asks about");

        model.Eval();
        var (baseAcc, baseLoss) = Score(model, test);
        log($"base model on the held-out words: accuracy {baseAcc:P1}, answer loss {baseLoss:F3}");

        var config = new LoraConfig
        {
            R = o.Rank,
            LoraAlpha = o.Alpha,
            TargetModules = ModuleSelector.List("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
            TaskType = "CAUSAL_LM",
            BaseModelNameOrPath = Path.GetFullPath(o.BaseModel),
        };
        var peft = PeftModel.Create(model, config, options: new PeftModelOptions { Seed = o.Seed });
        var trainable = peft.GetTrainableReport();
        log(trainable.ToString());
        model.Train();

        var optimizer = new AdamW(peft.NamedTrainableParameters().ToArray(), o.LearningRate, weightDecay: 0.0);
        var scheduler = new LrScheduler(optimizer, LearningRateSchedule.Linear(Math.Min(20, o.Steps / 10), o.Steps));
        var source = new ExampleBatches(train, o.BatchSize, o.Seed);
        var task = new TrainingTask<ExampleBatch>
        {
            ComputeLoss = b => model.Forward(new ModelInput { InputIds = b.Ids, Labels = b.Labels }).Loss!,
            CountTokens = b => b.Ids.Numel,
            Evaluate = _ =>
            {
                var (acc, loss) = Score(model, test);
                return new EvaluationResult(loss, acc);
            },
        };
        var trainer = new Trainer<ExampleBatch>(task, source, optimizer, scheduler, new TrainerOptions
        {
            MaxSteps = o.Steps,
            MaxGradNorm = 1.0,
            EvalEvery = Math.Max(o.Steps / 3, 1),
            OutputDirectory = Path.Combine(o.Output, "training"),
            KeepCheckpoints = 1,
        }, model, progress: progress);
        var result = trainer.Run(cancellationToken: cancellationToken);

        model.Eval();
        var (acc, loss) = Score(model, test);
        log($"adapted model on the held-out words: accuracy {acc:P1}, answer loss {loss:F3}");
        var adapterDir = Path.Combine(o.Output, "adapter");
        peft.SavePretrained(adapterDir);
        log($"adapter saved to {Path.GetFullPath(adapterDir)}");

        var sample = SyntheticWorld.TestQuestions().First(q => q.Answer == "animal");
        string adapted = Greedy(model, tokenizer, sample.Prompt, 4);
        string plain;
        using (peft.DisableAdapters())
        {
            plain = Greedy(model, tokenizer, sample.Prompt, 4);
        }
        return new QuickstartReport(baseAcc, acc, baseLoss, loss, adapterDir, sample.Prompt, sample.Answer, plain, adapted, trainable, result, clock.Elapsed);
    }

    /// <summary>A tokenized example: prompt ids, then the answer and &lt;/s&gt;, with labels only on those.</summary>
    public sealed record Example(int[] Ids, int[] Labels, int PromptLength, int AnswerId);

    public static IReadOnlyList<Example> Encode(Tokenizer tokenizer, IEnumerable<SyntheticWorld.QaExample> examples) =>
        examples.Select(e =>
        {
            var prompt = tokenizer.Encode(e.Prompt, addSpecialTokens: false).Ids.ToArray();
            var answer = tokenizer.Encode(e.Answer, addSpecialTokens: false).Ids.ToArray();
            var ids = prompt.Concat(answer).Append(TinyTokenizer.EosId).ToArray();
            var labels = Enumerable.Repeat(-100, prompt.Length).Concat(answer).Append(TinyTokenizer.EosId).ToArray();
            return new Example(ids, labels, prompt.Length, answer[0]);
        }).ToArray();

    /// <summary>
    /// Exact-match accuracy of the greedy next token after each prompt, and the mean cross-entropy of the answer
    /// token. Prompts of equal length are scored together in one forward pass.
    /// </summary>
    public static (double Accuracy, double Loss) Score(CausalLanguageModel model, IReadOnlyList<Example> examples)
    {
        int correct = 0;
        double lossSum = 0;
        using var noGrad = GradMode.NoGrad();
        foreach (var group in examples.GroupBy(e => e.PromptLength))
        {
            foreach (var chunk in group.Chunk(64))
            {
                using var scope = TensorScope.Begin();
                int len = chunk[0].PromptLength;
                var ids = Tensor.FromInts(chunk.SelectMany(e => e.Ids.Take(len)).ToArray(), chunk.Length, len);
                var logits = model.Forward(new ModelInput { InputIds = ids }).Logits;       // (B, T, V)
                var last = logits.Select(1, len - 1).Contiguous();                         // (B, V)
                var logp = last.LogSoftmax().ToArray();
                int v = last.Dim(1);
                for (int i = 0; i < chunk.Length; i++)
                {
                    var row = logp.AsSpan(i * v, v);
                    int best = 0;
                    for (int j = 1; j < v; j++)
                    {
                        if (row[j] > row[best]) best = j;
                    }
                    correct += best == chunk[i].AnswerId ? 1 : 0;
                    lossSum -= row[chunk[i].AnswerId];
                }
            }
        }
        return ((double)correct / examples.Count, lossSum / examples.Count);
    }

    /// <summary>Greedy continuation of a prompt (a few tokens; stops at &lt;/s&gt;, which is not part of the text).</summary>
    public static string Greedy(CausalLanguageModel model, Tokenizer tokenizer, string prompt, int maxNewTokens)
    {
        var ids = tokenizer.Encode(prompt, addSpecialTokens: false).Ids.ToArray();
        var options = new GenerationOptions { MaxNewTokens = maxNewTokens, Greedy = true, EosTokenIds = [TinyTokenizer.EosId] };
        var tokens = Generator.Generate(model, [ids], options)[0].Tokens;
        return tokenizer.Decode(tokens.Where(t => t != TinyTokenizer.EosId));
    }
}

/// <summary>A padded batch of examples (right padding; labels −100 on padding).</summary>
public sealed record ExampleBatch(Tensor Ids, Tensor Labels);

internal sealed class ExampleBatches : IBatchSource<ExampleBatch>
{
    private readonly IReadOnlyList<QuickstartRunner.Example> _examples;
    private readonly int _batch;
    private readonly EpochSampler _sampler;

    public ExampleBatches(IReadOnlyList<QuickstartRunner.Example> examples, int batch, ulong seed)
    {
        if (examples.Count < batch)
        {
            throw new ArgumentException($"{examples.Count} examples are fewer than one batch of {batch}.");
        }
        _examples = examples;
        _batch = batch;
        _sampler = QuickstartShuffle.Sampler(examples.Count, batch, epoch => unchecked((int)(seed * 31 + (ulong)epoch)));
    }

    public Checkpoints.DataPosition Position
    {
        get => _sampler.Position;
        set => _sampler.Position = value;
    }

    public ExampleBatch Next()
    {
        var rows = _sampler.Next(_examples);
        int len = rows.Max(r => r.Ids.Length);
        var ids = new int[_batch * len];
        var labels = new int[_batch * len];
        Array.Fill(labels, -100);
        for (int i = 0; i < _batch; i++)
        {
            rows[i].Ids.CopyTo(ids, i * len);
            rows[i].Labels.CopyTo(labels, i * len);
        }
        return new ExampleBatch(Tensor.FromInts(ids, _batch, len), Tensor.FromInts(labels, _batch, len));
    }
}
