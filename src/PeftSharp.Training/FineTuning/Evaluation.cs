using PeftSharp.Models;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;
using PeftSharp.Training.Data;

namespace PeftSharp.Training.FineTuning;

/// <summary>Settings of <see cref="Evaluation.Run"/>.</summary>
public sealed record EvaluateOptions
{
    /// <summary>Base model folder.</summary>
    public required string Model { get; init; }

    /// <summary>Data file in a training format (JSONL or CSV).</summary>
    public required string Data { get; init; }

    /// <summary>Adapter folders applied together (none: the base model).</summary>
    public IReadOnlyList<string> Adapters { get; init; } = [];

    /// <summary>Folder of tokenizer.json (default: the model folder).</summary>
    public string? Tokenizer { get; init; }

    public int BatchSize { get; init; } = 8;

    /// <summary>Longest sequence; null: the model's max_position_embeddings.</summary>
    public int? MaxLength { get; init; }

    /// <summary>f32 or bf16 storage of the base weights.</summary>
    public string Weights { get; init; } = "f32";

    public bool SkipBadLines { get; init; }
}

/// <summary>
/// The scores of a model on a data file. Language modelling: <see cref="Loss"/> is the mean cross-entropy per
/// predicted token (each labelled token weighs the same, whatever its batch), <see cref="Perplexity"/> its exp.
/// Classification: mean cross-entropy per example and <see cref="Accuracy"/>.
/// </summary>
public sealed record EvaluationReport(FineTuneTask Task, int Examples, long Tokens, double Loss, double? Accuracy, int SkippedLines,
    IReadOnlyList<string> Adapters)
{
    public double Perplexity => Math.Exp(Loss);
}

/// <summary>Scores a model (with adapters) on data; also what training uses for its validation passes.</summary>
public static class Evaluation
{
    /// <summary>Loads the model, adapters, tokenizer and data and scores them.</summary>
    /// <exception cref="FineTuneException">A missing input or a bad setting.</exception>
    /// <exception cref="DataFormatException">A malformed record (without skip-bad-lines), with file and line.</exception>
    public static EvaluationReport Run(EvaluateOptions o, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (o.BatchSize < 1)
        {
            throw new FineTuneException($"batch-size must be at least 1; got {o.BatchSize}.");
        }
        if (!File.Exists(o.Data))
        {
            throw new FineTuneException($"data: the file '{o.Data}' does not exist.");
        }
        var model = ModelFolder.Load(o.Model, ModelFolder.ParseWeights(o.Weights));
        var task = ModelFolder.TaskOf(model);
        model.RequiresGrad(false);
        ModelFolder.AttachAdapters(model, o.Adapters);
        model.Eval();
        var (tokenizer, config) = ModelFolder.LoadTokenizer(o.Tokenizer ?? o.Model, o.Tokenizer is not null);
        var set = DataSet.Load(o.Data, new DataReadOptions { SkipBadLines = o.SkipBadLines });
        int skipped = set.Report.SkippedLines;
        var ex = new ExampleTokenizer(tokenizer, config, new TokenizationOptions { MaxLength = o.MaxLength ?? model.Config.GetIntOrNull("max_position_embeddings") ?? model.Config.GetIntOrNull("n_positions") });
        var collator = new BatchCollator(ex.PadId);

        if (task == FineTuneTask.CausalLanguageModeling)
        {
            if (set.Format == DataFormat.Classification)
            {
                throw new FineTuneException($"data: '{o.Data}' holds classification records (text and label) but the model is a causal language model; evaluate it with a sequence-classification model or on text/prompt-completion/messages data.");
            }
            var examples = new List<TokenizedExample>();
            foreach (var record in set.Records)
            {
                TokenizedExample e;
                try
                {
                    e = ex.Tokenize(record);
                }
                catch (DataFormatException) when (o.SkipBadLines)
                {
                    skipped++;
                    continue;
                }
                if (e.SupervisedTokens > 0)
                {
                    examples.Add(e);
                }
            }
            if (examples.Count == 0)
            {
                throw new FineTuneException($"data: '{o.Data}' has no example with a token to score.");
            }
            var (loss, tokens) = LanguageModel(model, collator.Batches(examples, o.BatchSize), cancellationToken);
            return new EvaluationReport(task, examples.Count, tokens, loss, null, skipped, o.Adapters);
        }
        else
        {
            if (set.Format != DataFormat.Classification)
            {
                throw new FineTuneException($"data: '{o.Data}' does not hold classification records (text and label), which a {model.ArchitectureName} needs.");
            }
            var records = set.Records.Cast<ClassificationRecord>().ToArray();
            var labels = ModelFolder.LabelNames(model) is { } names ? LabelMap.FromNames(names) : LabelMap.Build(records);
            int numLabels = ModelFolder.NumLabels(model);
            if (labels.Count > numLabels)
            {
                throw new FineTuneException($"data: the records have {labels.Count} labels but the model's classifier has {numLabels} outputs.");
            }
            var examples = new List<ClassificationExample>();
            foreach (var r in records)
            {
                int id;
                try
                {
                    id = labels.IdOf(r);
                }
                catch (DataFormatException) when (o.SkipBadLines)
                {
                    skipped++;
                    continue;
                }
                examples.Add(ex.TokenizeClassification(r, id));
            }
            if (examples.Count == 0)
            {
                throw new FineTuneException($"data: '{o.Data}' has no usable record.");
            }
            var (loss, accuracy, count) = Classification(model, collator.Batches(examples, o.BatchSize), cancellationToken);
            return new EvaluationReport(task, count, examples.Sum(e => (long)e.Length), loss, accuracy, skipped, o.Adapters);
        }
    }

    /// <summary>Mean cross-entropy per predicted token over the batches, and the number of predicted tokens.</summary>
    public static (double Loss, long Tokens) LanguageModel(PretrainedModel model, IEnumerable<TokenBatch> batches, CancellationToken cancellationToken = default)
    {
        double sum = 0;
        long count = 0;
        using var noGrad = GradMode.NoGrad();
        foreach (var b in batches)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // The model shifts: the label at position t (t ≥ 1) is predicted from positions < t.
            long predicted = 0;
            var labels = b.Labels.ToIntArray();
            int t = b.SequenceLength;
            for (int i = 0; i < labels.Length; i++)
            {
                if (i % t != 0 && labels[i] != ExampleTokenizer.IgnoreIndex)
                {
                    predicted++;
                }
            }
            if (predicted == 0)
            {
                continue;
            }
            using var scope = TensorScope.Begin();
            var loss = model.Forward(new ModelInput { InputIds = b.InputIds, AttentionMask = b.AttentionMask, Labels = b.Labels }).Loss!.Item();
            sum += (double)loss * predicted;
            count += predicted;
        }
        return (count == 0 ? double.NaN : sum / count, count);
    }

    /// <summary>Mean cross-entropy per example, accuracy, and the number of examples.</summary>
    public static (double Loss, double Accuracy, int Count) Classification(PretrainedModel model, IEnumerable<ClassificationBatch> batches, CancellationToken cancellationToken = default)
    {
        double sum = 0;
        int correct = 0, count = 0;
        using var noGrad = GradMode.NoGrad();
        foreach (var b in batches)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = TensorScope.Begin();
            var output = model.Forward(new ModelInput { InputIds = b.InputIds, AttentionMask = b.AttentionMask, Labels = b.Labels });
            int n = b.BatchSize;
            sum += (double)output.Loss!.Item() * n;
            var predicted = output.Logits.Argmax(-1).ToIntArray();
            var labels = b.Labels.ToIntArray();
            for (int i = 0; i < n; i++)
            {
                correct += predicted[i] == labels[i] ? 1 : 0;
            }
            count += n;
        }
        return (count == 0 ? double.NaN : sum / count, count == 0 ? 0 : (double)correct / count, count);
    }
}
