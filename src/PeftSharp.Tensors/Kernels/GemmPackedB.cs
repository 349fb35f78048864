using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PeftSharp.Tensors.Kernels;

/// <summary>
/// A B operand packed once into the micro-kernel's panel layout, for a frozen weight reused across many products
/// (<see cref="Gemm.Sgemm(bool, int, float, ReadOnlySpan{float}, int, GemmPackedB, float, Span{float}, int)"/>
/// then skips packing entirely). Holds op(B) as (K, N) float32 — four bytes per element even when packed from
/// bf16/f16, so it trades memory for speed. Results are bitwise identical to the unpacked call.
/// Immutable and safe to share between threads.
/// </summary>
public sealed unsafe class GemmPackedB
{
    private readonly float[] _data;
    private readonly int _offset;

    internal GemmPackedB(int k, int n, GemmKernel kernel)
    {
        K = k;
        N = n;
        Kernel = kernel;
        int width = Gemm.PanelWidth(kernel);
        NPad = (n + width - 1) / width * width;
        long length = (long)k * NPad;
        if (length > Array.MaxLength - 16)
        {
            throw new ArgumentOutOfRangeException(nameof(k), $"A packed ({k}, {n}) operand needs {length} floats, more than one array holds.");
        }
        // Pinned so that the aligned raw pointer stays valid for the object's lifetime.
        _data = GC.AllocateUninitializedArray<float>((int)length + 16, pinned: true);
        _offset = (int)(((64 - ((nuint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_data)) & 63)) & 63) / sizeof(float));
    }

    /// <summary>Rows of op(B): the reduced dimension.</summary>
    public int K { get; }

    /// <summary>Columns of op(B) and of the product.</summary>
    public int N { get; }

    /// <summary>Bytes held by the packed copy.</summary>
    public long SizeInBytes => (long)_data.Length * sizeof(float);

    internal GemmKernel Kernel { get; }

    internal int NPad { get; }

    internal unsafe float* Pointer => (float*)Unsafe.AsPointer(ref _data[_offset]);

    internal void KeepAlive() => GC.KeepAlive(_data);
}

public static partial class Gemm
{
    /// <summary>Packs op(B) (K, N) from float32 for repeated use with the packed-B overload of <c>Sgemm</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is negative or <paramref name="ldb"/> is too small.</exception>
    /// <exception cref="ArgumentException"><paramref name="b"/> is too short for the shape.</exception>
    public static GemmPackedB PackB(bool transB, int k, int n, ReadOnlySpan<float> b, int ldb)
        => PackB(transB, k, n, b, ldb, BestKernel);

    /// <summary>Packs op(B) (K, N) from bf16/f16 storage (widened to float32) for repeated use with the packed-B overload of <c>Sgemm</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is negative or <paramref name="ldb"/> is too small.</exception>
    /// <exception cref="ArgumentException"><paramref name="bType"/> is not BF16 or F16, or <paramref name="b"/> is too short.</exception>
    public static GemmPackedB PackB(bool transB, int k, int n, ReadOnlySpan<ushort> b, DType bType, int ldb)
        => PackB(transB, k, n, b, bType, ldb, BestKernel);

    /// <summary>
    /// Computes <c>C = alpha·op(A)·B + beta·C</c> with a pre-packed B (K, N); same semantics and determinism as the
    /// unpacked overloads, except that M ≤ 4 also runs the blocked kernel here (B is already in panel form) where the
    /// unpacked call would run the GEMV.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="b"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">M is negative or a leading dimension is too small.</exception>
    /// <exception cref="ArgumentException">A span is too short, or C overlaps A.</exception>
    public static unsafe void Sgemm(bool transA, int m, float alpha, ReadOnlySpan<float> a, int lda, GemmPackedB b, float beta, Span<float> c, int ldc)
        => Sgemm(transA, m, alpha, a, lda, b, beta, c, ldc, CpuPool.MaxThreads);

    internal static unsafe void Sgemm(bool transA, int m, float alpha, ReadOnlySpan<float> a, int lda, GemmPackedB b, float beta, Span<float> c, int ldc, int maxThreads)
    {
        ArgumentNullException.ThrowIfNull(b);
        // B is validated when packed; a stand-in length and ldb describe it here.
        Validate(transA, false, m, b.N, b.K, a.Length, lda, 0, int.MaxValue, Math.Max(1, b.N), 0, c.Length, ldc, 0, 1);
        if (c.Overlaps(a))
        {
            throw new ArgumentException("C must not overlap A.", nameof(c));
        }
        fixed (float* pa = a)
        fixed (float* pc = c)
        {
            var problem = new GemmProblem
            {
                TransA = transA, M = m, N = b.N, K = b.K, Alpha = alpha, Beta = beta,
                A = pa, Lda = lda, BType = DType.F32, Ldb = Math.Max(1, b.N),
                C = pc, Ldc = ldc, Batch = 1,
                Kernel = b.Kernel, PackedB = b.Pointer, PackedNPad = b.NPad,
            };
            Run(in problem, maxThreads);
        }
        b.KeepAlive();
    }

    internal static unsafe GemmPackedB PackB(bool transB, int k, int n, ReadOnlySpan<float> b, int ldb, GemmKernel kernel)
    {
        Validate(false, transB, 0, n, k, 0, Math.Max(1, k), 0, b.Length, ldb, 0, 0, Math.Max(1, n), 0, 1);
        fixed (float* pb = b)
        {
            return PackWhole(transB, DType.F32, pb, k, n, ldb, kernel);
        }
    }

    internal static unsafe GemmPackedB PackB(bool transB, int k, int n, ReadOnlySpan<ushort> b, DType bType, int ldb, GemmKernel kernel)
    {
        if (bType != DType.BF16 && bType != DType.F16)
        {
            throw new ArgumentException($"The 16-bit B operand must be BF16 or F16, got {bType}.", nameof(bType));
        }
        Validate(false, transB, 0, n, k, 0, Math.Max(1, k), 0, b.Length, ldb, 0, 0, Math.Max(1, n), 0, 1);
        fixed (ushort* pb = b)
        {
            return PackWhole(transB, bType, pb, k, n, ldb, kernel);
        }
    }

    private static unsafe GemmPackedB PackWhole(bool transB, DType type, void* b, int k, int n, int ldb, GemmKernel kernel)
    {
        var packed = new GemmPackedB(k, n, NarrowestFit(kernel, n));
        kernel = packed.Kernel;
        var work = new PackWork
        {
            TransB = transB, Type = type, B = b, K = k, N = n, Ldb = ldb, Kernel = kernel,
            Dst = packed.Pointer, NPad = packed.NPad,
        };
        CpuPool.For((k + BlockK - 1) / BlockK, in work);
        packed.KeepAlive();
        return packed;
    }

    /// <summary>Packs one K block (all columns, in BlockN chunks so the 16-bit scratch suffices).</summary>
    private unsafe struct PackWork : IParallelAction
    {
        public bool TransB;
        public DType Type;
        public void* B;
        public int K, N, Ldb, NPad;
        public GemmKernel Kernel;
        public float* Dst;

        public readonly void Invoke(int index)
        {
            int pc = index * BlockK, kc = Math.Min(BlockK, K - pc);
            GemmBuffers buf = GemmBuffers.Current;
            for (int jc = 0; jc < N; jc += BlockN)
            {
                int nc = Math.Min(BlockN, N - jc);
                PackB(TransB, Type, B, Ldb, pc, kc, jc, nc, Dst + (long)pc * NPad + (long)jc * kc, buf.Scratch,
                    PanelWidth(Kernel), Kernel == GemmKernel.Portable);
            }
        }
    }
}
