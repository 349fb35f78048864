using System.Text.Json.Nodes;
using PeftSharp.Models;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.Lora;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;
using PeftSharp.Text.Tokenization;
using static PeftSharp.Cli.Tests.CliHarness;

namespace PeftSharp.Cli.Tests;

public class AdapterCommandTests
{
    /// <summary>A LoRA adapter with random A and B (Hugging Face's init_lora_weights=false), so it is far from the identity.</summary>
    private static string RandomAdapter(string dir, ulong seed, params string[] targets)
    {
        var model = AutoModel.FromPretrained(TinyLlama);
        var peft = PeftModel.Create(model, new LoraConfig
        {
            R = 4,
            LoraAlpha = 8,
            Init = LoraInit.Random,
            TargetModules = ModuleSelector.List(targets),
            TaskType = "CAUSAL_LM",
        }, options: new PeftModelOptions { Seed = seed });
        peft.SavePretrained(dir);
        return dir;
    }

    private static readonly int[] Ids = [11, 500, 42, 7, 1234, 99, 5000, 3];

    private static float[] Logits(PretrainedModel model)
    {
        using var noGrad = GradMode.NoGrad();
        model.Eval();
        return model.Forward(new ModelInput { InputIds = Tensor.FromInts(Ids, 1, Ids.Length) }).Logits.ToArray();
    }

    private static float MaxAbsDiff(float[] a, float[] b) => a.Zip(b, (x, y) => MathF.Abs(x - y)).Max();

    [Fact]
    public void Merge_TwoAdapters_WritesAModelFolderThatMatchesTheAdaptedLogits()
    {
        var dir = TempDir("merge");
        var a = RandomAdapter(Path.Combine(dir, "a"), 1, "q_proj", "v_proj");
        var b = RandomAdapter(Path.Combine(dir, "b"), 2, "o_proj", "down_proj");
        var output = Path.Combine(dir, "merged");
        var run = Run("merge", "--model", TinyLlama, "--adapter", a, "--adapter", b, "--output", output);
        Assert.True(run.ExitCode == 0, run.All);
        Assert.True(File.Exists(Path.Combine(output, "tokenizer.json")));

        // Reference: the base model with both adapters active, computed unmerged by the PEFT layers.
        var adapted = AutoModel.FromPretrained(TinyLlama);
        var peft = PeftModel.FromPretrained(adapted, a, "a");
        peft.LoadAdapter(b, "b");
        peft.SetAdapters("a", "b");
        var expected = Logits(adapted);
        var baseLogits = Logits(AutoModel.FromPretrained(TinyLlama));
        var merged = Logits(AutoModel.FromPretrained(output));

        // Merging reorders float32 sums (W·x + s·B·(A·x) becomes (W + s·B·A)·x); logits here are O(1), so 1e-4 is
        // orders of magnitude above that rounding and far below the adapters' own effect, checked next.
        Assert.True(MaxAbsDiff(expected, merged) < 1e-4f, $"max |Δ| = {MaxAbsDiff(expected, merged)}");
        Assert.True(MaxAbsDiff(expected, baseLogits) > 1e-2f, "the adapters should change the logits");
    }

    [Fact]
    public void Generate_WithAdapters_MatchesGreedyDecodingOfTheAdaptedModel()
    {
        var dir = TempDir("generate");
        var a = RandomAdapter(Path.Combine(dir, "a"), 3, "q_proj", "v_proj", "up_proj");
        var run = Run("generate", "--model", TinyLlama, "--adapter", a, "--prompt", "the cat sat on", "--max-new-tokens", "4");
        Assert.True(run.ExitCode == 0, run.All);
        var tok = Tokenizer.FromDirectory(TinyLlama);
        var prompt = tok.Encode("the cat sat on").Ids.ToArray();
        int eos = tok.TokenToId("<|endoftext|>")!.Value;

        // Independent greedy decoding: full forward passes (no cache), arg-max of the last position, stop at EOS.
        var model = AutoModel.FromPretrained(TinyLlama);
        PeftModel.FromPretrained(model, a);
        model.Eval();
        var ids = new List<int>(prompt);
        var expected = new List<int>();
        using (GradMode.NoGrad())
        {
            for (int i = 0; i < 4; i++)
            {
                var logits = model.Forward(new ModelInput { InputIds = Tensor.FromInts([.. ids], 1, ids.Count) }).Logits;
                int next = logits.Select(1, ids.Count - 1).Argmax(-1).ToIntArray()[0];
                if (next == eos)
                {
                    break;
                }
                expected.Add(next);
                ids.Add(next);
            }
        }
        var generated = run.Output.TrimEnd('\n');
        var expectedText = tok.Decode(expected, skipSpecialTokens: true);
        Assert.Equal(expectedText, generated);
        Assert.NotEmpty(expected);
    }

    [Fact]
    public void Inspect_ShowsTargetsAndTrainableCount_ComputedFromTheConfig()
    {
        var run = Run("inspect", TinyLlama, "--method", "lora", "--targets", "q_proj", "v_proj", "--r", "8", "--json");
        Assert.True(run.ExitCode == 0, run.All);
        var t = JsonNode.Parse(run.Output.Trim().Split('\n')[^1])!["targeting"]!;
        var paths = t["targets"]!.AsArray().Select(x => x!["path"]!.GetValue<string>()).ToArray();
        // config: 2 layers; hidden 32; 4 heads of 8 → q_proj 32→32; 2 key/value heads → v_proj 32→16.
        Assert.Equal(["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj", "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"], paths.Order());
        long expected = 2 * (8 * (32 + 32) + 8 * (32 + 16));
        Assert.Equal(expected, t["trainable_parameters"]!.GetValue<long>());

        var text = Run("inspect", TinyLlama);
        Assert.True(text.ExitCode == 0, text.All);
        Assert.Contains("LlamaForCausalLM", text.Output);
        Assert.Contains("model.layers.*.self_attn.q_proj.weight", text.Output);

        var wrong = Run("inspect", TinyLlama, "--method", "lora", "--targets", "query");
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Contains("q_proj", wrong.Error);
    }

    [Fact]
    public void Inspect_Adapter_FitsItsBaseModel()
    {
        var dir = TempDir("inspect-adapter");
        var a = RandomAdapter(Path.Combine(dir, "a"), 4, "k_proj");
        var run = Run("inspect", a, "--model", TinyLlama);
        Assert.True(run.ExitCode == 0, run.All);
        Assert.Contains("LORA", run.Output);
        Assert.Contains("fits", run.Output);
        // 2 layers × k_proj (32→16) × r 4: A (4×32) + B (16×4).
        Assert.Contains((2 * (4 * 32 + 16 * 4)).ToString("N0", System.Globalization.CultureInfo.InvariantCulture), run.Output);
    }

    [Fact]
    public void Classification_TrainsClassifierAndEvalAccuracyMatchesPerExamplePredictions()
    {
        var dir = TempDir("cls");
        string[] pos = ["good great happy", "great fun", "happy good day", "very good"], neg = ["bad sad awful", "awful day", "sad bad", "very bad"], neu = ["a table", "the chair", "some paper", "a box"];
        var lines = new List<string> { "text,label" };
        for (int i = 0; i < 4; i++)
        {
            lines.Add($"{pos[i]},positive");
            lines.Add($"{neg[i]},negative");
            lines.Add($"{neu[i]},neutral");
        }
        var data = Path.Combine(dir, "train.csv");
        File.WriteAllLines(data, lines);
        var output = Path.Combine(dir, "out");
        var train = Run("train", "--model", TinyBert, "--data", data, "--output", output, "--max-steps", "8", "--batch-size", "4", "--lr", "1e-2");
        Assert.True(train.ExitCode == 0, train.All);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "adapter", "adapter_config.json")))!;
        Assert.Equal("SEQ_CLS", config["task_type"]!.GetValue<string>());
        Assert.Contains("classifier", config["modules_to_save"]!.AsArray().Select(n => n!.GetValue<string>()));

        var eval = Run("eval", "--model", TinyBert, "--adapter", Path.Combine(output, "adapter"), "--data", data, "--json", "--batch-size", "5");
        Assert.True(eval.ExitCode == 0, eval.All);
        var accuracy = JsonNode.Parse(eval.Output.Trim().Split('\n')[^1])!["accuracy"]!.GetValue<double>();

        // Reference: one unpadded example at a time through the adapted model, labels numbered by the model's id2label.
        var model = AutoModel.FromPretrained(TinyBert);
        PeftModel.FromPretrained(model, Path.Combine(output, "adapter"));
        model.Eval();
        var tok = Tokenizer.FromDirectory(TinyBert);
        string[] names = ["negative", "neutral", "positive"];
        int correct = 0;
        using (GradMode.NoGrad())
        {
            foreach (var line in lines.Skip(1))
            {
                var (text, label) = (line[..line.LastIndexOf(',')], line[(line.LastIndexOf(',') + 1)..]);
                var ids = tok.Encode(text).Ids.ToArray();
                var logits = model.Forward(new ModelInput { InputIds = Tensor.FromInts(ids, 1, ids.Length) }).Logits;
                correct += logits.Argmax(-1).ToIntArray()[0] == Array.IndexOf(names, label) ? 1 : 0;
            }
        }
        Assert.Equal((double)correct / 12, accuracy, 12);
    }
}
