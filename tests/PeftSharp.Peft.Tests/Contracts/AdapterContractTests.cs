using PeftSharp.Peft.Core;
using PeftSharp.Peft.Formats;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;
using PeftSharp.Tensors.Serialization;

namespace PeftSharp.Peft.Tests.Contracts;

/// <summary>
/// What every method must satisfy, checked on <see cref="ToyModel"/> with adapters pushed away from the identity
/// (seeded noise), so no check passes vacuously. A method adds one subclass giving its configuration.
/// Tolerances: outputs are O(1) and pass through four float32 layers; re-associating a product (merged vs separate)
/// changes results by a few ulps, hence rtol 1e-4 / atol 1e-5. Weight restoration is one add and one subtract in
/// float32: within 2 ulps of max(|W|, |ΔW|), bounded by atol 1e-6 + rtol 1e-5 here.
/// </summary>
public abstract class AdapterContractTests
{
    protected const ulong ModelSeed = 11;

    /// <summary>The method's configuration under test (targets named as in <see cref="ToyModel"/>).</summary>
    protected abstract AdapterConfig Config { get; }

    private static readonly PeftModelOptions Options = new() { OutputHeadNames = ["head"], Seed = 3 };

    protected PeftModel Make(bool second = false)
    {
        var m = PeftModel.Create(new ToyModel(ModelSeed), Config, "default", Options);
        m.Eval();
        TestSupport.Perturb(m, "default");
        if (second)
        {
            m.AddAdapter("other", Config);
            TestSupport.Perturb(m, "other", seed: 123);
        }
        return m;
    }

    private static float[] Run(Nn.Module m, Tensor ids)
    {
        using var _ = GradMode.NoGrad();
        return m.Forward(ids).ToArray();
    }

    private static float[] BaseOutput(Tensor ids)
    {
        var b = new ToyModel(ModelSeed);
        b.Eval();
        return Run(b, ids);
    }

    [Fact]
    public void Adapter_ChangesTheOutput()
    {
        var ids = ToyModel.Ids(2, 5);
        var diff = Run(Make(), ids).Zip(BaseOutput(ids), (a, b) => MathF.Abs(a - b)).Max();
        Assert.True(diff > 1e-3f, $"the perturbed adapter changed the output by only {diff}");
    }

    [Fact]
    public void Merge_MatchesUnmergedForward()
    {
        var m = Make();
        var ids = ToyModel.Ids(2, 5);
        var before = Run(m, ids);
        m.Merge();
        Assert.All(m.AdapterLayers(), l => Assert.Equal(["default"], l.Layer.MergedAdapters));
        TestSupport.AssertClose(before, Run(m, ids), 1e-4, 1e-5, "merged forward");
    }

    [Fact]
    public void Unmerge_RestoresBaseWeights()
    {
        var m = Make();
        var original = m.Model.NamedParameters().Where(p => p.Name.Contains(AdapterLayer.BaseLayerName + ".")).ToDictionary(p => p.Name, p => p.Parameter.ToArray());
        m.Merge();
        Assert.Contains(original, kv => !kv.Value.SequenceEqual(m.Model.NamedParameters().First(p => p.Name == kv.Key).Parameter.ToArray()));
        m.Unmerge();
        foreach (var (name, p) in m.Model.NamedParameters().Where(p => original.ContainsKey(p.Name)))
        {
            TestSupport.AssertClose(original[name], p.ToArray(), 1e-5, 1e-6, name);
        }
    }

    [Fact]
    public void Disable_EqualsBaseOutputExactly()
    {
        var m = Make();
        var ids = ToyModel.Ids(3, 4);
        float[] disabled;
        using (m.DisableAdapters())
        {
            disabled = Run(m, ids);
        }
        Assert.Equal(BaseOutput(ids), disabled);
        Assert.NotEqual(disabled, Run(m, ids));
    }

    [Fact]
    public void SaveLoad_RoundTripIsExact()
    {
        var m = Make(second: true);
        var dir = TestSupport.TempDir();
        m.SavePretrained(dir);
        Assert.True(File.Exists(Path.Combine(dir, "other", AdapterFiles.WeightsFileName)));
        using (var f = SafetensorsFile.Open(Path.Combine(dir, AdapterFiles.WeightsFileName)))
        {
            Assert.Equal("pt", f.Metadata["format"]);
            Assert.All(f.Tensors, e => Assert.StartsWith(PeftModel.BaseModelName + ".", e.Name));
            Assert.All(f.Tensors, e => Assert.DoesNotContain(".default", e.Name));
        }
        var loaded = PeftModel.FromPretrained(new ToyModel(ModelSeed), dir, options: Options);
        loaded.LoadAdapter(Path.Combine(dir, "other"), "other");
        loaded.Eval();
        var ids = ToyModel.Ids(2, 5);
        foreach (var name in new[] { "default", "other" })
        {
            m.SetAdapter(name);
            loaded.SetAdapter(name);
            Assert.Equal(Run(m, ids), Run(loaded, ids));
            var a = m.AdapterStateDict(name);
            var b = loaded.AdapterStateDict(name);
            Assert.Equal(a.Keys.Order(), b.Keys.Order());
            Assert.All(a, kv => Assert.Equal(kv.Value.ToArray(), b[kv.Key].ToArray()));
        }
        Assert.Empty(loaded.NamedTrainableParameters());
    }

    [Fact]
    public void MixedBatch_EqualsPerRowRuns()
    {
        var m = Make(second: true);
        var ids = ToyModel.Ids(4, 3);
        string[] rows = ["other", AdapterSelection.BaseRow, "default", "other"];
        m.RowAdapterNames = rows;
        var mixed = Run(m, ids);
        m.RowAdapterNames = null;
        int width = mixed.Length / rows.Length;
        for (int i = 0; i < rows.Length; i++)
        {
            var row = Tensor.FromInts(ids.ToIntArray().AsSpan(i * 3, 3), 1, 3);
            float[] alone;
            if (rows[i] == AdapterSelection.BaseRow)
            {
                using (m.DisableAdapters())
                {
                    alone = Run(m, row);
                }
            }
            else
            {
                m.SetAdapter(rows[i]);
                alone = Run(m, row);
            }
            TestSupport.AssertClose(alone, mixed.AsSpan(i * width, width), 1e-6, 1e-7, $"row {i} ({rows[i]})");
        }
    }

    [Fact]
    public void Delete_LeavesNothingBehind()
    {
        var m = Make();
        var names = m.NamedParameters().Select(p => p.Name).ToArray();
        var modules = m.NamedModules().Select(p => p.Path).ToArray();
        m.AddAdapter("other", Config);
        Assert.Contains(m.NamedParameters(), p => p.Name.Contains(".other"));
        m.DeleteAdapter("other");
        Assert.Equal(names, m.NamedParameters().Select(p => p.Name).ToArray());
        Assert.Equal(modules, m.NamedModules().Select(p => p.Path).ToArray());
        m.DeleteAdapter("default");
        Assert.Equal(new ToyModel(ModelSeed).NamedParameters().Select(p => "base_model.model." + p.Name), m.NamedParameters().Select(p => p.Name));
        var ids = ToyModel.Ids(2, 2);
        Assert.Equal(BaseOutput(ids), Run(m, ids));
    }

    [Fact]
    public void MergeAndUnload_ReturnsPlainModelComputingTheAdaptedFunction()
    {
        var m = Make();
        var ids = ToyModel.Ids(2, 5);
        var adapted = Run(m, ids);
        var plain = m.MergeAndUnload();
        Assert.Equal(new ToyModel(ModelSeed).NamedParameters().Select(p => p.Name), plain.NamedParameters().Select(p => p.Name));
        TestSupport.AssertClose(adapted, Run(plain, ids), 1e-4, 1e-5, "merged-and-unloaded forward");
    }

    [Fact]
    public void Backward_ReachesOnlyTheActiveAdapter()
    {
        var m = Make(second: true);
        m.Train();
        var loss = m.Forward(ToyModel.Ids(2, 3)).Mul(m.Forward(ToyModel.Ids(2, 3))).Sum();
        loss.Backward();
        var trainable = m.NamedTrainableParameters().ToArray();
        Assert.NotEmpty(trainable);
        Assert.All(trainable, p => Assert.DoesNotContain(".other", p.Name));
        Assert.All(trainable, p => Assert.True(p.Parameter.Grad is not null, $"{p.Name} got no gradient"));
        Assert.All(m.NamedParameters().Where(p => !p.Parameter.RequiresGrad), p => Assert.Null(p.Parameter.Grad));
    }
}
