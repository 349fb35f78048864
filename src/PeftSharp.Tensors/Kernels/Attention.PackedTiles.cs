using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PeftSharp.Tensors.Kernels;

/// <summary>
/// Register-blocked AVX-512 tile products for attention. A score tile (queries × keys) is an outer-product
/// micro-kernel over a transposed, packed key block: per head dim k, four 16-key vectors of Kᵀ are loaded and
/// each of four query rows is broadcast into them (16 accumulators, 4 loads + 4 broadcasts per 16 FMAs),
/// which avoids the horizontal sums of dot products. An accumulate tile keeps four output rows × 64 dims in
/// sixteen registers while the reduction index streams rows of the right operand.
/// </summary>
/// <remarks>
/// Used when the CPU has AVX-512 and the head dim is a multiple of 16 (<see cref="CanUsePackedTiles"/>); the
/// portable tiles in Attention.cs remain the path elsewhere and the tests run both. Each output element is one
/// accumulator summed in increasing k (or j) order, then scaled, so results do not depend on the thread count.
/// </remarks>
public static partial class Attention
{
    /// <summary>Width of a packed key block: the score tile is always computed 64 keys wide (padding keys are zero).</summary>
    private const int PackedWidth = KeyBlock;

    internal static bool CanUsePackedTiles(int headDim) => FastMath.IsVectorized512 && headDim % 16 == 0;

    /// <summary>Keys padded up to a whole packed block.</summary>
    private static int PaddedKeys(int keys) => (keys + PackedWidth - 1) / PackedWidth * PackedWidth;

    /// <summary>
    /// dst[c·ld + j] = src[j·stride + c] for j &lt; rows, c &lt; d; dst[c·ld + j] = 0 for rows ≤ j &lt; padTo.
    /// Rows are read contiguously, 8 × 8 blocks transposed in registers (d is a multiple of 16 here); leftover rows one at a time.
    /// </summary>
    private static unsafe void PackTransposed(float* src, long stride, int rows, int d, float* dst, int ld, int padTo)
    {
        int j = 0;
        for (; j <= rows - 8; j += 8)
        {
            float* s0 = src + j * stride;
            for (int c = 0; c < d; c += 8)
            {
                Gemm.Transpose8x8(s0 + c, (nint)stride, dst + (long)c * ld + j, ld);
            }
        }
        for (; j < rows; j++)
        {
            float* s = src + j * stride;
            for (int c = 0; c < d; c++)
            {
                dst[(long)c * ld + j] = s[c];
            }
        }
        for (int c = 0; c < d; c++)
        {
            new Span<float>(dst + (long)c * ld + rows, padTo - rows).Clear();
        }
    }

    /// <summary>
    /// c[i·ldc + j] = alpha·Σ_k a[i·aStride + k]·bt[k·ldb + j] for i &lt; m, j &lt; 64: a query block against a
    /// packed, transposed key block (64 columns, zero past the real keys).
    /// </summary>
    private static unsafe void ScoreTilePacked(float* a, long aStride, int m, float* bt, int ldb, int d, float* c, int ldc, float alpha)
    {
        Vector512<float> va = Vector512.Create(alpha);
        int i = 0;
        for (; i <= m - 4; i += 4)
        {
            float* a0 = a + i * aStride, a1 = a0 + aStride, a2 = a1 + aStride, a3 = a2 + aStride;
            Vector512<float> c00 = Vector512<float>.Zero, c01 = c00, c02 = c00, c03 = c00;
            Vector512<float> c10 = c00, c11 = c00, c12 = c00, c13 = c00;
            Vector512<float> c20 = c00, c21 = c00, c22 = c00, c23 = c00;
            Vector512<float> c30 = c00, c31 = c00, c32 = c00, c33 = c00;
            float* b = bt;
            for (int k = 0; k < d; k++, b += ldb)
            {
                Vector512<float> b0 = Vector512.Load(b), b1 = Vector512.Load(b + 16), b2 = Vector512.Load(b + 32), b3 = Vector512.Load(b + 48);
                Vector512<float> x = Vector512.Create(a0[k]);
                c00 = Avx512F.FusedMultiplyAdd(x, b0, c00);
                c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
                c02 = Avx512F.FusedMultiplyAdd(x, b2, c02);
                c03 = Avx512F.FusedMultiplyAdd(x, b3, c03);
                x = Vector512.Create(a1[k]);
                c10 = Avx512F.FusedMultiplyAdd(x, b0, c10);
                c11 = Avx512F.FusedMultiplyAdd(x, b1, c11);
                c12 = Avx512F.FusedMultiplyAdd(x, b2, c12);
                c13 = Avx512F.FusedMultiplyAdd(x, b3, c13);
                x = Vector512.Create(a2[k]);
                c20 = Avx512F.FusedMultiplyAdd(x, b0, c20);
                c21 = Avx512F.FusedMultiplyAdd(x, b1, c21);
                c22 = Avx512F.FusedMultiplyAdd(x, b2, c22);
                c23 = Avx512F.FusedMultiplyAdd(x, b3, c23);
                x = Vector512.Create(a3[k]);
                c30 = Avx512F.FusedMultiplyAdd(x, b0, c30);
                c31 = Avx512F.FusedMultiplyAdd(x, b1, c31);
                c32 = Avx512F.FusedMultiplyAdd(x, b2, c32);
                c33 = Avx512F.FusedMultiplyAdd(x, b3, c33);
            }
            StoreScaled(c + i * ldc, c00, c01, c02, c03, va);
            StoreScaled(c + (i + 1) * ldc, c10, c11, c12, c13, va);
            StoreScaled(c + (i + 2) * ldc, c20, c21, c22, c23, va);
            StoreScaled(c + (i + 3) * ldc, c30, c31, c32, c33, va);
        }
        for (; i < m; i++)
        {
            float* a0 = a + i * aStride;
            Vector512<float> c00 = Vector512<float>.Zero, c01 = c00, c02 = c00, c03 = c00;
            float* b = bt;
            for (int k = 0; k < d; k++, b += ldb)
            {
                Vector512<float> x = Vector512.Create(a0[k]);
                c00 = Avx512F.FusedMultiplyAdd(x, Vector512.Load(b), c00);
                c01 = Avx512F.FusedMultiplyAdd(x, Vector512.Load(b + 16), c01);
                c02 = Avx512F.FusedMultiplyAdd(x, Vector512.Load(b + 32), c02);
                c03 = Avx512F.FusedMultiplyAdd(x, Vector512.Load(b + 48), c03);
            }
            StoreScaled(c + i * ldc, c00, c01, c02, c03, va);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreScaled(float* c, Vector512<float> c0, Vector512<float> c1, Vector512<float> c2, Vector512<float> c3, Vector512<float> alpha)
    {
        Vector512.Store(Avx512F.Multiply(c0, alpha), c);
        Vector512.Store(Avx512F.Multiply(c1, alpha), c + 16);
        Vector512.Store(Avx512F.Multiply(c2, alpha), c + 32);
        Vector512.Store(Avx512F.Multiply(c3, alpha), c + 48);
    }

    /// <summary>
    /// c_i += alpha·Σ_{j &lt; n} p[i·pRow + j·pCol]·b_j for i &lt; m over d dims (a multiple of 16): P·B, or Pᵀ·B with
    /// the strides swapped. Four rows × 64 dims stay in 16 registers while j streams; 16-dim chunks and single
    /// rows take what is left. The sum over j is one accumulator per element, then fma(sum, alpha, c).
    /// </summary>
    private static unsafe void AccumulateTilePacked(float* p, long pRow, long pCol, int m, int n, float* bm, long bStride, int d, float* c, long cStride, float alpha)
    {
        Vector512<float> va = Vector512.Create(alpha);
        int i = 0;
        for (; i <= m - 4; i += 4)
        {
            float* p0 = p + i * pRow, p1 = p0 + pRow, p2 = p1 + pRow, p3 = p2 + pRow;
            float* c0 = c + i * cStride, c1 = c0 + cStride, c2 = c1 + cStride, c3 = c2 + cStride;
            int k = 0;
            for (; k <= d - 64; k += 64)
            {
                Vector512<float> s00 = Vector512<float>.Zero, s01 = s00, s02 = s00, s03 = s00;
                Vector512<float> s10 = s00, s11 = s00, s12 = s00, s13 = s00;
                Vector512<float> s20 = s00, s21 = s00, s22 = s00, s23 = s00;
                Vector512<float> s30 = s00, s31 = s00, s32 = s00, s33 = s00;
                float* b = bm + k;
                for (int j = 0; j < n; j++, b += bStride)
                {
                    Vector512<float> b0 = Vector512.Load(b), b1 = Vector512.Load(b + 16), b2 = Vector512.Load(b + 32), b3 = Vector512.Load(b + 48);
                    long pj = j * pCol;
                    Vector512<float> x = Vector512.Create(p0[pj]);
                    s00 = Avx512F.FusedMultiplyAdd(x, b0, s00);
                    s01 = Avx512F.FusedMultiplyAdd(x, b1, s01);
                    s02 = Avx512F.FusedMultiplyAdd(x, b2, s02);
                    s03 = Avx512F.FusedMultiplyAdd(x, b3, s03);
                    x = Vector512.Create(p1[pj]);
                    s10 = Avx512F.FusedMultiplyAdd(x, b0, s10);
                    s11 = Avx512F.FusedMultiplyAdd(x, b1, s11);
                    s12 = Avx512F.FusedMultiplyAdd(x, b2, s12);
                    s13 = Avx512F.FusedMultiplyAdd(x, b3, s13);
                    x = Vector512.Create(p2[pj]);
                    s20 = Avx512F.FusedMultiplyAdd(x, b0, s20);
                    s21 = Avx512F.FusedMultiplyAdd(x, b1, s21);
                    s22 = Avx512F.FusedMultiplyAdd(x, b2, s22);
                    s23 = Avx512F.FusedMultiplyAdd(x, b3, s23);
                    x = Vector512.Create(p3[pj]);
                    s30 = Avx512F.FusedMultiplyAdd(x, b0, s30);
                    s31 = Avx512F.FusedMultiplyAdd(x, b1, s31);
                    s32 = Avx512F.FusedMultiplyAdd(x, b2, s32);
                    s33 = Avx512F.FusedMultiplyAdd(x, b3, s33);
                }
                AddScaled(c0 + k, s00, s01, s02, s03, va);
                AddScaled(c1 + k, s10, s11, s12, s13, va);
                AddScaled(c2 + k, s20, s21, s22, s23, va);
                AddScaled(c3 + k, s30, s31, s32, s33, va);
            }
            for (; k < d; k += 16)
            {
                Vector512<float> s0 = Vector512<float>.Zero, s1 = s0, s2 = s0, s3 = s0;
                float* b = bm + k;
                for (int j = 0; j < n; j++, b += bStride)
                {
                    Vector512<float> bv = Vector512.Load(b);
                    long pj = j * pCol;
                    s0 = Avx512F.FusedMultiplyAdd(Vector512.Create(p0[pj]), bv, s0);
                    s1 = Avx512F.FusedMultiplyAdd(Vector512.Create(p1[pj]), bv, s1);
                    s2 = Avx512F.FusedMultiplyAdd(Vector512.Create(p2[pj]), bv, s2);
                    s3 = Avx512F.FusedMultiplyAdd(Vector512.Create(p3[pj]), bv, s3);
                }
                Vector512.Store(Avx512F.FusedMultiplyAdd(s0, va, Vector512.Load(c0 + k)), c0 + k);
                Vector512.Store(Avx512F.FusedMultiplyAdd(s1, va, Vector512.Load(c1 + k)), c1 + k);
                Vector512.Store(Avx512F.FusedMultiplyAdd(s2, va, Vector512.Load(c2 + k)), c2 + k);
                Vector512.Store(Avx512F.FusedMultiplyAdd(s3, va, Vector512.Load(c3 + k)), c3 + k);
            }
        }
        for (; i < m; i++)
        {
            float* pi = p + i * pRow;
            float* ci = c + i * cStride;
            for (int k = 0; k < d; k += 16)
            {
                Vector512<float> s = Vector512<float>.Zero;
                float* b = bm + k;
                for (int j = 0; j < n; j++, b += bStride)
                {
                    s = Avx512F.FusedMultiplyAdd(Vector512.Create(pi[j * pCol]), Vector512.Load(b), s);
                }
                Vector512.Store(Avx512F.FusedMultiplyAdd(s, va, Vector512.Load(ci + k)), ci + k);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void AddScaled(float* c, Vector512<float> s0, Vector512<float> s1, Vector512<float> s2, Vector512<float> s3, Vector512<float> alpha)
    {
        Vector512.Store(Avx512F.FusedMultiplyAdd(s0, alpha, Vector512.Load(c)), c);
        Vector512.Store(Avx512F.FusedMultiplyAdd(s1, alpha, Vector512.Load(c + 16)), c + 16);
        Vector512.Store(Avx512F.FusedMultiplyAdd(s2, alpha, Vector512.Load(c + 32)), c + 32);
        Vector512.Store(Avx512F.FusedMultiplyAdd(s3, alpha, Vector512.Load(c + 48)), c + 48);
    }
}
