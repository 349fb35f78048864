using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PeftSharp.Tensors.Kernels;

public static partial class Gemm
{
    // GEMV, M ≤ 4 (decode, a few sequences at once): y (M, N) = alpha · x (M, K) · op(B) + beta · y. The packed
    // path would copy all of B on every call only to use it for a handful of rows; streaming B straight from memory
    // is the whole cost, so B is read exactly once and each piece of it is used for all M rows while in L1.
    //   transB (B stored (N, K), the Linear weight): y[i, j] = dot(x_i, B[j, :]), items of 64 outputs j.
    //   B stored (K, N): y[i, j0:j1] accumulates x_i[k]·B[k, j0:j1] row by row, items of 256 outputs.
    // Each output is computed by the same code whatever M, item or thread, so row i of an M-row call has the bits
    // of an M = 1 call on that row, and thread count never matters.

    /// <summary>Most rows of A the GEMV path takes; above it the packed kernel amortises its packing (measured: M = 8).</summary>
    internal const int GemvMaxRows = 4;

    private const int GemvDotItem = 64;
    private const int GemvAxpyItem = 256;

    private static unsafe void Gemv(in GemmProblem p, int maxThreads)
    {
        int perMatrix = p.TransB ? (p.N + GemvDotItem - 1) / GemvDotItem : (p.N + GemvAxpyItem - 1) / GemvAxpyItem;
        // Memory-bound: a second thread pays only when there is enough of B to stream (≥ 256 KiB).
        long bytes = (long)p.N * p.K * (p.BType == DType.F32 ? 4 : 2) * p.Batch;
        int threads = bytes < (256 << 10) ? 1 : maxThreads;
        var work = new GemvWork { P = p, PerMatrix = perMatrix };
        CpuPool.For(perMatrix * p.Batch, in work, threads);
    }

    private unsafe struct GemvWork : IParallelAction
    {
        public GemmProblem P;
        public int PerMatrix;

        public readonly void Invoke(int index)
        {
            int batch = index / PerMatrix;
            int item = index - batch * PerMatrix;
            int elementSize = P.BType == DType.F32 ? 4 : 2;
            float* a = P.A + batch * P.StrideA;
            byte* b = (byte*)P.B + batch * P.StrideB * elementSize;
            float* c = P.C + batch * P.StrideC;
            int k = P.K, m = P.M;
            bool portable = P.Kernel == GemmKernel.Portable;
            // Layout of the per-thread buffer: [x rows gathered from a transposed A: m·k]
            // [widened B row (k) or axpy accumulators (m·256) + widened B chunk (256)].
            bool gather = P.TransA && (P.Lda != 1 || m > 1);
            long xLength = gather ? (long)m * k : 0;
            long workLength = P.TransB ? k : (long)(m + 1) * GemvAxpyItem;
            float* buffer = GemmBuffers.Current.Vector(checked((int)(xLength + workLength)));
            float* work = buffer + xLength;

            // Row i of op(A) must be contiguous: in place unless A is transposed ((K, M): elements lda apart).
            float* x0 = a;
            nint xStride = P.Lda;
            if (gather)
            {
                x0 = buffer;
                xStride = k;
                for (int i = 0; i < m; i++)
                {
                    for (int kk = 0; kk < k; kk++)
                    {
                        buffer[(long)i * k + kk] = a[(long)kk * P.Lda + i];
                    }
                }
            }

            if (P.TransB)
            {
                int j0 = item * GemvDotItem, j1 = Math.Min(P.N, j0 + GemvDotItem);
                int j = j0;
                if ((P.Kernel == GemmKernel.Avx512 || P.Kernel == GemmKernel.Avx512Narrow) && P.BType == DType.BF16)
                {
                    // f32 rows stay on DotFma: it already streams at the memory bound, and 64-byte loads from
                    // 8-byte-aligned managed arrays split a cache line on every load (measured slower).
                    for (; j < j1; j++)
                    {
                        for (int i = 0; i < m; i++)
                        {
                            float* x = x0 + i * xStride;
                            float dot = DotBF16Avx512(x, (ushort*)b + (long)j * P.Ldb, k);
                            float* y = c + (long)i * P.Ldc + j;
                            *y = Finish(dot, *y, P.Alpha, P.Beta, false);
                        }
                    }
                }
                for (; j < j1; j++)
                {
                    float* row = null;
                    ushort* row16 = null;
                    if (P.BType == DType.F32)
                    {
                        row = (float*)b + (long)j * P.Ldb;
                    }
                    else if (P.BType == DType.BF16 && !portable)
                    {
                        row16 = (ushort*)b + (long)j * P.Ldb; // widened in registers by DotBF16Fma
                    }
                    else
                    {
                        LowPrecision.Widen(P.BType, new ReadOnlySpan<ushort>((ushort*)b + (long)j * P.Ldb, k), new Span<float>(work, k));
                        row = work;
                    }
                    for (int i = 0; i < m; i++)
                    {
                        float* x = x0 + i * xStride;
                        float dot = row16 != null ? DotBF16Fma(x, row16, k) : portable ? DotPortable(x, row, k) : DotFma(x, row, k);
                        float* y = c + (long)i * P.Ldc + j;
                        *y = Finish(dot, *y, P.Alpha, P.Beta, portable);
                    }
                }
            }
            else
            {
                int j0 = item * GemvAxpyItem, n = Math.Min(P.N, j0 + GemvAxpyItem) - j0;
                float* acc = work;
                float* wide = work + (long)m * GemvAxpyItem;
                new Span<float>(acc, m * GemvAxpyItem).Clear();
                for (int kk = 0; kk < k; kk++)
                {
                    float* row;
                    if (P.BType == DType.F32)
                    {
                        row = (float*)b + (long)kk * P.Ldb + j0;
                    }
                    else
                    {
                        LowPrecision.Widen(P.BType, new ReadOnlySpan<ushort>((ushort*)b + (long)kk * P.Ldb + j0, n), new Span<float>(wide, n));
                        row = wide;
                    }
                    for (int i = 0; i < m; i++)
                    {
                        Axpy(x0[i * xStride + kk], row, acc + i * GemvAxpyItem, n, portable);
                    }
                }
                for (int i = 0; i < m; i++)
                {
                    float* y = c + (long)i * P.Ldc + j0;
                    float* accRow = acc + i * GemvAxpyItem;
                    for (int j = 0; j < n; j++)
                    {
                        y[j] = Finish(accRow[j], y[j], P.Alpha, P.Beta, portable);
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish(float acc, float c, float alpha, float beta, bool portable)
    {
        float addend = beta == 0f ? 0f : beta == 1f ? c : c * beta;
        return portable ? acc * alpha + addend : MathF.FusedMultiplyAdd(acc, alpha, addend);
    }

    /// <summary>
    /// dot(x, y) with four 8-lane FMA accumulators (32 elements per step, enough independent chains to cover FMA
    /// latency), then one 8-lane accumulator, a fixed-order horizontal sum and a scalar FMA tail.
    /// </summary>
    private static unsafe float DotFma(float* x, float* y, int n)
    {
        Vector256<float> s0 = Vector256<float>.Zero, s1 = s0, s2 = s0, s3 = s0;
        int i = 0;
        for (; i <= n - 32; i += 32)
        {
            s0 = Fma.MultiplyAdd(Avx.LoadVector256(x + i), Avx.LoadVector256(y + i), s0);
            s1 = Fma.MultiplyAdd(Avx.LoadVector256(x + i + 8), Avx.LoadVector256(y + i + 8), s1);
            s2 = Fma.MultiplyAdd(Avx.LoadVector256(x + i + 16), Avx.LoadVector256(y + i + 16), s2);
            s3 = Fma.MultiplyAdd(Avx.LoadVector256(x + i + 24), Avx.LoadVector256(y + i + 24), s3);
        }
        for (; i <= n - 8; i += 8)
        {
            s0 = Fma.MultiplyAdd(Avx.LoadVector256(x + i), Avx.LoadVector256(y + i), s0);
        }
        Vector256<float> s = Avx.Add(Avx.Add(s0, s1), Avx.Add(s2, s3));
        float sum = Vector256.Sum(s);
        for (; i < n; i++)
        {
            sum = MathF.FusedMultiplyAdd(x[i], y[i], sum);
        }
        return sum;
    }

    /// <summary>
    /// <see cref="DotFma"/> with y in bf16, widened in registers (zero-extend 8 × u16 to i32, shift left 16 = the
    /// float32 bits). Widening is exact, so the result is bit-identical to widening y first and calling DotFma.
    /// </summary>
    private static unsafe float DotBF16Fma(float* x, ushort* y, int n)
    {
        Vector256<float> s0 = Vector256<float>.Zero, s1 = s0, s2 = s0, s3 = s0;
        int i = 0;
        for (; i <= n - 32; i += 32)
        {
            s0 = Fma.MultiplyAdd(Avx.LoadVector256(x + i), WidenBF16(y + i), s0);
            s1 = Fma.MultiplyAdd(Avx.LoadVector256(x + i + 8), WidenBF16(y + i + 8), s1);
            s2 = Fma.MultiplyAdd(Avx.LoadVector256(x + i + 16), WidenBF16(y + i + 16), s2);
            s3 = Fma.MultiplyAdd(Avx.LoadVector256(x + i + 24), WidenBF16(y + i + 24), s3);
        }
        for (; i <= n - 8; i += 8)
        {
            s0 = Fma.MultiplyAdd(Avx.LoadVector256(x + i), WidenBF16(y + i), s0);
        }
        Vector256<float> s = Avx.Add(Avx.Add(s0, s1), Avx.Add(s2, s3));
        float sum = Vector256.Sum(s);
        for (; i < n; i++)
        {
            sum = MathF.FusedMultiplyAdd(x[i], LowPrecision.BF16ToSingle(y[i]), sum);
        }
        return sum;
    }

    // AVX-512 bf16 dot product. Lanes: accumulator lo holds lanes 0–15 of each 32-element step, hi lanes 16–31, i.e.
    // exactly DotBF16Fma's four 8-lane accumulators side by side (s0 s1 = lo, s2 s3 = hi); the tail and the reduction
    // then run DotBF16Fma's own code on those halves, so the result has its bits (the AVX2 and AVX-512 paths agree, and
    // both equal widening first) with half the instructions per element. Measured: blocking four rows of B together
    // (eight chains, x loaded once) ran slower than one row at a time, whose loads form one sequential stream.

    /// <summary>dot(x, y) with y in bf16 widened in registers (16 lanes at a time): bitwise equal to <see cref="DotBF16Fma"/>.</summary>
    private static unsafe float DotBF16Avx512(float* x, ushort* y, int n)
    {
        Vector512<float> lo = Vector512<float>.Zero, hi = lo;
        int i = 0;
        for (; i <= n - 32; i += 32)
        {
            lo = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x + i), WidenBF16x16(y + i), lo);
            hi = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x + i + 16), WidenBF16x16(y + i + 16), hi);
        }
        return DotBF16FmaFinish(lo, hi, x, y, i, n);
    }

    /// <summary>The part of <see cref="DotBF16Fma"/> after its 32-wide loop, from accumulators s0 s1 = lo, s2 s3 = hi.</summary>
    private static unsafe float DotBF16FmaFinish(Vector512<float> lo, Vector512<float> hi, float* x, ushort* y, int i, int n)
    {
        Vector256<float> s0 = lo.GetLower(), s1 = lo.GetUpper(), s2 = hi.GetLower(), s3 = hi.GetUpper();
        for (; i <= n - 8; i += 8)
        {
            s0 = Fma.MultiplyAdd(Avx.LoadVector256(x + i), WidenBF16(y + i), s0);
        }
        Vector256<float> s = Avx.Add(Avx.Add(s0, s1), Avx.Add(s2, s3));
        float sum = Vector256.Sum(s);
        for (; i < n; i++)
        {
            sum = MathF.FusedMultiplyAdd(x[i], LowPrecision.BF16ToSingle(y[i]), sum);
        }
        return sum;
    }

    /// <summary>16 bf16 values to float32 (exact): zero-extend each u16 to 32 bits, shift into the high half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<float> WidenBF16x16(ushort* p)
        => Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Avx.LoadVector256(p)), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<float> WidenBF16(ushort* p)
        => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Sse2.LoadVector128(p)), 16).AsSingle();

    private static unsafe float DotPortable(float* x, float* y, int n)
    {
        Vector128<float> s0 = Vector128<float>.Zero, s1 = s0;
        int i = 0;
        for (; i <= n - 8; i += 8)
        {
            s0 += Vector128.Load(x + i) * Vector128.Load(y + i);
            s1 += Vector128.Load(x + i + 4) * Vector128.Load(y + i + 4);
        }
        float sum = Vector128.Sum(s0 + s1);
        for (; i < n; i++)
        {
            sum += x[i] * y[i];
        }
        return sum;
    }

    /// <summary>acc[j] += s·row[j]; 8 lanes per FMA step, scalar FMA tail (the same single rounding per element).</summary>
    private static unsafe void Axpy(float s, float* row, float* acc, int n, bool portable)
    {
        int j = 0;
        if (portable)
        {
            Vector128<float> vs4 = Vector128.Create(s);
            for (; j <= n - 4; j += 4)
            {
                (Vector128.Load(acc + j) + vs4 * Vector128.Load(row + j)).Store(acc + j);
            }
            for (; j < n; j++)
            {
                acc[j] += s * row[j];
            }
            return;
        }
        Vector256<float> vs = Vector256.Create(s);
        for (; j <= n - 8; j += 8)
        {
            Avx.Store(acc + j, Fma.MultiplyAdd(vs, Avx.LoadVector256(row + j), Avx.LoadVector256(acc + j)));
        }
        for (; j < n; j++)
        {
            acc[j] = MathF.FusedMultiplyAdd(s, row[j], acc[j]);
        }
    }
}
