namespace PeftSharp.Tensors.Tests.Kernels;

/// <summary>Deterministic inputs and float64 helpers shared by the kernel tests.</summary>
internal static class KernelTestData
{
    /// <summary>Odd and aligned sizes so every vector tail runs.</summary>
    public static readonly int[] OddSizes = [1, 7, 17, 33, 65];

    public static float[] Uniform(int n, int seed, float lo = -1f, float hi = 1f)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++)
        {
            a[i] = (float)(lo + (hi - lo) * rng.NextDouble());
        }
        return a;
    }

    /// <summary>Distance in units in the last place between two finite floats of the same sign (monotone bit order).</summary>
    public static long UlpDistance(float a, float b)
    {
        int ia = BitConverter.SingleToInt32Bits(a);
        int ib = BitConverter.SingleToInt32Bits(b);
        long la = ia < 0 ? int.MinValue - (long)ia : ia;
        long lb = ib < 0 ? int.MinValue - (long)ib : ib;
        return Math.Abs(la - lb);
    }

    /// <summary>erf in float64 to ~1e-15: Maclaurin series for |x| ≤ 2, erfc continued fraction above.</summary>
    public static double Erf(double x)
    {
        double ax = Math.Abs(x);
        if (double.IsNaN(x))
        {
            return x;
        }
        if (ax <= 2)
        {
            // erf(x) = 2/√π Σ (−1)^n x^(2n+1) / (n!(2n+1)); terms stay below ~10, so no digits are lost.
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 200; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-18 * Math.Abs(sum))
                {
                    break;
                }
            }
            return Math.CopySign(2 / Math.Sqrt(Math.PI) * sum, x);
        }
        // erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated bottom-up.
        double k = ax;
        for (int n = 300; n >= 1; n--)
        {
            k = ax + n / 2.0 / k;
        }
        double erfc = Math.Exp(-ax * ax) / (Math.Sqrt(Math.PI) * k);
        return Math.CopySign(1 - erfc, x);
    }

    public static void AssertClose(double expected, float actual, double atol, double rtol, string what)
    {
        double err = Math.Abs(actual - expected);
        if (!(err <= atol + rtol * Math.Abs(expected)))
        {
            Assert.Fail($"{what}: expected {expected:R}, got {actual:R} (|err| {err:E3} > atol {atol:E1} + rtol {rtol:E1}·|expected|)");
        }
    }
}
