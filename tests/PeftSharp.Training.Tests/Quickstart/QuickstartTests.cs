using PeftSharp.Models;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;
using PeftSharp.Text.Tokenization;
using PeftSharp.Training.Quickstart;
using Xunit.Abstractions;

namespace PeftSharp.Training.Tests.Quickstart;

/// <summary>The quickstart in a reduced mode (fewer steps) on the model the repository ships.</summary>
public class QuickstartTests(ITestOutputHelper log)
{
    private static string ModelDirectory()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PeftSharp.slnx")))
        {
            dir = dir.Parent;
        }
        return Path.Combine(dir!.FullName, "src", "PeftSharp.Cli", "Assets", "quickstart-model");
    }

    [Fact]
    public void Quickstart_ReducedRun_LearnsTheHeldOutTask_AndSavesALoadableAdapter()
    {
        var output = Directory.CreateTempSubdirectory("peftsharp-quickstart-");
        try
        {
            var report = QuickstartRunner.Run(new QuickstartOptions { BaseModel = ModelDirectory(), Output = output.FullName, Steps = 80 });
            log.WriteLine($"base {report.BaseAccuracy:P1} → adapted {report.AdaptedAccuracy:P1}; answer loss {report.BaseAnswerLoss:R} → {report.AdaptedAnswerLoss:R}");
            Assert.True(report.BaseAccuracy < 0.2, $"the base model should not know the task: {report.BaseAccuracy:P1}");
            Assert.True(report.AdaptedAccuracy >= report.BaseAccuracy + 0.5, $"LoRA should lift held-out accuracy well above the base: {report.BaseAccuracy:P1} → {report.AdaptedAccuracy:P1}");
            Assert.True(report.AdaptedAnswerLoss < report.BaseAnswerLoss - 0.5, $"answer loss {report.BaseAnswerLoss:R} → {report.AdaptedAnswerLoss:R}");

            // The saved adapter reloads onto a fresh base model and scores the same.
            var model = (CausalLanguageModel)AutoModel.FromPretrained(ModelDirectory());
            PeftModel.FromPretrained(model, report.AdapterDirectory);
            model.Eval();
            var test = QuickstartRunner.Encode(Tokenizer.FromDirectory(ModelDirectory()), SyntheticWorld.TestQuestions());
            Assert.Equal(report.AdaptedAccuracy, QuickstartRunner.Score(model, test).Accuracy);
            Assert.True(File.Exists(Path.Combine(report.AdapterDirectory, "adapter_config.json")));
            Assert.True(File.Exists(Path.Combine(report.AdapterDirectory, "adapter_model.safetensors")));
        }
        finally
        {
            output.Delete(recursive: true);
        }
    }

    [Fact]
    public void World_TestWordsAreNeverAskedInTraining_AndLabelsNeverOccurInTheCorpus()
    {
        var test = SyntheticWorld.TestQuestions().Select(q => q.Prompt).ToHashSet();
        Assert.Equal(18, test.Count);
        Assert.DoesNotContain(SyntheticWorld.Questions(7, 4000), q => test.Contains(q.Prompt));
        var corpus = string.Join(' ', SyntheticWorld.Corpus(1, 500)).Split(' ').ToHashSet();
        foreach (var label in SyntheticWorld.Categories.Select(c => c.Label))
        {
            Assert.DoesNotContain(label, corpus);
        }
        Assert.DoesNotContain("question", corpus);
    }
}
