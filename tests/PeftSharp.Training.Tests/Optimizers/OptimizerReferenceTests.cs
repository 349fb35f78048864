using PeftSharp.Tensors;
using PeftSharp.Tensors.Serialization;
using PeftSharp.Training.Optimizers;

namespace PeftSharp.Training.Tests.Optimizers;

/// <summary>AdamW and SGD against float64 scalar re-derivations of the torch update rules, over several steps.</summary>
public class OptimizerReferenceTests
{
    // Two parameters with lengths that exercise the vector body and every tail length class (37 = 4·8 + 5, 8, 3).
    private static readonly int[][] Shapes = [[37], [2, 4], [3]];

    private static (List<(string, Tensor)> Params, double[][] Reference) MakeParameters(ulong seed)
    {
        var rng = new Rng(seed);
        var list = new List<(string, Tensor)>();
        var reference = new double[Shapes.Length][];
        for (int k = 0; k < Shapes.Length; k++)
        {
            var t = Tensor.Normal(Shapes[k], 0f, 1f, rng);
            t.RequiresGrad = true;
            list.Add(($"p{k}", t));
            reference[k] = t.ToArray().Select(v => (double)v).ToArray();
        }
        return (list, reference);
    }

    private static float[][] RandomGrads(Rng rng) => Shapes.Select(s => Tensor.Normal(s, 0f, 1f, rng).ToArray()).ToArray();

    // Float32 state rounding over ≤ 6 steps leaves errors of a few ulps of |p| ≈ 1 plus lr·(relative error of
    // m/√v) ≈ 1e-2·1e-6; 1e-6 absolute + 1e-5 relative bounds both with a wide margin while catching any
    // mistake in the rule (e.g. a missing bias correction changes p by ≥ 1e-3).
    private static void AssertClose(double[][] reference, List<(string, Tensor)> parameters, string context)
    {
        for (int k = 0; k < reference.Length; k++)
        {
            var actual = parameters[k].Item2.ToArray();
            for (int i = 0; i < actual.Length; i++)
            {
                double err = Math.Abs(actual[i] - reference[k][i]);
                Assert.True(err <= 1e-6 + 1e-5 * Math.Abs(reference[k][i]), $"{context}: p{k}[{i}] = {actual[i]}, float64 reference {reference[k][i]}");
            }
        }
    }

    [Theory]
    [InlineData(false, 0.01)]
    [InlineData(true, 0.01)]
    [InlineData(false, 0.0)]
    public void AdamW_SeveralSteps_MatchFloat64Reference(bool amsgrad, double wd)
    {
        const double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        var (parameters, p) = MakeParameters(11);
        var m = p.Select(a => new double[a.Length]).ToArray();
        var v = p.Select(a => new double[a.Length]).ToArray();
        var vmax = p.Select(a => new double[a.Length]).ToArray();
        var adam = new AdamW(parameters, lr, b1, b2, eps, wd, amsgrad);
        var rng = new Rng(5);
        for (int t = 1; t <= 6; t++)
        {
            var grads = RandomGrads(rng);
            for (int k = 0; k < parameters.Count; k++)
            {
                parameters[k].Item2.Grad = Tensor.FromArray(grads[k], Shapes[k]);
                for (int i = 0; i < p[k].Length; i++)
                {
                    double g = grads[k][i];
                    p[k][i] *= 1 - lr * wd;
                    m[k][i] = b1 * m[k][i] + (1 - b1) * g;
                    v[k][i] = b2 * v[k][i] + (1 - b2) * g * g;
                    vmax[k][i] = Math.Max(vmax[k][i], v[k][i]);
                    double vhat = (amsgrad ? vmax[k][i] : v[k][i]) / (1 - Math.Pow(b2, t));
                    double mhat = m[k][i] / (1 - Math.Pow(b1, t));
                    p[k][i] -= lr * mhat / (Math.Sqrt(vhat) + eps);
                }
            }
            adam.Step();
            AssertClose(p, parameters, $"step {t}");
        }
    }

    [Theory]
    [InlineData(0.0, 0.0, 0.0, false)]
    [InlineData(0.9, 0.0, 0.0, false)]
    [InlineData(0.9, 0.1, 0.01, false)]
    [InlineData(0.9, 0.0, 0.01, true)]
    public void Sgd_SeveralSteps_MatchFloat64Reference(double momentum, double dampening, double wd, bool nesterov)
    {
        const double lr = 0.05;
        var (parameters, p) = MakeParameters(23);
        var buf = p.Select(a => new double[a.Length]).ToArray();
        var sgd = new Sgd(parameters, lr, momentum, dampening, wd, nesterov);
        var rng = new Rng(9);
        for (int t = 1; t <= 5; t++)
        {
            var grads = RandomGrads(rng);
            for (int k = 0; k < parameters.Count; k++)
            {
                parameters[k].Item2.Grad = Tensor.FromArray(grads[k], Shapes[k]);
                for (int i = 0; i < p[k].Length; i++)
                {
                    double d = grads[k][i] + wd * p[k][i];
                    if (momentum != 0)
                    {
                        buf[k][i] = t == 1 ? d : momentum * buf[k][i] + (1 - dampening) * d;
                        d = nesterov ? d + momentum * buf[k][i] : buf[k][i];
                    }
                    p[k][i] -= lr * d;
                }
            }
            sgd.Step();
            AssertClose(p, parameters, $"step {t}");
        }
    }

    [Fact]
    public void AdamW_WeightDecayGroups_DecayOnlyTheirGroup()
    {
        // With a zero gradient, m = v = 0 and the Adam term vanishes; what remains is exactly p·(1 − lr·wd) in the
        // decayed group and p in the other.
        var w = Tensor.FromArray([1f, -2f, 3f], 3);
        var b = Tensor.FromArray([0.5f, -0.25f], 2);
        var norm = Tensor.FromArray([4f], 1);
        var groups = ParameterGroups.SplitWeightDecay([("lin.weight", w), ("lin.bias", b), ("input_layernorm.weight", norm)], 0.1);
        Assert.Equal(2, groups.Count);
        Assert.Equal(["lin.weight"], groups[0].Parameters.Select(x => x.Name));
        foreach (var t in new[] { w, b, norm })
        {
            t.Grad = Tensor.Zeros(t.Shape.ToArray());
        }
        var adam = new AdamW(groups, learningRate: 0.5);
        adam.Step();
        Assert.Equal(new[] { 1f * (float)(1 - 0.5 * 0.1), -2f * (float)(1 - 0.5 * 0.1), 3f * (float)(1 - 0.5 * 0.1) }, w.ToArray());
        Assert.Equal(new[] { 0.5f, -0.25f }, b.ToArray());
        Assert.Equal(new[] { 4f }, norm.ToArray());
    }

    [Fact]
    public void Step_SkipsParametersWithoutGradient()
    {
        var (parameters, _) = MakeParameters(3);
        var before = parameters[1].Item2.ToArray();
        parameters[0].Item2.Grad = Tensor.Ones(Shapes[0]);
        var adam = new AdamW(parameters, weightDecay: 0.5);
        adam.Step();
        Assert.Equal(before, parameters[1].Item2.ToArray());
        var state = adam.StateDict();
        Assert.True(state.ContainsKey("p0.exp_avg"));
        Assert.False(state.ContainsKey("p1.exp_avg"));
    }

    [Fact]
    public void Kernels_VectorPathEqualsScalarSpecification_AtEveryLength()
    {
        var rng = new Rng(77);
        for (int n = 0; n <= 257; n++)
        {
            float[] R() => Enumerable.Range(0, n).Select(_ => rng.NextNormal()).ToArray();
            float[] Sq() => Enumerable.Range(0, n).Select(_ => MathF.Abs(rng.NextNormal())).ToArray();
            var p = R();
            var g = R();
            var m = R();
            var v = Sq();
            var x = Sq();
            var k = new AdamW.Coefficients { Decay = 0.999f, Beta1 = 0.9f, OneMinusBeta1 = 0.1f, Beta2 = 0.999f, OneMinusBeta2 = 0.001f, NegStepSize = -0.003f, BiasCorrection2Sqrt = 0.05f, Epsilon = 1e-8f };
            foreach (bool ams in new[] { false, true })
            {
                float[] p1 = (float[])p.Clone(), m1 = (float[])m.Clone(), v1 = (float[])v.Clone(), x1 = (float[])x.Clone();
                float[] p2 = (float[])p.Clone(), m2 = (float[])m.Clone(), v2 = (float[])v.Clone(), x2 = (float[])x.Clone();
                AdamW.Kernel(p1, g, m1, v1, ams ? x1 : default, k);
                AdamW.KernelScalar(p2, g, m2, v2, ams ? x2 : default, k);
                Assert.Equal(p2, p1);
                Assert.Equal(m2, m1);
                Assert.Equal(v2, v1);
                Assert.Equal(x2, x1);
            }
            foreach (var (first, nesterov) in new[] { (true, false), (false, false), (false, true) })
            {
                var k2 = new Sgd.Coefficients { WeightDecay = 0.01f, Momentum = 0.9f, OneMinusDampening = 0.9f, NegLearningRate = -0.1f, HasDecay = true, HasMomentum = true, FirstStep = first, Nesterov = nesterov };
                float[] p1 = (float[])p.Clone(), b1 = (float[])m.Clone();
                float[] p2 = (float[])p.Clone(), b2 = (float[])m.Clone();
                Sgd.Kernel(p1, g, b1, k2);
                Sgd.KernelScalar(p2, g, b2, k2);
                Assert.Equal(p2, p1);
                Assert.Equal(b2, b1);
            }
        }
    }

    [Fact]
    public void StateDict_RoundTripThroughFile_ContinuesBitwise()
    {
        using var dir = new TempDir();
        var (pa, _) = MakeParameters(31);
        var (pb, _) = MakeParameters(31);
        var a = new AdamW(pa, 1e-2, amsgrad: true);
        var gradRng = new Rng(4);
        var grads = Enumerable.Range(0, 5).Select(_ => RandomGrads(gradRng)).ToArray();
        void Feed(List<(string, Tensor)> ps, float[][] g)
        {
            for (int k = 0; k < ps.Count; k++)
            {
                ps[k].Item2.Grad = Tensor.FromArray(g[k], Shapes[k]);
            }
        }
        for (int s = 0; s < 3; s++)
        {
            Feed(pa, grads[s]);
            a.Step();
        }
        var file = Path.Combine(dir.Path, "optimizer.safetensors");
        TensorFile.Save(file, a.StateDict());
        for (int k = 0; k < pa.Count; k++)
        {
            pa[k].Item2.CopyTo(pb[k].Item2.Span);
        }
        var b = new AdamW(pb, 1e-2, amsgrad: true);
        b.LoadStateDict(TensorFile.Load(file));
        for (int s = 3; s < 5; s++)
        {
            Feed(pa, grads[s]);
            Feed(pb, grads[s]);
            a.Step();
            b.Step();
        }
        for (int k = 0; k < pa.Count; k++)
        {
            Assert.Equal(pa[k].Item2.ToArray(), pb[k].Item2.ToArray());
        }
    }

    [Fact]
    public void LoadStateDict_RejectsMismatchedState_NamingTheProblem()
    {
        var (parameters, _) = MakeParameters(1);
        foreach (var (_, t) in parameters)
        {
            t.Grad = Tensor.Ones(t.Shape.ToArray());
        }
        var adam = new AdamW(parameters);
        adam.Step();
        var good = adam.StateDict();

        var wrongShape = new Dictionary<string, Tensor>(good) { ["p1.exp_avg"] = Tensor.Zeros(7) };
        var e1 = Assert.Throws<InvalidDataException>(() => new AdamW(parameters).LoadStateDict(wrongShape));
        Assert.Contains("p1.exp_avg", e1.Message);
        Assert.Contains("[2, 4]", e1.Message);

        var extra = new Dictionary<string, Tensor>(good) { ["other.exp_avg"] = Tensor.Zeros(3) };
        var e2 = Assert.Throws<InvalidDataException>(() => new AdamW(parameters).LoadStateDict(extra));
        Assert.Contains("'other.exp_avg' does not belong", e2.Message);

        var missing = new Dictionary<string, Tensor>(good);
        missing.Remove("p2.exp_avg_sq");
        var e3 = Assert.Throws<InvalidDataException>(() => new AdamW(parameters).LoadStateDict(missing));
        Assert.Contains("'p2.exp_avg_sq' is missing", e3.Message);
    }

    [Fact]
    public void Constructor_RejectsBadInput()
    {
        var t = Tensor.Zeros(3);
        Assert.Throws<ArgumentException>(() => new AdamW([("a", t), ("a", Tensor.Zeros(2))]));
        Assert.Throws<ArgumentException>(() => new AdamW([("a", t), ("b", t)]));
        Assert.Throws<ArgumentException>(() => new AdamW(Array.Empty<(string, Tensor)>()));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW([("a", t)], beta1: 1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW([("a", t)], learningRate: double.NaN));
        Assert.Throws<ArgumentException>(() => new Sgd([("a", t)], 0.1, momentum: 0, nesterov: true));
    }

    [Fact]
    public void SteadyStateStep_AllocatesNothing()
    {
        var (parameters, _) = MakeParameters(2);
        var adam = new AdamW(parameters, amsgrad: true);
        var tensors = adam.Parameters;
        void OneStep()
        {
            foreach (var (_, t) in parameters)
            {
                if (t.Grad is null)
                {
                    t.Grad = Tensor.Ones(t.Shape.ToArray());
                }
                else
                {
                    t.Grad.Span.Fill(0.5f);
                }
            }
            GradientTools.ClipGradNorm(tensors, 0.1);
            adam.Step();
            adam.ZeroGrad();
        }
        for (int i = 0; i < 3; i++)
        {
            OneStep();
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++)
        {
            OneStep();
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
