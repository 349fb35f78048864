using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Formats;
using PeftSharp.Tensors.Serialization;
using Xunit.Abstractions;

namespace PeftSharp.Peft.Tests.Fixtures;

/// <summary>
/// Hugging Face PEFT 0.14 fixtures of the LyCORIS, VeRA, FourierFT, VB-LoRA and LN-tuning methods, checked without a
/// model forward: the adapter folder loads onto a module tree built from the fixture's model.safetensors, trains exactly
/// the parameters PEFT trained (same names and shapes), merge-and-unload gives the fixture's merged weights (README
/// tolerance rtol 1e-5, atol 1e-6) and leaves every other tensor bit-identical, and saving writes byte-identical tensors
/// under identical keys with an equivalent adapter_config.json.
/// </summary>
public sealed class FixtureMethodTests(ITestOutputHelper output)
{
    public static TheoryData<string> MethodFixtures() => FixtureRoot.Rows(
        "llama-loha", "llama-lokr", "llama-vera", "llama-fourierft", "llama-vblora", "llama-ln-tuning");

    private bool Skip(string name)
    {
        if (name == FixtureRoot.Missing)
        {
            output.WriteLine("PEFT fixtures not found (set PEFTSHARP_FIXTURES or place shared/fixtures beside the repository); fixture checks did not run.");
            return true;
        }
        return false;
    }

    private static PeftModel Load(string fixture, bool trainable = false)
    {
        var dir = FixtureRoot.Folder(fixture);
        var tree = TestSupport.TreeFromStateDict(Path.Combine(dir, "model.safetensors"));
        return PeftModel.FromPretrained(tree, dir, isTrainable: trainable);
    }

    [Theory]
    [MemberData(nameof(MethodFixtures))]
    public void Load_TrainsExactlyThePeftParameters(string fixture)
    {
        if (Skip(fixture))
        {
            return;
        }
        var model = Load(fixture, trainable: true);
        var meta = TestSupport.ReadJson(Path.Combine(FixtureRoot.Folder(fixture), "meta.json"));
        var expected = meta["trainable_parameters"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.AsArray().Select(v => (int)v!).ToArray());
        var actual = model.NamedTrainableParameters().ToDictionary(p => p.Name, p => p.Parameter.Shape.ToArray());
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        Assert.All(expected, kv => Assert.Equal(kv.Value, actual[kv.Key]));
        Assert.Equal((long)meta["num_trainable"]!, model.GetTrainableReport().Trainable);
        // The loaded values are the ones PEFT computed the fixture outputs with.
        var io = TensorFile.Load(Path.Combine(FixtureRoot.Folder(fixture), "io.safetensors"));
        foreach (var (name, p) in model.NamedTrainableParameters())
        {
            Assert.Equal(io["param." + name].ToArray(), p.ToArray());
        }
    }

    [Theory]
    [MemberData(nameof(MethodFixtures))]
    public void MergeAndUnload_EqualsFixtureMergedWeights(string fixture)
    {
        if (Skip(fixture))
        {
            return;
        }
        var model = Load(fixture);
        var io = TensorFile.Load(Path.Combine(FixtureRoot.Folder(fixture), "io.safetensors"));
        var before = TensorFile.Load(Path.Combine(FixtureRoot.Folder(fixture), "model.safetensors"));
        var merged = model.MergeAndUnload().NamedParameters().ToDictionary(p => p.Name, p => p.Parameter);
        var mergedKeys = io.Keys.Where(k => k.StartsWith("merged.", StringComparison.Ordinal)).ToArray();
        Assert.NotEmpty(mergedKeys);
        foreach (var key in mergedKeys)
        {
            TestSupport.AssertClose(io[key].ToArray(), merged[key["merged.".Length..]].ToArray(), 1e-5, 1e-6, key);
        }
        foreach (var (name, t) in before.Where(kv => !io.ContainsKey("merged." + kv.Key)))
        {
            Assert.True(t.ToArray().AsSpan().SequenceEqual(merged[name].ToArray()), $"{name} changed although the fixture did not merge into it");
        }
    }

    [Theory]
    [MemberData(nameof(MethodFixtures))]
    public void SavePretrained_ReproducesTheAdapterFolder(string fixture)
    {
        if (Skip(fixture))
        {
            return;
        }
        var model = Load(fixture);
        TestSupport.AssertSavesLikeFixture(model, FixtureRoot.Folder(fixture));
    }
}
