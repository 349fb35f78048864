using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PeftSharp.Tensors.Kernels;

public static partial class Gemm
{
    // Micro-kernels: a 6 × W tile of C accumulated over kc steps of k; W = 16 (AVX2 and portable) or 32 (AVX-512).
    //   A: row r of the tile is read at a + r·rowStride + k·kStride (in place: rowStride = lda, kStride = 1;
    //      packed: rowStride = 1, kStride = 6). Rows r >= mr (edge tiles) re-read row 0; their results are discarded.
    //   B: a packed micro-panel, W consecutive floats per k (zero-padded beyond N).
    //   Scalar equivalent of the accumulation, one accumulator per element, k in increasing order:
    //      for k: for r < 6: for j < W: acc[r, j] = fma(A[r, k], B[k, j], acc[r, j])
    //   Lanes: each row holds its columns in two 8-lane vectors (AVX2), two 16-lane vectors (AVX-512) or four
    //   4-lane vectors (portable, multiply then add); one broadcast of A[r, k] feeds them. 12 (portable 24)
    //   accumulators stay in registers. AVX2 and AVX-512 perform the identical operations per element, so they
    //   produce the same bits.
    //   Then the store step (see Overwrite/Scale/Accumulate/Raw) writes the tile to C.

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void KernelFma(int kc, float* a, nint rowStride, nint kStride, int mr,
        float* b, float* c, nint ldc, float alpha, float beta, int mode)
    {
        float* a0 = a;
        float* a1 = mr > 1 ? a + 1 * rowStride : a;
        float* a2 = mr > 2 ? a + 2 * rowStride : a;
        float* a3 = mr > 3 ? a + 3 * rowStride : a;
        float* a4 = mr > 4 ? a + 4 * rowStride : a;
        float* a5 = mr > 5 ? a + 5 * rowStride : a;
        Vector256<float> c00 = Vector256<float>.Zero, c01 = Vector256<float>.Zero, c10 = Vector256<float>.Zero, c11 = Vector256<float>.Zero, c20 = Vector256<float>.Zero, c21 = Vector256<float>.Zero, c30 = Vector256<float>.Zero, c31 = Vector256<float>.Zero, c40 = Vector256<float>.Zero, c41 = Vector256<float>.Zero, c50 = Vector256<float>.Zero, c51 = Vector256<float>.Zero;
        for (int k = 0; k < kc; k++)
        {
            Vector256<float> b0 = Avx.LoadVector256(b);
            Vector256<float> b1 = Avx.LoadVector256(b + 8);
            Vector256<float> x;
            x = Vector256.Create(*a0);
            c00 = Fma.MultiplyAdd(x, b0, c00);
            c01 = Fma.MultiplyAdd(x, b1, c01);
            x = Vector256.Create(*a1);
            c10 = Fma.MultiplyAdd(x, b0, c10);
            c11 = Fma.MultiplyAdd(x, b1, c11);
            x = Vector256.Create(*a2);
            c20 = Fma.MultiplyAdd(x, b0, c20);
            c21 = Fma.MultiplyAdd(x, b1, c21);
            x = Vector256.Create(*a3);
            c30 = Fma.MultiplyAdd(x, b0, c30);
            c31 = Fma.MultiplyAdd(x, b1, c31);
            x = Vector256.Create(*a4);
            c40 = Fma.MultiplyAdd(x, b0, c40);
            c41 = Fma.MultiplyAdd(x, b1, c41);
            x = Vector256.Create(*a5);
            c50 = Fma.MultiplyAdd(x, b0, c50);
            c51 = Fma.MultiplyAdd(x, b1, c51);
            b += 16;
            a0 += kStride; a1 += kStride; a2 += kStride; a3 += kStride; a4 += kStride; a5 += kStride;
        }
        Vector256<float> va = Vector256.Create(alpha), vb = Vector256.Create(beta);
        StoreFma(c + 0 * ldc, c00, c01, va, vb, mode);
        StoreFma(c + 1 * ldc, c10, c11, va, vb, mode);
        StoreFma(c + 2 * ldc, c20, c21, va, vb, mode);
        StoreFma(c + 3 * ldc, c30, c31, va, vb, mode);
        StoreFma(c + 4 * ldc, c40, c41, va, vb, mode);
        StoreFma(c + 5 * ldc, c50, c51, va, vb, mode);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreFma(float* c, Vector256<float> acc0, Vector256<float> acc1, Vector256<float> alpha, Vector256<float> beta, int mode)
    {
        switch (mode)
        {
            case Raw:
                Avx.Store(c, acc0);
                Avx.Store(c + 8, acc1);
                break;
            case Overwrite:
                Avx.Store(c, Fma.MultiplyAdd(acc0, alpha, Vector256<float>.Zero));
                Avx.Store(c + 8, Fma.MultiplyAdd(acc1, alpha, Vector256<float>.Zero));
                break;
            case Scale:
                Avx.Store(c, Fma.MultiplyAdd(acc0, alpha, Avx.Multiply(Avx.LoadVector256(c), beta)));
                Avx.Store(c + 8, Fma.MultiplyAdd(acc1, alpha, Avx.Multiply(Avx.LoadVector256(c + 8), beta)));
                break;
            default:
                Avx.Store(c, Fma.MultiplyAdd(acc0, alpha, Avx.LoadVector256(c)));
                Avx.Store(c + 8, Fma.MultiplyAdd(acc1, alpha, Avx.LoadVector256(c + 8)));
                break;
        }
    }

    /// <summary>AVX-512 twin of <see cref="KernelFma"/>: a 6 × 32 tile, each row in two 16-lane vectors. Same arithmetic per element.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void KernelAvx512(int kc, float* a, nint rowStride, nint kStride, int mr,
        float* b, float* c, nint ldc, float alpha, float beta, int mode)
    {
        float* a0 = a;
        float* a1 = mr > 1 ? a + 1 * rowStride : a;
        float* a2 = mr > 2 ? a + 2 * rowStride : a;
        float* a3 = mr > 3 ? a + 3 * rowStride : a;
        float* a4 = mr > 4 ? a + 4 * rowStride : a;
        float* a5 = mr > 5 ? a + 5 * rowStride : a;
        Vector512<float> c00 = Vector512<float>.Zero, c01 = Vector512<float>.Zero, c10 = Vector512<float>.Zero, c11 = Vector512<float>.Zero, c20 = Vector512<float>.Zero, c21 = Vector512<float>.Zero, c30 = Vector512<float>.Zero, c31 = Vector512<float>.Zero, c40 = Vector512<float>.Zero, c41 = Vector512<float>.Zero, c50 = Vector512<float>.Zero, c51 = Vector512<float>.Zero;
        for (int k = 0; k < kc; k++)
        {
            Vector512<float> b0 = Vector512.Load(b);
            Vector512<float> b1 = Vector512.Load(b + 16);
            Vector512<float> x;
            x = Vector512.Create(*a0);
            c00 = Avx512F.FusedMultiplyAdd(x, b0, c00);
            c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(*a1);
            c10 = Avx512F.FusedMultiplyAdd(x, b0, c10);
            c11 = Avx512F.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(*a2);
            c20 = Avx512F.FusedMultiplyAdd(x, b0, c20);
            c21 = Avx512F.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(*a3);
            c30 = Avx512F.FusedMultiplyAdd(x, b0, c30);
            c31 = Avx512F.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(*a4);
            c40 = Avx512F.FusedMultiplyAdd(x, b0, c40);
            c41 = Avx512F.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(*a5);
            c50 = Avx512F.FusedMultiplyAdd(x, b0, c50);
            c51 = Avx512F.FusedMultiplyAdd(x, b1, c51);
            b += 32;
            a0 += kStride; a1 += kStride; a2 += kStride; a3 += kStride; a4 += kStride; a5 += kStride;
        }
        Vector512<float> va = Vector512.Create(alpha), vb = Vector512.Create(beta);
        StoreAvx512(c + 0 * ldc, c00, c01, va, vb, mode);
        StoreAvx512(c + 1 * ldc, c10, c11, va, vb, mode);
        StoreAvx512(c + 2 * ldc, c20, c21, va, vb, mode);
        StoreAvx512(c + 3 * ldc, c30, c31, va, vb, mode);
        StoreAvx512(c + 4 * ldc, c40, c41, va, vb, mode);
        StoreAvx512(c + 5 * ldc, c50, c51, va, vb, mode);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreAvx512(float* c, Vector512<float> acc0, Vector512<float> acc1, Vector512<float> alpha, Vector512<float> beta, int mode)
    {
        switch (mode)
        {
            case Raw:
                acc0.Store(c);
                acc1.Store(c + 16);
                break;
            case Overwrite:
                Avx512F.FusedMultiplyAdd(acc0, alpha, Vector512<float>.Zero).Store(c);
                Avx512F.FusedMultiplyAdd(acc1, alpha, Vector512<float>.Zero).Store(c + 16);
                break;
            case Scale:
                Avx512F.FusedMultiplyAdd(acc0, alpha, Avx512F.Multiply(Vector512.Load(c), beta)).Store(c);
                Avx512F.FusedMultiplyAdd(acc1, alpha, Avx512F.Multiply(Vector512.Load(c + 16), beta)).Store(c + 16);
                break;
            default:
                Avx512F.FusedMultiplyAdd(acc0, alpha, Vector512.Load(c)).Store(c);
                Avx512F.FusedMultiplyAdd(acc1, alpha, Vector512.Load(c + 16)).Store(c + 16);
                break;
        }
    }

    /// <summary>
    /// AVX-512 kernel for 16-wide panels (N ≤ 16): a 12 × 16 tile, one 16-lane vector per row, so twelve independent
    /// FMA chains hide the FMA latency that six could not. Rows 0–5 start at a, rows 6–11 at aLower (the next 6-row
    /// panel, or six rows further down an in-place A). Full tiles only; the same per-element arithmetic as
    /// <see cref="KernelFma"/>, which handles the remaining rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void KernelAvx512Narrow(int kc, float* a, float* aLower, nint rowStride, nint kStride,
        float* b, float* c, nint ldc, float alpha, float beta, int mode)
    {
        float* a0 = a + 0 * rowStride;
        float* a1 = a + 1 * rowStride;
        float* a2 = a + 2 * rowStride;
        float* a3 = a + 3 * rowStride;
        float* a4 = a + 4 * rowStride;
        float* a5 = a + 5 * rowStride;
        float* a6 = aLower + 0 * rowStride;
        float* a7 = aLower + 1 * rowStride;
        float* a8 = aLower + 2 * rowStride;
        float* a9 = aLower + 3 * rowStride;
        float* a10 = aLower + 4 * rowStride;
        float* a11 = aLower + 5 * rowStride;
        Vector512<float> c0 = Vector512<float>.Zero, c1 = Vector512<float>.Zero, c2 = Vector512<float>.Zero, c3 = Vector512<float>.Zero, c4 = Vector512<float>.Zero, c5 = Vector512<float>.Zero, c6 = Vector512<float>.Zero, c7 = Vector512<float>.Zero, c8 = Vector512<float>.Zero, c9 = Vector512<float>.Zero, c10 = Vector512<float>.Zero, c11 = Vector512<float>.Zero;
        for (int k = 0; k < kc; k++)
        {
            Vector512<float> b0 = Vector512.Load(b);
            c0 = Avx512F.FusedMultiplyAdd(Vector512.Create(*a0), b0, c0);
            c1 = Avx512F.FusedMultiplyAdd(Vector512.Create(*a1), b0, c1);
            c2 = Avx512F.FusedMultiplyAdd(Vector512.Create(*a2), b0, c2);
            c3 = Avx512F.FusedMultiplyAdd(Vector512.Create(*a3), b0, c3);
            c4 = Avx512F.FusedMultiplyAdd(Vector512.Create(*a4), b0, c4);
            c5 = Avx512F.FusedMultiplyAdd(Vector512.Create(*a5), b0, c5);
            c6 = Avx512F.FusedMultiplyAdd(Vector512.Create(*a6), b0, c6);
            c7 = Avx512F.FusedMultiplyAdd(Vector512.Create(*a7), b0, c7);
            c8 = Avx512F.FusedMultiplyAdd(Vector512.Create(*a8), b0, c8);
            c9 = Avx512F.FusedMultiplyAdd(Vector512.Create(*a9), b0, c9);
            c10 = Avx512F.FusedMultiplyAdd(Vector512.Create(*a10), b0, c10);
            c11 = Avx512F.FusedMultiplyAdd(Vector512.Create(*a11), b0, c11);
            b += 16;
            a0 += kStride; a1 += kStride; a2 += kStride; a3 += kStride; a4 += kStride; a5 += kStride; a6 += kStride; a7 += kStride; a8 += kStride; a9 += kStride; a10 += kStride; a11 += kStride;
        }
        Vector512<float> va = Vector512.Create(alpha), vb = Vector512.Create(beta);
        StoreAvx512Row(c + 0 * ldc, c0, va, vb, mode);
        StoreAvx512Row(c + 1 * ldc, c1, va, vb, mode);
        StoreAvx512Row(c + 2 * ldc, c2, va, vb, mode);
        StoreAvx512Row(c + 3 * ldc, c3, va, vb, mode);
        StoreAvx512Row(c + 4 * ldc, c4, va, vb, mode);
        StoreAvx512Row(c + 5 * ldc, c5, va, vb, mode);
        StoreAvx512Row(c + 6 * ldc, c6, va, vb, mode);
        StoreAvx512Row(c + 7 * ldc, c7, va, vb, mode);
        StoreAvx512Row(c + 8 * ldc, c8, va, vb, mode);
        StoreAvx512Row(c + 9 * ldc, c9, va, vb, mode);
        StoreAvx512Row(c + 10 * ldc, c10, va, vb, mode);
        StoreAvx512Row(c + 11 * ldc, c11, va, vb, mode);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreAvx512Row(float* c, Vector512<float> acc, Vector512<float> alpha, Vector512<float> beta, int mode)
    {
        Vector512<float> addend = mode == Overwrite ? Vector512<float>.Zero
            : mode == Scale ? Avx512F.Multiply(Vector512.Load(c), beta)
            : Vector512.Load(c);
        Avx512F.FusedMultiplyAdd(acc, alpha, addend).Store(c);
    }

    /// <summary>Portable micro-kernel (Vector128: SSE or AdvSimd), multiply then add, no fused operations.</summary>
    private static unsafe void KernelPortable(int kc, float* a, nint rowStride, nint kStride, int mr,
        float* b, float* c, nint ldc, float alpha, float beta, int mode)
    {
        float* a0 = a;
        float* a1 = mr > 1 ? a + 1 * rowStride : a;
        float* a2 = mr > 2 ? a + 2 * rowStride : a;
        float* a3 = mr > 3 ? a + 3 * rowStride : a;
        float* a4 = mr > 4 ? a + 4 * rowStride : a;
        float* a5 = mr > 5 ? a + 5 * rowStride : a;
        Vector128<float> c00 = Vector128<float>.Zero, c01 = Vector128<float>.Zero, c02 = Vector128<float>.Zero, c03 = Vector128<float>.Zero, c10 = Vector128<float>.Zero, c11 = Vector128<float>.Zero, c12 = Vector128<float>.Zero, c13 = Vector128<float>.Zero, c20 = Vector128<float>.Zero, c21 = Vector128<float>.Zero, c22 = Vector128<float>.Zero, c23 = Vector128<float>.Zero, c30 = Vector128<float>.Zero, c31 = Vector128<float>.Zero, c32 = Vector128<float>.Zero, c33 = Vector128<float>.Zero, c40 = Vector128<float>.Zero, c41 = Vector128<float>.Zero, c42 = Vector128<float>.Zero, c43 = Vector128<float>.Zero, c50 = Vector128<float>.Zero, c51 = Vector128<float>.Zero, c52 = Vector128<float>.Zero, c53 = Vector128<float>.Zero;
        for (int k = 0; k < kc; k++)
        {
            Vector128<float> b0 = Vector128.Load(b), b1 = Vector128.Load(b + 4), b2 = Vector128.Load(b + 8), b3 = Vector128.Load(b + 12);
            Vector128<float> x;
            x = Vector128.Create(*a0);
            c00 += x * b0; c01 += x * b1; c02 += x * b2; c03 += x * b3;
            x = Vector128.Create(*a1);
            c10 += x * b0; c11 += x * b1; c12 += x * b2; c13 += x * b3;
            x = Vector128.Create(*a2);
            c20 += x * b0; c21 += x * b1; c22 += x * b2; c23 += x * b3;
            x = Vector128.Create(*a3);
            c30 += x * b0; c31 += x * b1; c32 += x * b2; c33 += x * b3;
            x = Vector128.Create(*a4);
            c40 += x * b0; c41 += x * b1; c42 += x * b2; c43 += x * b3;
            x = Vector128.Create(*a5);
            c50 += x * b0; c51 += x * b1; c52 += x * b2; c53 += x * b3;
            b += 16;
            a0 += kStride; a1 += kStride; a2 += kStride; a3 += kStride; a4 += kStride; a5 += kStride;
        }
        StorePortable(c + 0 * ldc, c00, c01, c02, c03, alpha, beta, mode);
        StorePortable(c + 1 * ldc, c10, c11, c12, c13, alpha, beta, mode);
        StorePortable(c + 2 * ldc, c20, c21, c22, c23, alpha, beta, mode);
        StorePortable(c + 3 * ldc, c30, c31, c32, c33, alpha, beta, mode);
        StorePortable(c + 4 * ldc, c40, c41, c42, c43, alpha, beta, mode);
        StorePortable(c + 5 * ldc, c50, c51, c52, c53, alpha, beta, mode);
    }

    private static unsafe void StorePortable(float* c, Vector128<float> acc0, Vector128<float> acc1, Vector128<float> acc2, Vector128<float> acc3, float alpha, float beta, int mode)
    {
        if (mode == Raw)
        {
            acc0.Store(c); acc1.Store(c + 4); acc2.Store(c + 8); acc3.Store(c + 12);
            return;
        }
        Vector128<float> va = Vector128.Create(alpha);
        StorePortable4(c, acc0 * va, beta, mode);
        StorePortable4(c + 4, acc1 * va, beta, mode);
        StorePortable4(c + 8, acc2 * va, beta, mode);
        StorePortable4(c + 12, acc3 * va, beta, mode);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StorePortable4(float* c, Vector128<float> scaled, float beta, int mode)
    {
        Vector128<float> addend = mode == Overwrite ? Vector128<float>.Zero
            : mode == Scale ? Vector128.Load(c) * Vector128.Create(beta)
            : Vector128.Load(c);
        (scaled + addend).Store(c);
    }
}
