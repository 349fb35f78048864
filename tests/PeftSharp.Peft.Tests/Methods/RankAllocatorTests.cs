using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.AdaLora;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Tests.Methods;

/// <summary>
/// The rank allocator against Hugging Face PEFT 0.14's definition (adalora/layer.py, RankAllocator), with expected
/// values worked out by hand from that definition.
/// </summary>
public class RankAllocatorTests
{
    private static RankAllocator.Triplets Module(string key, float[] a, float[] e, float[] b, float[] ga, float[] ge, float[] gb)
    {
        int r = e.Length;
        Tensor T(float[] v, float[] g, int rows, int cols)
        {
            var t = Tensor.FromArray(v, rows, cols);
            t.RequiresGrad = true;
            t.Grad = Tensor.FromArray(g, rows, cols);
            return t;
        }
        return new(key, T(a, ga, r, a.Length / r), T(e, ge, r, 1), T(b, gb, b.Length / r, r));
    }

    private static RankAllocator.Triplets EOnly(string key, float[] e) =>
        Module(key, new float[e.Length], e, new float[e.Length], new float[e.Length], e.Select(_ => 1f).ToArray(), new float[e.Length]);

    [Fact]
    public void BudgetSchedule_IsCubicBetweenTinitAndTotalMinusTfinal()
    {
        // 4 modules of init_r 6 → 24; target 4 × 4 = 16; tinit 2, tfinal 3, total 10, deltaT 2.
        var config = new AdaLoraConfig { TargetModules = ModuleSelector.List("x"), InitR = 6, TargetR = 4, Tinit = 2, Tfinal = 3, TotalStep = 10, DeltaT = 2 };
        var modules = Enumerable.Range(0, 4).Select(i => EOnly("m" + i, new float[6])).ToArray();
        var alloc = new RankAllocator(config, modules);
        Assert.Equal(24, alloc.InitialBudget);
        Assert.Equal(16, alloc.TargetBudget);
        // step 3: mul = 1 − 1/5 = 0.8, 8·0.512 + 16 = 20.096 → 20; step 4: 8·0.216 + 16 → 17; step 5: 8·0.064 + 16 → 16;
        // step 7 = total − tfinal: mul = 0 → 16 (7 is odd: no mask); step 8 > 7: target with mask.
        (int, bool)[] expected = [(24, false), (24, false), (20, false), (17, true), (16, false), (16, true), (16, false), (16, true), (16, true)];
        for (int step = 1; step <= 9; step++)
        {
            Assert.Equal(expected[step - 1], alloc.BudgetSchedule(step));
        }
    }

    [Fact]
    public void UpdateImportance_SmoothsSensitivityAndUncertainty()
    {
        var config = new AdaLoraConfig { TargetModules = ModuleSelector.List("x"), InitR = 1, TotalStep = 10 };
        // |p·g|: A 2·0.5 = 1, E 3·1 = 3, B 1·4 = 4.
        var m = Module("m", [2f], [3f], [-1f], [0.5f], [-1f], [4f]);
        var alloc = new RankAllocator(config, [m]);
        alloc.UpdateImportance();
        alloc.UpdateImportance();
        // Ī₁ = 0.15·I, Ū₁ = 0.15·|I − Ī₁| = 0.1275·I; Ī₂ = 0.85·0.15·I + 0.15·I = 0.2775·I;
        // Ū₂ = 0.85·0.1275·I + 0.15·|I − 0.2775·I| = 0.21675·I.
        foreach (var (p, ipt) in new[] { (m.A, 1f), (m.E, 3f), (m.B, 4f) })
        {
            var (s, u) = alloc.Scores(p);
            Assert.Equal(0.2775 * ipt, s[0], 5e-7 * ipt);
            Assert.Equal(0.21675 * ipt, u[0], 5e-7 * ipt);
        }
        // Triplet score: Ī·Ū of E + mean over A's row + mean over B's column = (1 + 9 + 16)·0.2775·0.21675.
        Assert.Equal(26 * 0.2775 * 0.21675, alloc.TripletScores()[0][0], 1e-6);
    }

    [Fact]
    public void MaskToBudget_PrunesTheLowestScoringTriplets()
    {
        var config = new AdaLoraConfig { TargetModules = ModuleSelector.List("x"), InitR = 3, TotalStep = 10 };
        // Only E has gradients, so a triplet's score grows with |E_k|: order m2[0] < m1[0] < m1[1] < m2[2] < m1[2] < m2[1].
        var m1 = EOnly("m1.lora_E", [1f, 2f, 3f]);
        var m2 = EOnly("m2.lora_E", [0.5f, 4f, 2.5f]);
        var alloc = new RankAllocator(config, [m1, m2]);
        alloc.UpdateImportance();
        var pattern = alloc.MaskToBudget(4);   // prune 6 − 4 = 2
        Assert.Equal([false, true, true], pattern["m1.lora_E"]);
        Assert.Equal([false, true, true], pattern["m2.lora_E"]);
        Assert.Equal([0f, 2f, 3f], m1.E.ToArray());
        Assert.Equal([0f, 4f, 2.5f], m2.E.ToArray());
    }

    [Fact]
    public void MaskToBudget_PrunesEveryTripletTiedAtTheThreshold()
    {
        var config = new AdaLoraConfig { TargetModules = ModuleSelector.List("x"), InitR = 3, TotalStep = 10 };
        var m1 = EOnly("a", [1f, 2f, 3f]);
        var m2 = EOnly("b", [1f, 4f, 5f]);
        var alloc = new RankAllocator(config, [m1, m2]);
        alloc.UpdateImportance();
        var pattern = alloc.MaskToBudget(5);   // k = 1, but two triplets share the smallest score (PEFT masks score ≤ threshold)
        Assert.Equal(4, pattern.Values.Sum(p => p.Count(k => k)));
    }

    [Fact]
    public void UpdateImportance_WithoutGradient_SaysWhen()
    {
        var config = new AdaLoraConfig { TargetModules = ModuleSelector.List("x"), InitR = 1, TotalStep = 10 };
        var m = EOnly("m", [1f]);
        m.E.Grad = null;
        var ex = Assert.Throws<InvalidOperationException>(() => new RankAllocator(config, [m]).UpdateImportance());
        Assert.Contains("m", ex.Message);
    }

    [Fact]
    public void ValidateSchedule_NeedsTotalStepBeyondTinitPlusTfinal()
    {
        var c = new AdaLoraConfig { TargetModules = ModuleSelector.List("x"), Tinit = 3, Tfinal = 2 };
        Assert.Throws<AdapterConfigException>(() => c.ValidateSchedule());
        Assert.Throws<AdapterConfigException>(() => (c with { TotalStep = 5 }).ValidateSchedule());
        (c with { TotalStep = 6 }).ValidateSchedule();
    }
}
