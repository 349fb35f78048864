using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Tensors;

/// <summary>
/// One place where tensor ops reach the GEMM kernels: row-major C = alpha·op(A)·op(B) + beta·C over arrays
/// with offsets and leading dimensions. B may be 16-bit storage (frozen weights), widened by the kernel.
/// </summary>
internal static class MatMulDispatch
{
    public static void Gemm(bool transA, bool transB, int m, int n, int k,
        float[] a, int offA, int lda, Tensor b, int offB, int ldb, float beta, float[] c, int offC, int ldc)
    {
        if (b.Storage.Floats is { } bf)
        {
            ReferenceGemm(transA, transB, m, n, k, a, offA, lda, bf, offB, ldb, beta, c, offC, ldc);
            return;
        }
        // 16-bit B: widen the touched panel (interim path until the packed kernel widens while packing).
        int rows = transB ? n : k, cols = transB ? k : n;
        var wide = new float[rows * cols];
        var halves = b.Storage.Halves!;
        for (int r = 0; r < rows; r++)
        {
            LowPrecision.Widen(b.DType, halves.AsSpan(offB + r * ldb, cols), wide.AsSpan(r * cols, cols));
        }
        ReferenceGemm(transA, transB, m, n, k, a, offA, lda, wide, 0, cols, beta, c, offC, ldc);
    }

    private static void ReferenceGemm(bool transA, bool transB, int m, int n, int k,
        float[] a, int offA, int lda, float[] b, int offB, int ldb, float beta, float[] c, int offC, int ldc)
    {
        var row = new float[n];
        for (int i = 0; i < m; i++)
        {
            Array.Clear(row);
            for (int p = 0; p < k; p++)
            {
                float av = transA ? a[offA + p * lda + i] : a[offA + i * lda + p];
                if (av == 0f)
                {
                    continue;
                }
                if (!transB)
                {
                    System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(b.AsSpan(offB + p * ldb, n), av, row, row);
                }
                else
                {
                    for (int j = 0; j < n; j++)
                    {
                        row[j] += av * b[offB + j * ldb + p];
                    }
                }
            }
            var dst = c.AsSpan(offC + i * ldc, n);
            if (beta == 0f)
            {
                row.CopyTo(dst);
            }
            else
            {
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(dst, beta, row, dst);
            }
        }
    }
}
