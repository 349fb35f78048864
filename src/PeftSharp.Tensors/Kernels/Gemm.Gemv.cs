using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PeftSharp.Tensors.Kernels;

public static partial class Gemm
{
    // GEMV, M = 1 (decode): y (1, N) = alpha · x (1, K) · op(B) + beta · y. The packed path would copy B once per
    // call only to use it once; streaming B straight from memory is the whole cost, so B is read exactly once.
    //   transB (B stored (N, K), the Linear weight): y[j] = dot(x, B[j, :]), items of 64 outputs.
    //   B stored (K, N): y[j0:j1] accumulates x[k]·B[k, j0:j1] row by row, items of 256 outputs.
    // Items have a fixed size, so which thread computes an output never changes its arithmetic.

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
            GemmBuffers buf = GemmBuffers.Current;
            int k = P.K;
            // x must be contiguous: a transposed (K, 1) A has its elements lda apart.
            float* x = a;
            if (P.TransA && P.Lda != 1)
            {
                x = buf.Vector(2 * k + GemvAxpyItem);
                for (int i = 0; i < k; i++)
                {
                    x[i] = a[(long)i * P.Lda];
                }
            }
            float* work = (x == a ? buf.Vector(k + GemvAxpyItem) : buf.Vector(2 * k + GemvAxpyItem) + k);
            if (P.TransB)
            {
                int j0 = item * GemvDotItem, j1 = Math.Min(P.N, j0 + GemvDotItem);
                for (int j = j0; j < j1; j++)
                {
                    float* row;
                    if (P.BType == DType.F32)
                    {
                        row = (float*)b + (long)j * P.Ldb;
                    }
                    else if (P.BType == DType.BF16 && P.Kernel != GemmKernel.Portable)
                    {
                        c[j] = Finish(DotBF16Fma(x, (ushort*)b + (long)j * P.Ldb, k), c[j], P.Alpha, P.Beta, false);
                        continue;
                    }
                    else
                    {
                        LowPrecision.Widen(P.BType, new ReadOnlySpan<ushort>((ushort*)b + (long)j * P.Ldb, k), new Span<float>(work, k));
                        row = work;
                    }
                    float dot = P.Kernel == GemmKernel.Portable ? DotPortable(x, row, k) : DotFma(x, row, k);
                    c[j] = Finish(dot, c[j], P.Alpha, P.Beta, P.Kernel == GemmKernel.Portable);
                }
            }
            else
            {
                int j0 = item * GemvAxpyItem, n = Math.Min(P.N, j0 + GemvAxpyItem) - j0;
                float* acc = work;
                float* wide = work + GemvAxpyItem;
                new Span<float>(acc, n).Clear();
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
                    Axpy(x[kk], row, acc, n, P.Kernel == GemmKernel.Portable);
                }
                for (int j = 0; j < n; j++)
                {
                    c[j0 + j] = Finish(acc[j], c[j0 + j], P.Alpha, P.Beta, P.Kernel == GemmKernel.Portable);
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
