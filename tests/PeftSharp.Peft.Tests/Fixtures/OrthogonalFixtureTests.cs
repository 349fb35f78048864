using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.Oft;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Serialization;
using Xunit.Abstractions;

namespace PeftSharp.Peft.Tests.Fixtures;

/// <summary>
/// The OFT, BOFT, HRA, Bone and AdaLoRA fixtures through the same checks as the LoRA/IA3 ones (trained parameter
/// names and shapes, merged weights within rtol 1e-5 / atol 1e-6, save reproduces the folder), plus what only these
/// methods have.
/// </summary>
public sealed class OrthogonalFixtureTests(ITestOutputHelper output)
{
    public static TheoryData<string> Fixtures() => FixtureRoot.Rows("llama-oft");

    private readonly FixtureAdapterTests _shared = new(output);

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Load_TrainsExactlyThePeftParameterNames(string fixture) => _shared.Load_TrainsExactlyThePeftParameterNames(fixture);

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void MergeAndUnload_EqualsFixtureMergedWeights(string fixture) => _shared.MergeAndUnload_EqualsFixtureMergedWeights(fixture);

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void SavePretrained_ReproducesTheAdapterFolder(string fixture) => _shared.SavePretrained_ReproducesTheAdapterFolder(fixture);

    [Fact]
    public void Oft_RotationsAreOrthogonal()
    {
        if (FixtureRoot.Root is null)
        {
            output.WriteLine("PEFT fixtures not found; not run.");
            return;
        }
        var dir = FixtureRoot.Folder("llama-oft");
        var model = PeftModel.FromPretrained(TestSupport.TreeFromStateDict(Path.Combine(dir, "model.safetensors")), dir);
        foreach (var (path, layer) in model.AdapterLayers())
        {
            var q = ((OftLayer)layer).Rotation("default");
            var qtq = Tensor.MatMul(q.Transpose(-2, -1), q).ToArray();
            int b = q.Dim(-1);
            var eye = Enumerable.Range(0, qtq.Length).Select(i => (i % (b * b)) / b == i % b ? 1f : 0f).ToArray();
            // QᵀQ = I up to float32 rounding of a b-term product (b = 16 here).
            TestSupport.AssertClose(eye, qtq, 0, 1e-5, path);
        }
    }
}
