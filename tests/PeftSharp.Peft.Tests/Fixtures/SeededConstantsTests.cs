using PeftSharp.Peft.Core;
using PeftSharp.Peft.Formats;
using PeftSharp.Peft.Methods.FourierFT;
using PeftSharp.Peft.Methods.LoKr;
using PeftSharp.Peft.Methods.Vera;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Serialization;
using Xunit.Abstractions;

namespace PeftSharp.Peft.Tests.Fixtures;

/// <summary>
/// Adapter constants Hugging Face PEFT derives from a seed with torch's CPU generator are rebuilt exactly (bit for bit):
/// FourierFT's spectrum positions (randperm) against the fixture's aux indices, VeRA's projections (uniform_) against
/// the fixture's aux projections, so neither needs to travel in the adapter file. LoKr's factorisation follows the
/// examples of PEFT's documentation.
/// </summary>
public sealed class SeededConstantsTests(ITestOutputHelper output)
{
    private bool Missing(string fixture)
    {
        if (FixtureRoot.Root is null || !Directory.Exists(FixtureRoot.Folder(fixture)))
        {
            output.WriteLine($"{fixture} not found (set PEFTSHARP_FIXTURES); not run.");
            return true;
        }
        return false;
    }

    [Fact]
    public void FourierFT_PositionsEqualTorchRandpermOfTheFixture()
    {
        if (Missing("llama-fourierft"))
        {
            return;
        }
        var dir = FixtureRoot.Folder("llama-fourierft");
        var io = TensorFile.Load(Path.Combine(dir, "io.safetensors"));
        var model = PeftModel.FromPretrained(TestSupport.TreeFromStateDict(Path.Combine(dir, "model.safetensors")), dir);
        var layers = model.AdapterLayers().ToArray();
        Assert.Equal(4, layers.Length);
        foreach (var (path, layer) in layers)
        {
            var expected = io[$"aux.{PeftModel.KeyPrefix}{path}.fourierft_indices"].ToIntArray();   // (2, n): rows, then columns
            var (rows, cols) = ((FourierFTLayer)layer).Positions("default");
            Assert.Equal(expected, rows.Concat(cols).ToArray());
        }
    }

    [Fact]
    public void Vera_ProjectionsEqualTorchKaimingUniformOfTheFixture()
    {
        if (Missing("llama-vera"))
        {
            return;
        }
        var io = TensorFile.Load(Path.Combine(FixtureRoot.Folder("llama-vera"), "io.safetensors"));
        var (a, b) = VeraMethod.Projections(8, 64, 64, key: 0);
        Assert.Equal(io["aux.vera_A"].Shape.ToArray(), a.Shape.ToArray());
        Assert.Equal(io["aux.vera_A"].ToArray(), a.ToArray());
        Assert.Equal(io["aux.vera_B"].ToArray(), b.ToArray());
    }

    [Fact]
    public void Vera_FileWithoutProjectionsRebuildsThemFromTheKey()
    {
        if (Missing("llama-vera"))
        {
            return;
        }
        var src = FixtureRoot.Folder("llama-vera");
        var dir = TestSupport.TempDir();
        File.Copy(Path.Combine(src, AdapterConfig.FileName), Path.Combine(dir, AdapterConfig.FileName));
        var kept = TensorFile.Load(Path.Combine(src, AdapterFiles.WeightsFileName)).Where(kv => !kv.Key.StartsWith("base_model.vera_", StringComparison.Ordinal)).ToList();
        Assert.Equal(8, kept.Count);
        TensorFile.Save(Path.Combine(dir, AdapterFiles.WeightsFileName), kept, TensorFile.PyTorchMetadata);
        var model = PeftModel.FromPretrained(TestSupport.TreeFromStateDict(Path.Combine(src, "model.safetensors")), dir);
        var io = TensorFile.Load(Path.Combine(src, "io.safetensors"));
        var state = model.AdapterStateDict("default");
        Assert.Equal(io["aux.vera_A"].ToArray(), state["base_model.vera_A"].ToArray());
        Assert.Equal(io["aux.vera_B"].ToArray(), state["base_model.vera_B"].ToArray());
    }

    [Fact]
    public void Vera_ShapeMismatchedProjectionIsRejectedByName()
    {
        if (Missing("llama-vera"))
        {
            return;
        }
        var src = FixtureRoot.Folder("llama-vera");
        var dir = TestSupport.TempDir();
        File.Copy(Path.Combine(src, AdapterConfig.FileName), Path.Combine(dir, AdapterConfig.FileName));
        var tensors = TensorFile.Load(Path.Combine(src, AdapterFiles.WeightsFileName)).ToList();
        int i = tensors.FindIndex(kv => kv.Key == "base_model.vera_A");
        tensors[i] = new(tensors[i].Key, Tensor.Zeros(8, 32));
        TensorFile.Save(Path.Combine(dir, AdapterFiles.WeightsFileName), tensors, TensorFile.PyTorchMetadata);
        var ex = Assert.Throws<AdapterLoadException>(() => PeftModel.FromPretrained(TestSupport.TreeFromStateDict(Path.Combine(src, "model.safetensors")), dir));
        Assert.Contains("base_model.vera_A", ex.Message);
    }

    [Theory]
    [InlineData(256, -1, 16, 16)]
    [InlineData(128, -1, 8, 16)]
    [InlineData(127, -1, 1, 127)]
    [InlineData(128, 4, 4, 32)]
    [InlineData(64, -1, 8, 8)]
    [InlineData(32, -1, 4, 8)]
    public void LoKr_FactorizationFollowsPeft(int dimension, int factor, int m, int n) =>
        Assert.Equal((m, n), LoKrFactors.Factorize(dimension, factor));
}
