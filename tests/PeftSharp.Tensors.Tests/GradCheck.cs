using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Tensors.Tests;

/// <summary>
/// Checks autograd against central finite differences. The scalar objective is L = Σ f(inputs) ⊙ R with a
/// fixed random R, accumulated in float64; each input element is perturbed by ±h and the difference quotient
/// is formed in float64. Float32 forward rounding (~1e-7 relative) divided by 2h bounds the numeric noise,
/// hence the default tolerances.
/// </summary>
public static class GradCheck
{
    public static void Check(Func<Tensor[], Tensor> f, Tensor[] inputs, double h = 1e-2, double atol = 5e-3, double rtol = 1e-2, ulong seed = 7)
    {
        foreach (var x in inputs)
        {
            if (x.DType == DType.F32 && x.IsLeaf)
            {
                x.RequiresGrad = true;
                x.Grad = null;
            }
        }
        var output = f(inputs);
        var rng = new Rng(seed);
        var r = new double[output.Numel];
        for (int i = 0; i < r.Length; i++)
        {
            r[i] = rng.NextDouble() * 2 - 1;
        }
        var weights = Tensor.FromArray(r.Select(v => (float)v).ToArray(), output.ShapeArrayForTests());
        output.Mul(weights).Sum().Backward();

        for (int t = 0; t < inputs.Length; t++)
        {
            var x = inputs[t];
            if (!x.RequiresGrad)
            {
                continue;
            }
            Assert.NotNull(x.Grad);
            var analytic = x.Grad!.ToArray();
            var data = x.Span;
            for (int i = 0; i < data.Length; i++)
            {
                float saved = data[i];
                data[i] = (float)(saved + h);
                double plus = Objective(f, inputs, r);
                data[i] = (float)(saved - h);
                double minus = Objective(f, inputs, r);
                data[i] = saved;
                double numeric = (plus - minus) / (2 * h);
                double diff = Math.Abs(numeric - analytic[i]);
                Assert.True(diff <= atol + rtol * Math.Abs(numeric),
                    $"input {t} element {i}: analytic {analytic[i]:G6} vs numeric {numeric:G6} (|Δ| = {diff:G3})");
            }
        }
    }

    private static double Objective(Func<Tensor[], Tensor> f, Tensor[] inputs, double[] r)
    {
        using var _ = GradMode.NoGrad();
        var y = f(inputs).ToArray();
        double s = 0;
        for (int i = 0; i < y.Length; i++)
        {
            s += y[i] * r[i];
        }
        return s;
    }

    public static int[] ShapeArrayForTests(this Tensor t) => t.Shape.ToArray();

    public static Tensor Rand(Rng rng, params int[] shape) => Tensor.Uniform(shape, -1f, 1f, rng);

    /// <summary>Max |a − b| ≤ atol + rtol·|b| elementwise, with a message naming the worst element.</summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double atol, double rtol, string what = "")
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs((double)expected[i] - actual[i]);
            if (!(diff <= atol + rtol * Math.Abs(expected[i])))
            {
                Assert.Fail($"{what} element {i}: expected {expected[i]:G9}, got {actual[i]:G9} (|Δ| = {diff:G3})");
            }
        }
    }
}
