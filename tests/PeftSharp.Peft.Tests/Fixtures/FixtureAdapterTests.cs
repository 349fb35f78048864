using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Formats;
using PeftSharp.Peft.Methods.Lora;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Serialization;
using Xunit.Abstractions;

namespace PeftSharp.Peft.Tests.Fixtures;

/// <summary>
/// Hugging Face PEFT 0.14 fixtures that need no model forward: every LoRA / IA3 adapter folder loads onto a module tree
/// built from the fixture's model.safetensors, targets exactly the modules PEFT adapted, trains exactly the parameters
/// PEFT trained (same names), merges to the fixture's merged weights (README tolerance rtol 1e-5, atol 1e-6) and saves
/// back to byte-identical tensors under identical keys with an equivalent adapter_config.json.
/// </summary>
public sealed class FixtureAdapterTests(ITestOutputHelper output)
{
    public static TheoryData<string> AdapterFixtures() => FixtureRoot.Rows(
        "llama-lora", "llama-lora-rslora-all-linear", "llama-lora-bias", "llama-dora", "bert-lora-cls", "gpt2-lora",
        "llama-ia3", "gpt2-ia3", "llama-lora-patterns", "llama-lora-embedding");

    private bool Skip(string name)
    {
        if (name == FixtureRoot.Missing)
        {
            output.WriteLine("PEFT fixtures not found (set PEFTSHARP_FIXTURES or place shared/fixtures beside the repository); fixture checks did not run.");
            return true;
        }
        return false;
    }

    private static (Node Tree, PeftModel Model) Load(string fixture, bool trainable = false)
    {
        var dir = FixtureRoot.Folder(fixture);
        var tree = TestSupport.TreeFromStateDict(Path.Combine(dir, "model.safetensors"));
        return (tree, PeftModel.FromPretrained(tree, dir, isTrainable: trainable));
    }

    [Theory]
    [MemberData(nameof(AdapterFixtures))]
    public void Load_TrainsExactlyThePeftParameterNames(string fixture)
    {
        if (Skip(fixture))
        {
            return;
        }
        var (_, model) = Load(fixture, trainable: true);
        var meta = TestSupport.ReadJson(Path.Combine(FixtureRoot.Folder(fixture), "meta.json"));
        var expected = meta["trainable_parameters"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.AsArray().Select(v => (int)v!).ToArray());
        var actual = model.NamedTrainableParameters().ToDictionary(p => p.Name, p => p.Parameter.Shape.ToArray());
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        Assert.All(expected, kv => Assert.Equal(kv.Value, actual[kv.Key]));
        Assert.Equal((long)meta["num_trainable"]!, model.GetTrainableReport().Trainable);
    }

    [Theory]
    [MemberData(nameof(AdapterFixtures))]
    public void MergeAndUnload_EqualsFixtureMergedWeights(string fixture)
    {
        if (Skip(fixture))
        {
            return;
        }
        var (_, model) = Load(fixture);
        var io = TensorFile.Load(Path.Combine(FixtureRoot.Folder(fixture), "io.safetensors"));
        var before = TensorFile.Load(Path.Combine(FixtureRoot.Folder(fixture), "model.safetensors"));
        var plain = model.MergeAndUnload();
        var merged = plain.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter);
        var mergedKeys = io.Keys.Where(k => k.StartsWith("merged.", StringComparison.Ordinal)).ToArray();
        Assert.NotEmpty(mergedKeys);
        foreach (var key in mergedKeys)
        {
            var name = key["merged.".Length..];
            TestSupport.AssertClose(io[key].ToArray(), merged[name].ToArray(), 1e-5, 1e-6, key);
        }
        // Every other base tensor is untouched.
        foreach (var (name, t) in before.Where(kv => !io.ContainsKey("merged." + kv.Key)))
        {
            Assert.True(t.ToArray().AsSpan().SequenceEqual(merged[name].ToArray()), $"{name} changed although the fixture did not merge into it");
        }
    }

    [Theory]
    [MemberData(nameof(AdapterFixtures))]
    public void SavePretrained_ReproducesTheAdapterFolder(string fixture)
    {
        if (Skip(fixture))
        {
            return;
        }
        var (_, model) = Load(fixture);
        TestSupport.AssertSavesLikeFixture(model, FixtureRoot.Folder(fixture));
    }

    [Fact]
    public void AllLinear_SelectsWhatPeftSelected()
    {
        if (Skip(FixtureRoot.Root is null ? FixtureRoot.Missing : "ok"))
        {
            return;
        }
        var dir = FixtureRoot.Folder("llama-lora-rslora-all-linear");
        var saved = (LoraConfig)AdapterConfig.Load(dir);
        var tree = TestSupport.TreeFromStateDict(Path.Combine(dir, "model.safetensors"));
        var model = PeftModel.Create(tree, saved with { TargetModules = ModuleSelector.Regex("all-linear") });
        var expected = Load("llama-lora-rslora-all-linear").Model.AdapterLayers().Select(l => l.Path);
        Assert.Equal(expected, model.AdapterLayers().Select(l => l.Path));
        Assert.DoesNotContain(model.AdapterLayers(), l => l.Path == "lm_head");
        var layer = (LoraLayer)model.AdapterLayers().First().Layer;
        Assert.Equal((float)(8 / System.Math.Sqrt(6)), layer.Adapter("default").Scaling);
    }

    [Fact]
    public void Patterns_AdaptModulesWithThePerModuleRankAndAlphaPeftUsed()
    {
        if (Skip(FixtureRoot.Root is null ? FixtureRoot.Missing : "ok"))
        {
            return;
        }
        var dir = FixtureRoot.Folder("llama-lora-patterns");
        var meta = TestSupport.ReadJson(Path.Combine(dir, "meta.json"));
        var (_, model) = Load("llama-lora-patterns");
        model.LoadAdapter(Path.Combine(dir, "regex"), "regex");
        foreach (var adapter in new[] { "default", "regex" })
        {
            var info = meta["adapters"]![adapter]!;
            var expected = info["adapted_modules"]!.AsArray().Select(n => (string)n!).ToArray();
            var actual = model.AdapterLayers().Where(l => l.Layer.HasAdapter(adapter)).Select(l => l.Path).ToArray();
            Assert.Equal(expected.Order(StringComparer.Ordinal), actual.Order(StringComparer.Ordinal));
            foreach (var (module, settings) in info["module_settings"]!.AsObject())
            {
                var a = ((LoraLayer)model.Model.Get(module)).Adapter(adapter);
                Assert.Equal((int)settings!["r"]!, a.Rank);
                Assert.Equal((float)(double)settings["scaling"]!, a.Scaling);
            }
        }
        Assert.Equal(["lm_head"], model.SavedModules().Select(w => w.Path));
    }
}
