using PeftSharp.Tensors.Kernels;
using static PeftSharp.Tensors.Tests.Kernels.KernelTestData;

namespace PeftSharp.Tensors.Tests.Kernels;

public class RopeTests
{
    [Fact]
    public void DefaultInverseFrequencies_MatchFloat64Formula()
    {
        float[] inv = Rope.DefaultInverseFrequencies(64, 10000);
        Assert.Equal(32, inv.Length);
        for (int i = 0; i < 32; i++)
        {
            // float32 exponent, pow and reciprocal: ≤ 3 roundings of relative 6e-8, amplified by ln θ·|e| ≤ 9.2 for the exponent.
            AssertClose(1 / Math.Pow(10000, 2.0 * i / 64), inv[i], 0, 1e-6, $"inv_freq[{i}]");
        }
    }

    /// <summary>Independent float64 statement of transformers' llama3 rope_scaling.</summary>
    private static double Llama3(double f, double factor, double low, double high, double orig)
    {
        double wavelen = 2 * Math.PI / f;
        if (wavelen < orig / high)
        {
            return f;
        }
        if (wavelen > orig / low)
        {
            return f / factor;
        }
        double smooth = (orig / wavelen - low) / (high - low);
        return (1 - smooth) * f / factor + smooth * f;
    }

    [Fact]
    public void Llama3InverseFrequencies_MatchTransformersFormula_InEveryRegime()
    {
        float[] baseInv = Rope.DefaultInverseFrequencies(128, 500000);
        float[] inv = Rope.Llama3InverseFrequencies(128, 500000, 8, 1, 4, 8192);
        int kept = 0, divided = 0, blended = 0;
        for (int i = 0; i < inv.Length; i++)
        {
            double wavelen = 2 * Math.PI / baseInv[i];
            if (wavelen < 8192 / 4.0) kept++;
            else if (wavelen > 8192) divided++;
            else blended++;
            AssertClose(Llama3(baseInv[i], 8, 1, 4, 8192), inv[i], 0, 1e-6, $"inv_freq[{i}]");
        }
        Assert.True(kept > 0 && divided > 0 && blended > 0, $"regimes {kept}/{divided}/{blended}");
        Assert.Equal(baseInv[0], inv[0]);
        AssertClose(baseInv[^1] / 8.0, inv[^1], 0, 1e-7, "lowest frequency divided by factor");
    }

    private static double Freq(float inv, int pos) => (float)(inv * (float)pos); // Hugging Face: float32 product

    public static TheoryData<int, int, int, int, int, bool> Cases() => new()
    {
        // B, H, T, D, rotated half, BTHD layout
        { 1, 1, 1, 2, 1, false },
        { 2, 3, 7, 16, 8, true },
        { 2, 2, 17, 10, 3, true },   // partial rotary: 6 of 10 dims rotate
        { 1, 4, 33, 66, 33, false },
    };

    // y = x·cos ∓ x·sin with one fused multiply-add: ≤ 2 roundings, so 4e-7 relative to |x1|+|x2| (≤ 2).
    [Theory]
    [MemberData(nameof(Cases))]
    public void Forward_MatchesFloat64_AndBackwardIsItsTranspose(int B, int H, int T, int D, int half, bool bthd)
    {
        float[] inv = Rope.DefaultInverseFrequencies(2 * half, 10000);
        var table = RopeTable.Create(inv, 4096);
        HeadStrides st = bthd ? HeadStrides.Bthd(H, T, D) : HeadStrides.Bhtd(H, T, D);
        int n = B * H * T * D;
        float[] x = Uniform(n, n + 1), dy = Uniform(n, n + 2), y = new float[n], dx = new float[n];
        var rng = new Random(3);
        int[] pos = Enumerable.Range(0, B * T).Select(_ => rng.Next(4096)).ToArray();
        Rope.Forward(x, y, st, pos, table, B, H, T, D);
        Rope.Backward(dy, dx, st, pos, table, B, H, T, D);
        double dotYdy = 0, dotXdx = 0;
        for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
        for (int t = 0; t < T; t++)
        {
            long o = b * st.Batch + h * st.Head + t * st.Token;
            int p = pos[b * T + t];
            for (int i = 0; i < D; i++)
            {
                double expected;
                if (i < half)
                {
                    double f = Freq(inv[i], p);
                    expected = x[o + i] * (double)(float)Math.Cos(f) - x[o + i + half] * (double)(float)Math.Sin(f);
                }
                else if (i < 2 * half)
                {
                    double f = Freq(inv[i - half], p);
                    expected = x[o + i] * (double)(float)Math.Cos(f) + x[o + i - half] * (double)(float)Math.Sin(f);
                }
                else
                {
                    expected = x[o + i];
                }
                AssertClose(expected, y[o + i], 4e-7, 0, $"y[b={b},h={h},t={t},d={i}]");
                dotYdy += (double)y[o + i] * dy[o + i];
                dotXdx += (double)x[o + i] * dx[o + i];
            }
        }
        // ⟨R x, dy⟩ = ⟨x, Rᵀ dy⟩: the backward is the adjoint of the forward (up to float rounding of n terms).
        AssertClose(dotYdy, (float)dotXdx, 1e-5 * Math.Sqrt(n), 0, "adjoint identity");

        float[] inPlace = (float[])x.Clone();
        Rope.Forward(inPlace, inPlace, st, pos, table, B, H, T, D);
        Assert.Equal(y, inPlace);
        Rope.Backward(inPlace, inPlace, st, pos, table, B, H, T, D);
        for (int i = 0; i < n; i++)
        {
            AssertClose(x[i], inPlace[i], 1e-6, 0, "backward undoes forward (rotation is orthogonal)");
        }
    }

    [Fact]
    public void SharedPositions_And_TokenRanges_MatchFullRun()
    {
        const int B = 2, H = 3, T = 9, D = 8;
        var table = RopeTable.Create(Rope.DefaultInverseFrequencies(D, 10000), 64);
        HeadStrides st = HeadStrides.Bthd(H, T, D);
        float[] x = Uniform(B * H * T * D, 5);
        int[] shared = Enumerable.Range(3, T).ToArray();
        int[] full = shared.Concat(shared).ToArray();
        float[] a = new float[x.Length], b = new float[x.Length];
        Rope.Forward(x, a, st, shared, table, B, H, T, D);
        Rope.Forward(x, b, st, full, table, B, H, T, D, 0, 7);
        Rope.Forward(x, b, st, full, table, B, H, T, D, 7, B * T - 7);
        Assert.Equal(a, b);
    }

    [Fact]
    public void HostileInput_Throws()
    {
        var table = RopeTable.Create(Rope.DefaultInverseFrequencies(8, 10000), 16);
        HeadStrides st = HeadStrides.Bhtd(2, 3, 8);
        float[] x = new float[48];
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => Rope.Forward(x, x, st, [0, 1, 16], table, 1, 2, 3, 8));
        Assert.Contains("16", ex.Message);
        Assert.Contains("t=2", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Rope.Forward(x, x, st, [0, -1, 2], table, 1, 2, 3, 8));
        var ex2 = Assert.Throws<ArgumentException>(() => Rope.Forward(new float[47], x, st, [0, 1, 2], table, 1, 2, 3, 8));
        Assert.Contains("(B=1, H=2, T=3, D=8)", ex2.Message);
        Assert.Throws<ArgumentException>(() => Rope.Forward(x, x, st, [0, 1], table, 1, 2, 3, 8));
        Assert.Throws<ArgumentException>(() => Rope.Forward(x, x, HeadStrides.Bhtd(2, 3, 6), [0, 1, 2], table, 1, 2, 3, 6));
        Assert.Throws<ArgumentOutOfRangeException>(() => Rope.Forward(x, x, st, [0, 1, 2], table, 1, 2, 3, 8, 2, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => Rope.DefaultInverseFrequencies(7, 10000));
        Assert.Throws<ArgumentOutOfRangeException>(() => Rope.Llama3InverseFrequencies(8, 10000, 8, 4, 1, 8192));
    }
}
