using PeftSharp.Text.Templates;
using PeftSharp.Text.Tokenization;

namespace PeftSharp.Training.Data;

/// <summary>Everything that turns data files into batches.</summary>
public sealed class TrainingDataOptions
{
    /// <summary>Training data (JSONL, or CSV/TSV for classification).</summary>
    public required string TrainPath { get; init; }

    /// <summary>A separate validation file in the same format; when set, no split is made.</summary>
    public string? ValidationPath { get; init; }

    /// <summary>Fraction of the training records held out for validation (by <see cref="Seed"/>); null for none.</summary>
    public double? ValidationFraction { get; init; }

    /// <summary>Number of training records held out for validation (instead of a fraction); null for none.</summary>
    public int? ValidationCount { get; init; }

    /// <summary>Reading options (format, skip-bad-lines, limits, CSV columns).</summary>
    public DataReadOptions Read { get; init; } = new();

    /// <summary>Tokenization options (max length, EOS, chat template).</summary>
    public TokenizationOptions Tokenization { get; init; } = new();

    /// <summary>Pack language-modelling examples into rows of <see cref="TokenizationOptions.MaxLength"/> tokens (see <see cref="Data.Packing"/>).</summary>
    public bool Packing { get; init; }

    /// <summary>Examples (or packed rows) per training batch.</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>Seed of the validation split and of the per-epoch shuffles.</summary>
    public ulong Seed { get; init; } = 42;

    /// <summary>Shuffle training examples each epoch.</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>Drop each epoch's last, smaller batch.</summary>
    public bool DropLast { get; init; }

    /// <summary>Round padded lengths up to a multiple of this (e.g. 8); null for none.</summary>
    public int? PadToMultipleOf { get; init; }

    /// <summary>Classification: the label names in id order (e.g. from the model's <c>id2label</c>); null to number the labels found.</summary>
    public IReadOnlyList<string>? Labels { get; init; }

    /// <summary>Classification: how found label names are numbered when <see cref="Labels"/> is null.</summary>
    public LabelOrder LabelOrder { get; init; } = LabelOrder.Sorted;

    internal BatchSourceOptions SourceOptions() => new()
    {
        BatchSize = BatchSize,
        Seed = Seed,
        Shuffle = Shuffle,
        DropLast = DropLast,
        PadToMultipleOf = PadToMultipleOf,
    };
}

/// <summary>What loading the data did, for the user.</summary>
public sealed class TrainingDataReport
{
    /// <summary>Record format of the data.</summary>
    public DataFormat Format { get; init; }

    /// <summary>Training examples after skipping and dropping (before packing).</summary>
    public int TrainExamples { get; init; }

    /// <summary>Validation examples (before packing).</summary>
    public int ValidationExamples { get; init; }

    /// <summary>Rows after packing (training), or null without packing.</summary>
    public int? PackedTrainRows { get; init; }

    /// <summary>Malformed lines and records skipped (with skip-bad-lines), in both files.</summary>
    public int SkippedLines { get; init; }

    /// <summary>The first skipped problems, each naming file and line.</summary>
    public IReadOnlyList<DataFormatException> Problems { get; init; } = [];

    /// <summary>Examples cut to the maximum length.</summary>
    public int TruncatedExamples { get; init; }

    /// <summary>Language-modelling examples dropped because no position had a label (e.g. a prompt filling the whole length).</summary>
    public int DroppedWithoutLabels { get; init; }

    /// <summary>Real tokens in the training examples.</summary>
    public long TrainTokens { get; init; }

    /// <summary>Positions with a label in the training examples (language modelling).</summary>
    public long TrainSupervisedTokens { get; init; }
}

/// <summary>Causal-LM data ready for the trainer.</summary>
public sealed class LanguageModelData
{
    internal LanguageModelData(ShuffledBatchSource train, IReadOnlyList<TokenizedExample> validation, BatchCollator collator, ExampleTokenizer tokenizer, TrainingDataReport report)
    {
        Train = train;
        Validation = validation;
        Collator = collator;
        Tokenizer = tokenizer;
        Report = report;
    }

    /// <summary>The training batches (endless, shuffled per epoch, resumable).</summary>
    public ShuffledBatchSource Train { get; }

    /// <summary>Validation examples in file order (packed when packing is on); empty when none were asked for.</summary>
    public IReadOnlyList<TokenizedExample> Validation { get; }

    /// <summary>The collator (pad id, pad multiple) used for all batches.</summary>
    public BatchCollator Collator { get; }

    /// <summary>The example tokenizer (special ids, pad id).</summary>
    public ExampleTokenizer Tokenizer { get; }

    public TrainingDataReport Report { get; }

    /// <summary>Validation batches in a fixed order (the last may be smaller).</summary>
    public IEnumerable<TokenBatch> ValidationBatches(int batchSize) => Collator.Batches(Validation, batchSize);
}

/// <summary>Classification data ready for the trainer.</summary>
public sealed class ClassificationData
{
    internal ClassificationData(ClassificationBatchSource train, IReadOnlyList<ClassificationExample> validation, BatchCollator collator, LabelMap labels, TrainingDataReport report)
    {
        Train = train;
        Validation = validation;
        Collator = collator;
        Labels = labels;
        Report = report;
    }

    public ClassificationBatchSource Train { get; }

    public IReadOnlyList<ClassificationExample> Validation { get; }

    public BatchCollator Collator { get; }

    /// <summary>Label names by id (give <see cref="LabelMap.Names"/> to the model config's id2label).</summary>
    public LabelMap Labels { get; }

    public TrainingDataReport Report { get; }

    public IEnumerable<ClassificationBatch> ValidationBatches(int batchSize) => Collator.Batches(Validation, batchSize);
}

/// <summary>
/// The data pipeline in one call: read → split → tokenize (→ pack) → shuffled batch source. Records are split into
/// train and validation before tokenization, so the split does not depend on the tokenizer.
/// </summary>
public static class TrainingData
{
    /// <summary>Loads causal-LM data (text, prompt/completion or chat records).</summary>
    /// <exception cref="FileNotFoundException">A data file is missing.</exception>
    /// <exception cref="DataFormatException">A malformed record (without skip-bad-lines), a file of classification records, or a validation file in another format.</exception>
    /// <exception cref="ArgumentException">Inconsistent options (e.g. packing without a max length, both a validation file and a split).</exception>
    public static LanguageModelData LoadLanguageModel(TrainingDataOptions options, Tokenizer tokenizer, TokenizerConfig? config)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Packing && options.Tokenization.MaxLength is null)
        {
            throw new ArgumentException("Packing needs a maximum length (the row length).", nameof(options));
        }
        var (train, validation, format, skipped) = ReadAndSplit(options);
        if (format == DataFormat.Classification)
        {
            throw new DataFormatException(options.TrainPath, train[0].Line, "the file holds classification records (text and label); load it as classification data");
        }
        var tokenization = options.Packing ? CopyWithoutMaxLength(options.Tokenization) : options.Tokenization;
        var ex = new ExampleTokenizer(tokenizer, config, tokenization);
        int truncated = 0, dropped = 0;
        var trainExamples = TokenizeAll(train, ex, options.Read.SkipBadLines, skipped, ref truncated, ref dropped);
        var validationExamples = TokenizeAll(validation, ex, options.Read.SkipBadLines, skipped, ref truncated, ref dropped);
        if (trainExamples.Count == 0)
        {
            throw new DataFormatException(options.TrainPath, 1, $"no training example has a token to learn ({dropped} dropped without labels, {skipped.SkippedLines} skipped)");
        }
        int trainCount = trainExamples.Count, validationCount = validationExamples.Count;
        long tokens = trainExamples.Sum(e => (long)e.Length), supervised = trainExamples.Sum(e => (long)e.SupervisedTokens);
        int? packedRows = null;
        if (options.Packing)
        {
            int row = options.Tokenization.MaxLength!.Value;
            trainExamples = Packing.Pack(trainExamples, row);
            validationExamples = Packing.Pack(validationExamples, row);
            packedRows = trainExamples.Count;
        }
        var report = new TrainingDataReport
        {
            Format = format,
            TrainExamples = trainCount,
            ValidationExamples = validationCount,
            PackedTrainRows = packedRows,
            SkippedLines = skipped.SkippedLines,
            Problems = skipped.Problems,
            TruncatedExamples = truncated,
            DroppedWithoutLabels = dropped,
            TrainTokens = tokens,
            TrainSupervisedTokens = supervised,
        };
        var collator = new BatchCollator(ex.PadId, options.PadToMultipleOf);
        return new LanguageModelData(new ShuffledBatchSource(trainExamples, ex.PadId, options.SourceOptions()), validationExamples, collator, ex, report);
    }

    /// <summary>Loads classification data (<c>{"text","label"}</c> JSONL or CSV).</summary>
    /// <exception cref="FileNotFoundException">A data file is missing.</exception>
    /// <exception cref="DataFormatException">A malformed record or label (without skip-bad-lines), or records that are not classification records.</exception>
    public static ClassificationData LoadClassification(TrainingDataOptions options, Tokenizer tokenizer, TokenizerConfig? config)
    {
        ArgumentNullException.ThrowIfNull(options);
        var (train, validation, format, skipped) = ReadAndSplit(options);
        if (format != DataFormat.Classification)
        {
            throw new DataFormatException(options.TrainPath, train[0].Line, $"expected classification records (text and label), found {JsonlReader.Describe(format)} records");
        }
        var ex = new ExampleTokenizer(tokenizer, config, options.Tokenization);
        var labelMap = options.Labels is { } names
            ? LabelMap.FromNames(names)
            : LabelMap.Build(train.Concat(validation).Cast<ClassificationRecord>(), options.LabelOrder);
        int truncated = 0;
        List<ClassificationExample> Tokenize(List<DataRecord> records)
        {
            var result = new List<ClassificationExample>(records.Count);
            foreach (ClassificationRecord r in records)
            {
                int id;
                try
                {
                    id = labelMap.IdOf(r);
                }
                catch (DataFormatException e) when (options.Read.SkipBadLines)
                {
                    skipped.Skip(e);
                    continue;
                }
                var example = ex.TokenizeClassification(r, id);
                truncated += example.Truncated ? 1 : 0;
                result.Add(example);
            }
            return result;
        }
        var trainExamples = Tokenize(train);
        var validationExamples = Tokenize(validation);
        if (trainExamples.Count == 0)
        {
            throw new DataFormatException(options.TrainPath, 1, $"no usable training example ({skipped.SkippedLines} skipped)");
        }
        var report = new TrainingDataReport
        {
            Format = format,
            TrainExamples = trainExamples.Count,
            ValidationExamples = validationExamples.Count,
            SkippedLines = skipped.SkippedLines,
            Problems = skipped.Problems,
            TruncatedExamples = truncated,
            TrainTokens = trainExamples.Sum(e => (long)e.Length),
        };
        var collator = new BatchCollator(ex.PadId, options.PadToMultipleOf);
        return new ClassificationData(new ClassificationBatchSource(trainExamples, ex.PadId, options.SourceOptions()), validationExamples, collator, labelMap, report);
    }

    private static (List<DataRecord> Train, List<DataRecord> Validation, DataFormat Format, DataReadReport Skipped) ReadAndSplit(TrainingDataOptions options)
    {
        int ways = (options.ValidationPath is null ? 0 : 1) + (options.ValidationFraction is null ? 0 : 1) + (options.ValidationCount is null ? 0 : 1);
        if (ways > 1)
        {
            throw new ArgumentException("Give at most one of a validation file, a validation fraction and a validation count.", nameof(options));
        }
        var skipped = new DataReadReport();
        var trainSet = DataSet.Load(options.TrainPath, options.Read);
        Merge(skipped, trainSet.Report);
        List<DataRecord> train = [.. trainSet.Records], validation = [];
        if (options.ValidationPath is { } vp)
        {
            var valSet = DataSet.Load(vp, options.Read);
            Merge(skipped, valSet.Report);
            if (valSet.Format != trainSet.Format)
            {
                throw new DataFormatException(vp, valSet.Records[0].Line,
                    $"the validation file holds {JsonlReader.Describe(valSet.Format)} records but the training file holds {JsonlReader.Describe(trainSet.Format)} records");
            }
            validation = [.. valSet.Records];
        }
        else if (options.ValidationFraction is not null || options.ValidationCount is not null)
        {
            (train, validation) = DataSplit.Split(train, options.ValidationFraction, options.ValidationCount, options.Seed);
        }
        return (train, validation, trainSet.Format, skipped);
    }

    private static void Merge(DataReadReport into, DataReadReport from)
    {
        foreach (var p in from.Problems)
        {
            into.Skip(p);
        }
        // Problems beyond the kept ones still count.
        for (int i = from.Problems.Count; i < from.SkippedLines; i++)
        {
            into.CountOnly();
        }
    }

    private static List<TokenizedExample> TokenizeAll(List<DataRecord> records, ExampleTokenizer ex, bool skipBad, DataReadReport skipped, ref int truncated, ref int dropped)
    {
        var result = new List<TokenizedExample>(records.Count);
        foreach (var r in records)
        {
            TokenizedExample e;
            try
            {
                e = ex.Tokenize(r);
            }
            catch (DataFormatException error) when (skipBad)
            {
                skipped.Skip(error);
                continue;
            }
            truncated += e.Truncated ? 1 : 0;
            if (e.SupervisedTokens == 0)
            {
                dropped++;
                continue;
            }
            result.Add(e);
        }
        return result;
    }

    private static TokenizationOptions CopyWithoutMaxLength(TokenizationOptions o) => new()
    {
        MaxLength = null,
        AppendEos = o.AppendEos,
        ChatTemplateName = o.ChatTemplateName,
        ChatTemplateContext = o.ChatTemplateContext,
        AssistantRoles = o.AssistantRoles,
    };
}
