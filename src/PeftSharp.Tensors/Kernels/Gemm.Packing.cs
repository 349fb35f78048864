using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PeftSharp.Tensors.Kernels;

public static partial class Gemm
{
    // Packed layouts (all zero-padded to whole panels, so the micro-kernel never needs a bounds check):
    //   B block (kc, nc) → ceil(nc/W) micro-panels of width W (16 or 32, see PanelWidth); panel p holds
    //   op(B)[pc + k, jc + W·p + j] at [p·kc·W + k·W + j].
    //   A block (mc, kc), transposed A only → ceil(mc/6) panels; panel q holds op(A)[ic + 6q + r, pc + k] at [q·kc·6 + k·6 + r].

    /// <summary>Packs op(B)[pc : pc+kc, jc : jc+nc] into 16-column micro-panels, widening 16-bit storage.</summary>
    internal static unsafe void PackB(bool transB, DType type, void* b, int ldb, int pc, int kc, int jc, int nc,
        float* dst, float* scratch, int width, bool portable)
    {
        if (type == DType.F32)
        {
            PackBF32(transB, (float*)b, ldb, pc, kc, jc, nc, dst, width, portable);
            return;
        }
        // 16-bit storage: widen the block into scratch with the same layout it has in memory (exact conversion),
        // then pack from there. Transposed: nc rows of kc; otherwise kc rows of nc.
        ushort* src = (ushort*)b;
        if (transB)
        {
            for (int j = 0; j < nc; j++)
            {
                LowPrecision.Widen(type, new ReadOnlySpan<ushort>(src + (long)(jc + j) * ldb + pc, kc), new Span<float>(scratch + (long)j * kc, kc));
            }
            PackBF32(true, scratch, kc, 0, kc, 0, nc, dst, width, portable);
        }
        else
        {
            for (int k = 0; k < kc; k++)
            {
                LowPrecision.Widen(type, new ReadOnlySpan<ushort>(src + (long)(pc + k) * ldb + jc, nc), new Span<float>(scratch + (long)k * nc, nc));
            }
            PackBF32(false, scratch, nc, 0, kc, 0, nc, dst, width, portable);
        }
    }

    private static unsafe void PackBF32(bool transB, float* b, int ldb, int pc, int kc, int jc, int nc, float* dst, int width, bool portable)
    {
        for (int jr = 0; jr < nc; jr += width)
        {
            int nr = Math.Min(width, nc - jr);
            float* d = dst + (long)jr * kc;
            if (!transB)
            {
                // op(B)[k, j] = b[k·ldb + j]: each k contributes W consecutive floats.
                float* s = b + (long)pc * ldb + jc + jr;
                if (nr == width)
                {
                    for (int k = 0; k < kc; k++, s += ldb, d += width)
                    {
                        Unsafe.CopyBlockUnaligned(d, s, (uint)(width * sizeof(float)));
                    }
                }
                else
                {
                    for (int k = 0; k < kc; k++, s += ldb, d += width)
                    {
                        for (int j = 0; j < width; j++)
                        {
                            d[j] = j < nr ? s[j] : 0f;
                        }
                    }
                }
            }
            else
            {
                // op(B)[k, j] = b[j·ldb + k]: W rows of b, each contiguous in k, become W lanes per k,
                // transposed 8 × 8 at a time.
                float* s = b + (long)(jc + jr) * ldb + pc;
                int k = 0;
                if (nr == width && !portable && Avx.IsSupported)
                {
                    for (; k <= kc - 8; k += 8)
                    {
                        for (int g = 0; g < width; g += 8)
                        {
                            Transpose8x8(s + (long)g * ldb + k, ldb, d + k * width + g, width);
                        }
                    }
                }
                for (; k < kc; k++)
                {
                    float* dk = d + k * width;
                    for (int j = 0; j < width; j++)
                    {
                        dk[j] = j < nr ? s[(long)j * ldb + k] : 0f;
                    }
                }
            }
        }
    }

    /// <summary>
    /// dst[k·dstStride + r] = src[r·srcStride + k] for r, k &lt; 8. Lanes: eight row loads, unpack pairs of rows,
    /// shuffle quads, then swap 128-bit halves: output vector k holds column k of the input.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Transpose8x8(float* src, nint srcStride, float* dst, nint dstStride)
    {
        Vector256<float> r0 = Avx.LoadVector256(src), r1 = Avx.LoadVector256(src + srcStride);
        Vector256<float> r2 = Avx.LoadVector256(src + 2 * srcStride), r3 = Avx.LoadVector256(src + 3 * srcStride);
        Vector256<float> r4 = Avx.LoadVector256(src + 4 * srcStride), r5 = Avx.LoadVector256(src + 5 * srcStride);
        Vector256<float> r6 = Avx.LoadVector256(src + 6 * srcStride), r7 = Avx.LoadVector256(src + 7 * srcStride);
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44), s1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> s2 = Avx.Shuffle(t1, t3, 0x44), s3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> s4 = Avx.Shuffle(t4, t6, 0x44), s5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> s6 = Avx.Shuffle(t5, t7, 0x44), s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(dst + dstStride, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(dst + 2 * dstStride, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(dst + 3 * dstStride, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(dst + 4 * dstStride, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(dst + 5 * dstStride, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(dst + 6 * dstStride, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(dst + 7 * dstStride, Avx.Permute2x128(s3, s7, 0x31));
    }

    /// <summary>
    /// Packs op(A)[ic : ic+mc, pc : pc+kc] for a transposed A (stored (K, M): op(A)[i, k] = a[k·lda + i]) into
    /// 6-row panels. The outer loop walks k, so each stored row of A is read once, front to back (mc consecutive
    /// floats), and scattered 6 at a time into the panels.
    /// </summary>
    private static unsafe void PackA(float* a, int lda, int ic, int mc, int pc, int kc, float* dst)
    {
        int full = mc / MR * MR;
        for (int k = 0; k < kc; k++)
        {
            float* s = a + (long)(pc + k) * lda + ic;
            float* d = dst + k * MR;
            int ir = 0;
            for (; ir < full; ir += MR)
            {
                float* dp = d + (long)ir * kc;
                dp[0] = s[ir]; dp[1] = s[ir + 1]; dp[2] = s[ir + 2]; dp[3] = s[ir + 3]; dp[4] = s[ir + 4]; dp[5] = s[ir + 5];
            }
            if (ir < mc)
            {
                float* dp = d + (long)ir * kc;
                for (int r = 0; r < MR; r++)
                {
                    dp[r] = ir + r < mc ? s[ir + r] : 0f;
                }
            }
        }
    }
}
