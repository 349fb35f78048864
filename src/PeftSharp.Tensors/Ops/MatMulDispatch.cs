using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Tensors;

/// <summary>
/// One place where tensor ops reach the GEMM kernels: row-major C = op(A)·op(B) + beta·C over arrays with
/// offsets and leading dimensions. B may be 16-bit storage (frozen weights), widened while packing.
/// </summary>
internal static class MatMulDispatch
{
    public static void Gemm(bool transA, bool transB, int m, int n, int k,
        float[] a, int offA, int lda, Tensor b, int offB, int ldb, float beta, float[] c, int offC, int ldc)
    {
        if (m == 0 || n == 0)
        {
            return;
        }
        if (b.Storage.Floats is { } bf)
        {
            Kernels.Gemm.Sgemm(transA, transB, m, n, k, 1f, a.AsSpan(offA), lda, bf.AsSpan(offB), ldb, beta, c.AsSpan(offC), ldc);
        }
        else
        {
            Kernels.Gemm.Sgemm(transA, transB, m, n, k, 1f, a.AsSpan(offA), lda, b.Storage.Halves.AsSpan(offB), b.DType, ldb, beta, c.AsSpan(offC), ldc);
        }
    }

    /// <summary>A batch of equally strided float32 products in one call (the kernel spreads it over threads).</summary>
    public static void GemmBatched(bool transA, bool transB, int m, int n, int k,
        float[] a, int offA, int lda, long strideA, float[] b, int offB, int ldb, long strideB, float[] c, int offC, int ldc, long strideC, int batch)
    {
        if (m == 0 || n == 0 || batch == 0)
        {
            return;
        }
        Kernels.Gemm.SgemmStridedBatched(transA, transB, m, n, k, 1f, a.AsSpan(offA), lda, strideA, b.AsSpan(offB), ldb, strideB, 0f, c.AsSpan(offC), ldc, strideC, batch);
    }
}
