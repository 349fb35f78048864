namespace PeftSharp.Tensors.Kernels;

public static partial class Gemm
{
    /// <summary>
    /// The specification: the plain triple loop the fast paths are tested against. Each element is accumulated in
    /// float64 in increasing k, then <c>alpha·sum + beta·c</c> is formed in float64 and rounded once to float32
    /// (<c>beta = 0</c> does not read C). Same argument meaning and layout as <see cref="Sgemm(bool, bool, int, int, int, float, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, float, Span{float}, int)"/>.
    /// Slow by design; no validation beyond what indexing enforces.
    /// </summary>
    public static class Reference
    {
        /// <summary>C = alpha·op(A)·op(B) + beta·C with float64 accumulation.</summary>
        public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
            ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        {
            for (int i = 0; i < m; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    double sum = 0;
                    for (int p = 0; p < k; p++)
                    {
                        float x = transA ? a[p * lda + i] : a[i * lda + p];
                        float y = transB ? b[j * ldb + p] : b[p * ldb + j];
                        sum += (double)x * y;
                    }
                    double result = alpha * sum;
                    if (beta != 0f)
                    {
                        result += (double)beta * c[i * ldc + j];
                    }
                    c[i * ldc + j] = (float)result;
                }
            }
        }

        /// <summary>The same with B in 16-bit storage, each element widened by <see cref="LowPrecision"/>'s scalar conversion.</summary>
        public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
            ReadOnlySpan<float> a, int lda, ReadOnlySpan<ushort> b, DType bType, int ldb, float beta, Span<float> c, int ldc)
        {
            var wide = new float[b.Length];
            for (int i = 0; i < b.Length; i++)
            {
                wide[i] = bType switch
                {
                    DType.BF16 => LowPrecision.BF16ToSingle(b[i]),
                    DType.F16 => LowPrecision.F16ToSingle(b[i]),
                    _ => throw new ArgumentException($"The 16-bit B operand must be BF16 or F16, got {bType}.", nameof(bType)),
                };
            }
            Sgemm(transA, transB, m, n, k, alpha, a, lda, wide, ldb, beta, c, ldc);
        }
    }
}
