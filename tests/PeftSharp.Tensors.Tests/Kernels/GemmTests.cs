using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Tensors.Tests.Kernels;

public class GemmTests
{
    private static readonly int[] Sizes = [1, 7, 8, 9, 63, 64, 65, 257];

    /// <summary>Every micro-kernel this machine can run (the portable one runs everywhere).</summary>
    internal static GemmKernel[] SupportedKernels => Gemm.BestKernel switch
    {
        GemmKernel.Avx512 => [GemmKernel.Portable, GemmKernel.Fma256, GemmKernel.Avx512],
        GemmKernel.Fma256 => [GemmKernel.Portable, GemmKernel.Fma256],
        _ => [GemmKernel.Portable],
    };

    private static GemmOptions[] AllKernels(int threads) => SupportedKernels.Select(k => new GemmOptions(threads, k)).ToArray();

    public static TheoryData<bool, bool> Transpositions => new() { { false, false }, { false, true }, { true, false }, { true, true } };

    /// <summary>
    /// Every size pair from {1, 7, 8, 9, 63, 64, 65, 257}³ so every tail of the 6×16 tile and the M = 1 GEMV run,
    /// for every micro-kernel the machine supports (one float64 reference serves them all).
    /// </summary>
    [Theory]
    [MemberData(nameof(Transpositions))]
    public void Sgemm_AndPortableKernel_MatchReference_EverySizeAndTransposition(bool transA, bool transB)
        => SweepAgainstReference(transA, transB, AllKernels(2));

    private static void SweepAgainstReference(bool transA, bool transB, params GemmOptions[] options)
    {
        var rng = new Random(1234 + (transA ? 2 : 0) + (transB ? 1 : 0));
        int caseIndex = 0;
        foreach (int m in Sizes)
        {
            foreach (int n in Sizes)
            {
                foreach (int k in Sizes)
                {
                    // Rotate through the three store modes: overwrite (beta = 0 over NaN), accumulate (beta = 1), scale.
                    (float alpha, float beta) = (caseIndex++ % 3) switch { 0 => (1f, 0f), 1 => (0.75f, 1f), _ => (-1.25f, 0.5f) };
                    var p = Problem.Random(rng, transA, transB, m, n, k, padding: caseIndex % 2 == 0 ? 0 : 3);
                    p.CheckAgainstReference(alpha, beta, options);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Transpositions))]
    public void FewRows_GemvPath_MatchesReference_AndEachRowEqualsASingleRowCall(bool transA, bool transB)
    {
        var rng = new Random(17);
        foreach (int m in new[] { 2, 3, Gemm.GemvMaxRows })
        {
            foreach ((int n, int k) in new[] { (65, 257), (300, 9), (7, 40) })
            {
                foreach (GemmKernel kernel in SupportedKernels)
                {
                    var p = Problem.Random(rng, transA, transB, m, n, k, padding: 3);
                    p.CheckAgainstReference(0.75f, 0.5f, new GemmOptions(2, kernel));
                    float[] all = p.Run(0.75f, 0.5f, new GemmOptions(2, kernel));
                    for (int i = 0; i < m; i++)
                    {
                        // Row i alone: op(A) row i is A[i, :] (or A[:, i] when transposed), C row i.
                        float[] row = p.C0.AsSpan(i * p.Ldc, n).ToArray();
                        float[] aRow = new float[k];
                        for (int kk = 0; kk < k; kk++)
                        {
                            aRow[kk] = transA ? p.A[kk * p.Lda + i] : p.A[i * p.Lda + kk];
                        }
                        Gemm.SgemmStridedBatched(false, transB, 1, n, k, 0.75f, aRow, k, 0, p.B, p.Ldb, 0, 0.5f, row, n, 0, 1, new GemmOptions(2, kernel));
                        Assert.Equal(row, all.AsSpan(i * p.Ldc, n).ToArray());
                    }
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Transpositions))]
    public void Sgemm_CrossesEveryBlockBoundary(bool transA, bool transB)
    {
        // Larger than one M block (144), one K block (256) and one N block (512) with ragged tails.
        var rng = new Random(99);
        var p = Problem.Random(rng, transA, transB, 151, 530, 300, padding: 5);
        p.CheckAgainstReference(0.5f, 0.25f, AllKernels(2));
    }

    [Theory]
    [MemberData(nameof(Transpositions))]
    public void Sgemm_IsBitwiseIdenticalAcrossThreadCountsAndRuns(bool transA, bool transB)
    {
        var rng = new Random(7);
        foreach ((int m, int n, int k) in new[] { (257, 300, 600), (70, 16, 300), (1, 777, 300), (200, 40, 16) })
        {
            var p = Problem.Random(rng, transA, transB, m, n, k, padding: 1);
            float[] one = p.Run(1f, 1f, new GemmOptions(1, Gemm.BestKernel));
            float[] two = p.Run(1f, 1f, new GemmOptions(2, Gemm.BestKernel));
            float[] three = p.Run(1f, 1f, new GemmOptions(3, Gemm.BestKernel));
            float[] again = p.Run(1f, 1f, new GemmOptions(2, Gemm.BestKernel));
            Assert.Equal(one, two);
            Assert.Equal(one, three);
            Assert.Equal(two, again);
        }
    }

    [Theory]
    [MemberData(nameof(Transpositions))]
    public void FmaKernels_Avx2AndAvx512_ProduceIdenticalBits(bool transA, bool transB)
    {
        // Both perform fma(A[r,k], B[k,j], acc) in increasing k with one accumulator per element, and the same store
        // step, so the panel width must not change a single bit.
        GemmKernel[] fma = SupportedKernels.Where(k => k != GemmKernel.Portable).ToArray();
        var rng = new Random(3);
        foreach ((int m, int n, int k) in new[] { (65, 257, 300), (7, 33, 9), (130, 100, 520), (130, 16, 300), (65, 9, 70) })
        {
            var p = Problem.Random(rng, transA, transB, m, n, k, padding: 1);
            float[][] results = fma.Select(kernel => p.Run(0.75f, 0.5f, new GemmOptions(2, kernel))).ToArray();
            for (int i = 1; i < results.Length; i++)
            {
                Assert.Equal(results[0], results[i]);
            }
        }
    }

    [Theory]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void SixteenBitB_EqualsWideningFirst(DType type)
    {
        var rng = new Random(5);
        foreach (bool transA in new[] { false, true })
        {
            foreach (bool transB in new[] { false, true })
            {
                foreach ((int m, int n, int k) in new[] { (1, 65, 257), (1, 300, 9), (3, 40, 33), (9, 63, 65), (33, 130, 300), (7, 530, 20) })
                {
                    foreach (GemmKernel kernel in SupportedKernels)
                    {
                        var options = new GemmOptions(2, kernel);
                        var p = Problem.Random(rng, transA, transB, m, n, k, padding: 2);
                        ushort[] b16 = new ushort[p.B.Length];
                        LowPrecision.Narrow(type, p.B, b16);
                        float[] wide = new float[b16.Length];
                        LowPrecision.Widen(type, b16, wide);
                        float[] expected = p.C0.ToArray();
                        Gemm.SgemmStridedBatched(transA, transB, m, n, k, 0.5f, p.A, p.Lda, 0, wide, p.Ldb, 0, 2f, expected, p.Ldc, 0, 1, options);
                        float[] actual = p.C0.ToArray();
                        Gemm.Sgemm(transA, transB, m, n, k, 0.5f, p.A, p.Lda, b16, type, p.Ldb, 2f, actual, p.Ldc, options);
                        Assert.Equal(expected, actual);

                        // And against the float64 reference on the same 16-bit operand.
                        float[] reference = p.C0.ToArray();
                        Gemm.Reference.Sgemm(transA, transB, m, n, k, 0.5f, p.A, p.Lda, b16, type, p.Ldb, 2f, reference, p.Ldc);
                        var pw = p with { B = wide };
                        pw.AssertClose(reference, actual, 0.5f, 2f);
                    }
                }
            }
        }
    }

    [Fact]
    public void PackedB_EqualsUnpackedCall_Bitwise_ForFloatAndSixteenBit()
    {
        var rng = new Random(21);
        foreach (GemmKernel kernel in SupportedKernels)
        {
            foreach (bool transA in new[] { false, true })
            {
                foreach (bool transB in new[] { false, true })
                {
                    foreach ((int m, int n, int k) in new[] { (1, 65, 257), (9, 530, 300), (64, 16, 7) })
                    {
                        var p = Problem.Random(rng, transA, transB, m, n, k, padding: 2);
                        var options = new GemmOptions(2, kernel);
                        float[] expected = p.Run(0.5f, 1f, options);
                        if (m == 1)
                        {
                            // M ≤ 4 takes the GEMV path unpacked; the packed call runs the blocked kernel instead,
                            // so compare it with the reference bound rather than bit for bit.
                            expected = p.C0.ToArray();
                            Gemm.Reference.Sgemm(transA, transB, m, n, k, 0.5f, p.A, p.Lda, p.B, p.Ldb, 1f, expected, p.Ldc);
                        }
                        GemmPackedB packed = Gemm.PackB(transB, k, n, p.B, p.Ldb, kernel);
                        float[] actual = p.C0.ToArray();
                        Gemm.Sgemm(transA, m, 0.5f, p.A, p.Lda, packed, 1f, actual, p.Ldc, 2);
                        if (m == 1)
                        {
                            p.AssertClose(expected, actual, 0.5f, 1f);
                        }
                        else
                        {
                            Assert.Equal(expected, actual);
                        }

                        ushort[] b16 = new ushort[p.B.Length];
                        LowPrecision.Narrow(DType.BF16, p.B, b16);
                        float[] viaUnpacked = p.C0.ToArray();
                        Gemm.Sgemm(transA, transB, m, n, k, 0.5f, p.A, p.Lda, b16, DType.BF16, p.Ldb, 0f, viaUnpacked, p.Ldc, options);
                        float[] viaPacked = p.C0.ToArray();
                        Gemm.Sgemm(transA, m, 0.5f, p.A, p.Lda, Gemm.PackB(transB, k, n, b16, DType.BF16, p.Ldb, kernel), 0f, viaPacked, p.Ldc, 2);
                        if (m > 1)
                        {
                            Assert.Equal(viaUnpacked, viaPacked);
                        }
                    }
                }
            }
        }
        Assert.Throws<ArgumentException>(() => Gemm.PackB(false, 10, 10, new float[99], 10));
    }

    [Fact]
    public void Sgemm_BetaZero_IgnoresNaNInC_AndKZeroScalesC()
    {
        float[] a = [1, 2, 3, 4];
        float[] b = [5, 6, 7, 8];
        float[] c = [float.NaN, float.NaN, float.NaN, float.NaN];
        Gemm.Sgemm(false, false, 2, 2, 2, 1f, a, 2, b, 2, 0f, c, 2);
        Assert.Equal(new float[] { 19, 22, 43, 50 }, c); // hand-computed 2x2 product

        float[] d = [float.NaN, 2, 3, 4];
        Gemm.Sgemm(false, false, 2, 2, 0, 1f, [], 1, [], 2, 0f, d, 2);
        Assert.Equal(new float[] { 0, 0, 0, 0 }, d);
        float[] e = [1, 2, 3, 4];
        Gemm.Sgemm(false, false, 2, 2, 0, 1f, [], 1, [], 2, 0.5f, e, 2);
        Assert.Equal(new float[] { 0.5f, 1, 1.5f, 2 }, e);
    }

    [Fact]
    public void StridedBatched_EqualsOneCallPerMatrix_WithBroadcastAndInterleavedHeads()
    {
        var rng = new Random(11);
        const int batch = 5, m = 33, n = 20, k = 70;
        // A broadcast (stride 0); B one (N, K) matrix per batch; C heads interleaved in rows: (M, batch·N).
        float[] a = RandomArray(rng, m * k);
        float[] b = RandomArray(rng, batch * n * k);
        float[] c = RandomArray(rng, m * batch * n);
        float[] expected = c.ToArray();
        for (int i = 0; i < batch; i++)
        {
            Gemm.Sgemm(false, true, m, n, k, 1f, a, k, b.AsSpan(i * n * k), k, 0.5f, expected.AsSpan(i * n), batch * n);
        }
        Gemm.SgemmStridedBatched(false, true, m, n, k, 1f, a, k, 0, b, k, n * k, 0.5f, c, batch * n, n, batch);
        Assert.Equal(expected, c);

        // Many small matrices, one row each (GEMV path) and block-disjoint C.
        float[] a1 = RandomArray(rng, batch * k);
        float[] c1 = new float[batch * n];
        float[] e1 = new float[batch * n];
        for (int i = 0; i < batch; i++)
        {
            Gemm.Sgemm(false, false, 1, n, k, 1f, a1.AsSpan(i * k), k, b.AsSpan(i * n * k), n, 0f, e1.AsSpan(i * n), n);
        }
        Gemm.SgemmStridedBatched(false, false, 1, n, k, 1f, a1, k, k, b, n, n * k, 0f, c1, n, n, batch);
        Assert.Equal(e1, c1);
    }

    [Fact]
    public void Sgemm_RejectsBadArguments_WithSpecificMessages()
    {
        float[] a = new float[6], b = new float[6], c = new float[4];
        var e1 = Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Sgemm(false, false, 2, 2, 3, 1f, a, 2, b, 2, 0f, c, 2));
        Assert.Contains("Leading dimension of A", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 2, 2, 3, 1f, a.AsSpan(0, 5), 3, b, 2, 0f, c, 2));
        Assert.Contains("A holds 5 elements", e2.Message);
        var e3 = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 2, 2, 3, 1f, a, 3, b, 2, 0f, c.AsSpan(0, 3), 2));
        Assert.Contains("C holds 3 elements", e3.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Sgemm(false, false, -1, 2, 3, 1f, a, 3, b, 2, 0f, c, 2));
        float[] shared = new float[16];
        var e4 = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 2, 2, 2, 1f, shared.AsSpan(0, 4), 2, shared.AsSpan(4, 4), 2, 0f, shared.AsSpan(2, 4), 2));
        Assert.Contains("overlap", e4.Message);
        var e5 = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 2, 2, 3, 1f, a, 3, new ushort[6], DType.F32, 2, 0f, c, 2));
        Assert.Contains("BF16 or F16", e5.Message);
        var e6 = Assert.Throws<ArgumentException>(() => Gemm.SgemmStridedBatched(false, false, 2, 2, 3, 1f, a, 3, 0, b, 2, 0, 0f, new float[8], 2, 1, 3));
        Assert.Contains("overlap", e6.Message);
        // A lying batch count is rejected from the lengths alone: nothing is allocated or touched.
        var e7 = Assert.Throws<ArgumentException>(() => Gemm.SgemmStridedBatched(false, false, 2, 2, 3, 1f, a, 3, 6, b, 2, 0, 0f, c, 2, 4, int.MaxValue));
        Assert.Contains("batch 2147483647", e7.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.SgemmStridedBatched(false, false, 2, 2, 3, 1f, a, 3, -6, b, 2, 0, 0f, c, 2, 4, 1));
    }

    internal static float[] RandomArray(Random rng, int length)
    {
        var x = new float[length];
        for (int i = 0; i < length; i++)
        {
            x[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        return x;
    }

    /// <summary>A random problem whose padding (ld beyond the logical width) holds NaN, so reading it would show.</summary>
    internal sealed record Problem(bool TransA, bool TransB, int M, int N, int K, float[] A, int Lda, float[] B, int Ldb, float[] C0, int Ldc)
    {
        public static Problem Random(Random rng, bool transA, bool transB, int m, int n, int k, int padding)
        {
            (int aRows, int aCols) = transA ? (k, m) : (m, k);
            (int bRows, int bCols) = transB ? (n, k) : (k, n);
            int lda = aCols + padding, ldb = bCols + padding, ldc = n + padding;
            return new Problem(transA, transB, m, n, k,
                Matrix(rng, aRows, aCols, lda), lda, Matrix(rng, bRows, bCols, ldb), ldb, Matrix(rng, m, n, ldc), ldc);
        }

        private static float[] Matrix(Random rng, int rows, int cols, int ld)
        {
            var x = new float[Math.Max(0, (rows - 1) * ld + cols)];
            Array.Fill(x, float.NaN);
            for (int r = 0; r < rows; r++)
            {
                for (int c = 0; c < cols; c++)
                {
                    x[r * ld + c] = (float)(rng.NextDouble() * 2 - 1);
                }
            }
            return x;
        }

        public float[] Run(float alpha, float beta, GemmOptions options)
        {
            float[] c = C0.ToArray();
            Gemm.SgemmStridedBatched(TransA, TransB, M, N, K, alpha, A, Lda, 0, B, Ldb, 0, beta, c, Ldc, 0, 1, options);
            return c;
        }

        public void CheckAgainstReference(float alpha, float beta, params GemmOptions[] options)
        {
            float[] c0 = C0.ToArray();
            if (beta == 0f)
            {
                Array.Fill(c0, float.NaN); // beta = 0 must not read C
            }
            float[] expected = c0.ToArray();
            Gemm.Reference.Sgemm(TransA, TransB, M, N, K, alpha, A, Lda, B, Ldb, beta, expected, Ldc);
            float[] magnitude = Magnitude(alpha);
            foreach (GemmOptions option in options)
            {
                float[] actual = c0.ToArray();
                Gemm.SgemmStridedBatched(TransA, TransB, M, N, K, alpha, A, Lda, 0, B, Ldb, 0, beta, actual, Ldc, 0, 1, option);
                AssertClose(expected, actual, alpha, beta, c0, magnitude);
            }
        }

        /// <summary>
        /// |alpha|·‖row i of op(A)‖₂·‖column j of op(B)‖₂, an upper bound of |alpha|·Σₖ|op(A)ᵢₖ·op(B)ₖⱼ| (Cauchy–Schwarz)
        /// that costs O(MK + KN) instead of a second triple loop.
        /// </summary>
        private float[] Magnitude(float alpha)
        {
            var rowNorm = new double[M];
            var colNorm = new double[N];
            for (int i = 0; i < M; i++)
            {
                for (int p = 0; p < K; p++)
                {
                    double v = TransA ? A[p * Lda + i] : A[i * Lda + p];
                    rowNorm[i] += v * v;
                }
            }
            for (int j = 0; j < N; j++)
            {
                for (int p = 0; p < K; p++)
                {
                    double v = TransB ? B[j * Ldb + p] : B[p * Ldb + j];
                    colNorm[j] += v * v;
                }
            }
            float[] mag = new float[C0.Length];
            for (int i = 0; i < M; i++)
            {
                for (int j = 0; j < N; j++)
                {
                    mag[i * Ldc + j] = (float)(Math.Abs(alpha) * Math.Sqrt(rowNorm[i] * colNorm[j]));
                }
            }
            return mag;
        }

        /// <summary>
        /// Forward error bound of a float32 dot product of length K (any summation order, FMA or not):
        /// |fl(s) − s| ≤ γ(K)·Σ|a||b| ≤ γ(K)·‖a‖·‖b‖ with γ(K) ≈ K·2⁻²⁴; two more roundings for alpha and beta. We allow
        /// (K + 2)·2⁻²³, twice the bound, against the float64 reference (itself exact to ~2⁻⁵³ relative).
        /// </summary>
        public void AssertClose(float[] expected, float[] actual, float alpha, float beta, float[]? c0 = null, float[]? mag = null)
        {
            c0 ??= C0;
            mag ??= Magnitude(alpha);
            double tol = (K + 2) * Math.Pow(2, -23);
            for (int i = 0; i < M; i++)
            {
                for (int j = 0; j < N; j++)
                {
                    int at = i * Ldc + j;
                    double scale = mag[at] + (beta == 0f ? 0 : Math.Abs(beta * c0[at])) + 1e-30;
                    double err = Math.Abs((double)actual[at] - expected[at]);
                    if (!(err <= tol * scale))
                    {
                        Assert.Fail($"C[{i},{j}] of {M}x{N}x{K} (transA={TransA}, transB={TransB}, alpha={alpha}, beta={beta}): got {actual[at]}, reference {expected[at]}, error {err:E3} > {tol * scale:E3}");
                    }
                }
                for (int j = N; j < Ldc && i * Ldc + j < actual.Length; j++)
                {
                    int at = i * Ldc + j;
                    if (BitConverter.SingleToInt32Bits(c0[at]) != BitConverter.SingleToInt32Bits(actual[at]))
                    {
                        Assert.Fail($"Padding C[{i},{j}] was written.");
                    }
                }
            }
        }
    }
}
