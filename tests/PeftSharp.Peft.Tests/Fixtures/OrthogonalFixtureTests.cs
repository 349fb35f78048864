using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.Boft;
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
    public static TheoryData<string> Fixtures() => FixtureRoot.Rows("llama-oft", "llama-boft", "llama-hra", "llama-bone", "llama-adalora");

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

    [Fact]
    public void Boft_PermutationsEqualTheFixtureBuffers_AndRotationsAreOrthogonal()
    {
        if (FixtureRoot.Root is null)
        {
            output.WriteLine("PEFT fixtures not found; not run.");
            return;
        }
        var dir = FixtureRoot.Folder("llama-boft");
        var io = TensorFile.Load(Path.Combine(dir, "io.safetensors"));
        var model = PeftModel.FromPretrained(TestSupport.TreeFromStateDict(Path.Combine(dir, "model.safetensors")), dir);
        int checkedBuffers = 0;
        foreach (var (path, layer) in model.AdapterLayers())
        {
            var boft = (BoftLayer)layer;
            var perms = boft.Adapter("default").Permutations;
            var expected = io["buffer." + PeftModel.KeyPrefix + path + ".boft_P"];
            int n = boft.InFeatures;
            Assert.Equal([perms.Length, n, n], expected.Shape.ToArray());
            var p = new float[perms.Length * n * n];
            for (int f = 0; f < perms.Length; f++)
            {
                for (int k = 0; k < n; k++)
                {
                    p[f * n * n + k * n + perms[f][k]] = 1f;
                }
            }
            Assert.Equal(expected.ToArray(), p);
            checkedBuffers++;
            var t = Tensor.FromArray(boft.DenseRotation("default"), n, n);
            TestSupport.AssertClose(Tensor.FromArray(OrthogonalBlocksIdentity(n), n, n).ToArray(), Tensor.MatMul(t.T, t).ToArray(), 0, 1e-5, path);
        }
        Assert.Equal(4, checkedBuffers);
    }

    [Fact]
    public void Boft_ButterflyPermutation_FollowsPeftDefinition()
    {
        // n = 8, 2 chunks of 4, groups of 1: each chunk takes its even then its odd positions.
        Assert.Equal([0, 2, 1, 3, 4, 6, 5, 7], BoftLayer.ButterflyPermutation(8, 2, 1, 1));
        // One chunk of 8 in groups of 2: groups 0, 2, 1, 3.
        Assert.Equal([0, 1, 4, 5, 2, 3, 6, 7], BoftLayer.ButterflyPermutation(8, 1, 2, 1));
        Assert.Equal(Enumerable.Range(0, 6), BoftLayer.ButterflyPermutation(6, 3, 1, 0));
    }

    private static float[] OrthogonalBlocksIdentity(int n) => Enumerable.Range(0, n * n).Select(i => i / n == i % n ? 1f : 0f).ToArray();
}
