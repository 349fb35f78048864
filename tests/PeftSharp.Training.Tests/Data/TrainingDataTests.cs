using PeftSharp.Training.Checkpoints;
using PeftSharp.Training.Data;

namespace PeftSharp.Training.Tests.Data;

public sealed class TrainingDataTests
{
    private static string Write(TempDir dir, string name, IEnumerable<string> lines)
    {
        var path = Path.Combine(dir.Path, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void LanguageModel_SplitTokenizeBatch_WithSkippedAndDroppedCounts()
    {
        using var dir = new TempDir();
        var lines = Enumerable.Range(0, 40).Select(i => $"{{\"prompt\": \"Question {i}?\", \"completion\": \" Answer {i}.\"}}").ToList();
        lines.Insert(5, "{\"prompt\": \"x\", \"completion\": 3}");
        lines.Insert(9, "garbage");
        var path = Write(dir, "train.jsonl", lines);
        var (tok, cfg) = TestTokenizers.Get("synthetic-gpt2");
        var data = TrainingData.LoadLanguageModel(new TrainingDataOptions
        {
            TrainPath = path,
            ValidationFraction = 0.25,
            Read = new DataReadOptions { SkipBadLines = true },
            BatchSize = 4,
            Seed = 9,
        }, tok, cfg);
        Assert.Equal(DataFormat.PromptCompletion, data.Report.Format);
        Assert.Equal((30, 10), (data.Report.TrainExamples, data.Report.ValidationExamples));
        Assert.Equal(2, data.Report.SkippedLines);
        Assert.Equal([6L, 10L], data.Report.Problems.Select(p => p.LineNumber));
        Assert.Equal(8, data.Train.BatchesPerEpoch);
        var batch = data.Train.Next();
        Assert.Equal(4, batch.BatchSize);
        Assert.Equal(new DataPosition(0, 1), data.Train.Position);
        Assert.Equal(10, data.ValidationBatches(4).Sum(b => b.BatchSize));
        // Completions are " Answer i." + EOS: every label run decodes to one.
        var labelled = data.Validation.SelectMany(e => ExampleTokenizerTests.LabelledRuns(tok, e)).ToList();
        Assert.All(labelled, r => Assert.Matches(@"^ Answer \d+\.<\|endoftext\|>$", r));
    }

    [Fact]
    public void LanguageModel_Packing_RowsOfMaxLength()
    {
        using var dir = new TempDir();
        var path = Write(dir, "t.jsonl", Enumerable.Range(0, 20).Select(i => $"{{\"text\": \"Sentence number {i} is here.\"}}"));
        var (tok, cfg) = TestTokenizers.Get("synthetic-gpt2");
        var data = TrainingData.LoadLanguageModel(new TrainingDataOptions
        {
            TrainPath = path,
            Packing = true,
            Tokenization = new TokenizationOptions { MaxLength = 16 },
            BatchSize = 2,
        }, tok, cfg);
        long tokens = data.Report.TrainTokens;
        Assert.Equal((int)((tokens + 15) / 16), data.Report.PackedTrainRows);
        var batch = data.Train.Next();
        Assert.Equal(16, batch.SequenceLength);
        Assert.Throws<ArgumentException>(() => TrainingData.LoadLanguageModel(new TrainingDataOptions { TrainPath = path, Packing = true }, tok, cfg));
    }

    [Fact]
    public void LanguageModel_RejectsClassificationFile_AndMismatchedValidation()
    {
        using var dir = new TempDir();
        var cls = Write(dir, "c.jsonl", ["{\"text\": \"a\", \"label\": 1}"]);
        var txt = Write(dir, "t.jsonl", ["{\"text\": \"a\"}", "{\"text\": \"b\"}"]);
        var (tok, cfg) = TestTokenizers.Get("synthetic-gpt2");
        Assert.Throws<DataFormatException>(() => TrainingData.LoadLanguageModel(new TrainingDataOptions { TrainPath = cls }, tok, cfg));
        var e = Assert.Throws<DataFormatException>(() => TrainingData.LoadLanguageModel(new TrainingDataOptions { TrainPath = txt, ValidationPath = cls }, tok, cfg));
        Assert.Equal(cls, e.FilePath);
        Assert.Throws<ArgumentException>(() => TrainingData.LoadLanguageModel(new TrainingDataOptions { TrainPath = txt, ValidationPath = txt, ValidationCount = 1 }, tok, cfg));
    }

    [Fact]
    public void Classification_Csv_LabelsAndBatches()
    {
        using var dir = new TempDir();
        var path = Write(dir, "c.csv", ["text,label", "\"good, very good\",positive", "bad,negative", "meh,neutral", "fine,positive", "awful,negative"]);
        var (tok, cfg) = TestTokenizers.Get("synthetic-wordpiece");
        var data = TrainingData.LoadClassification(new TrainingDataOptions { TrainPath = path, BatchSize = 5, Shuffle = false }, tok, cfg);
        Assert.Equal(["negative", "neutral", "positive"], data.Labels.Names);
        var batch = data.Train.Next();
        Assert.Equal([2, 0, 1, 2, 0], batch.Labels.ToIntArray());
        int cls = tok.TokenToId("[CLS]")!.Value;
        Assert.Equal([.. tok.Encode("good, very good", true).Ids], batch.InputIds.ToIntArray().Take(tok.Encode("good, very good", true).Ids.Count));
        Assert.Equal(cls, batch.InputIds.ToIntArray()[batch.SequenceLength]);

        var explicitLabels = TrainingData.LoadClassification(new TrainingDataOptions { TrainPath = path, BatchSize = 5, Shuffle = false, Labels = ["positive", "negative", "neutral"] }, tok, cfg);
        Assert.Equal([0, 1, 2, 0, 1], explicitLabels.Train.Next().Labels.ToIntArray());

        var e = Assert.Throws<DataFormatException>(() => TrainingData.LoadClassification(new TrainingDataOptions { TrainPath = path, Labels = ["positive", "negative"] }, tok, cfg));
        Assert.Equal(4, e.LineNumber);
        var skipped = TrainingData.LoadClassification(new TrainingDataOptions
        {
            TrainPath = path, Labels = ["positive", "negative"], Read = new DataReadOptions { SkipBadLines = true },
        }, tok, cfg);
        Assert.Equal((4, 1), (skipped.Report.TrainExamples, skipped.Report.SkippedLines));
    }
}
