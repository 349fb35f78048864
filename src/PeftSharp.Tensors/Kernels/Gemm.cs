using System.Runtime.Intrinsics.X86;

namespace PeftSharp.Tensors.Kernels;

// Legend (row-major throughout):
//   M rows of op(A) and C, N columns of op(B) and C, K the shared (reduced) dimension.
//   op(A) is (M, K): A is stored (M, K) with leading dimension lda, or (K, M) when transA.
//   op(B) is (K, N): B is stored (K, N) with leading dimension ldb, or (N, K) when transB
//   (a Linear weight W stored (out, in) gives y = x·Wᵀ with transB = true).
//   C is (M, N) with leading dimension ldc.
// In a transformer: forward y = x·Wᵀ (transB), input gradient dX = dY·W (no transposition),
// weight gradient dW = dYᵀ·X (transA, usually beta = 1 to accumulate).

/// <summary>
/// Single-precision matrix multiply: <c>C = alpha·op(A)·op(B) + beta·C</c> on row-major spans.
/// <para>
/// Large products run a packed, cache-blocked kernel (6×16 AVX2/FMA micro-kernel, 6×32 on AVX-512, portable fallback) on
/// <see cref="CpuPool"/>; up to four rows (M ≤ 4, decode) run a GEMV that streams B once. B may be stored as bf16 or f16
/// (widened while packing). Transposed operands are absorbed by the packing (or read in place); no transposed copy
/// of a whole matrix is ever made.
/// </para>
/// <para>
/// Determinism: every element of C is produced by the same sequence of floating-point operations whatever the
/// number of threads (K is cut into fixed blocks of <see cref="BlockK"/>; work is split only along M and N), so
/// results are bitwise identical run to run and across <see cref="CpuPool.MaxThreads"/>. They can differ in the
/// last bits from <see cref="Reference"/>, between the GEMV (M ≤ 4) and the blocked path, and between the FMA and portable kernels (the AVX2
/// and AVX-512 kernels give identical bits).
/// </para>
/// <para>
/// <c>beta = 0</c> never reads C, so NaN or garbage there is ignored. C must not overlap A or B.
/// </para>
/// </summary>
public static partial class Gemm
{
    /// <summary>Rows of C computed by one micro-kernel call.</summary>
    internal const int MR = 6;

    /// <summary>Columns of C computed by one AVX2 or portable micro-kernel call (two 8-lane vectors).</summary>
    internal const int NR = 16;

    /// <summary>Columns of C computed by one AVX-512 micro-kernel call (two 16-lane vectors); the widest panel.</summary>
    internal const int MaxNR = 32;

    /// <summary>Width of the packed B micro-panels the given kernel consumes.</summary>
    internal static int PanelWidth(GemmKernel kernel) => kernel == GemmKernel.Avx512 ? MaxNR : NR;

    /// <summary>The fastest kernel this machine supports.</summary>
    internal static GemmKernel BestKernel { get; } =
        Avx512F.IsSupported && Fma.IsSupported ? GemmKernel.Avx512 : Fma.IsSupported && Avx2.IsSupported ? GemmKernel.Fma256 : GemmKernel.Portable;

    /// <summary>K block: a 16-column B micro-panel (KC·16·4 bytes = 16 KiB) stays in L1 across the row loop.</summary>
    internal const int BlockK = 256;

    /// <summary>M block: rows of A (MC·KC·4 bytes ≈ 144 KiB) kept in L2 while the column micro-panels stream by.</summary>
    internal const int BlockM = 144;

    /// <summary>N block: columns of packed B (KC·NC·4 bytes = 512 KiB) per packing pass, sized for L2.</summary>
    internal const int BlockN = 512;

    /// <summary>The micro-kernel large products use on this machine, e.g. "AVX-512 6x32" (N ≤ 16 uses the 16-wide one).</summary>
    public static string KernelName => BestKernel switch
    {
        GemmKernel.Avx512 => "AVX-512 6x32",
        GemmKernel.Fma256 => "AVX2/FMA 6x16",
        _ => "portable 6x16",
    };

    /// <summary>True when this machine runs an FMA micro-kernel (AVX2, or AVX-512 where available); otherwise the portable one is used.</summary>
    public static bool IsAccelerated => Fma.IsSupported && Avx2.IsSupported;

    /// <summary>Computes <c>C = alpha·op(A)·op(B) + beta·C</c> (see the class remarks for layout and determinism).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is negative or a leading dimension is too small.</exception>
    /// <exception cref="ArgumentException">A span is too short for the shape, or C overlaps A or B.</exception>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        => SgemmStridedBatched(transA, transB, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1, GemmOptions.Default);

    /// <summary>
    /// Computes <c>C = alpha·op(A)·op(B) + beta·C</c> with B stored as 16-bit floats (<see cref="DType.BF16"/> or
    /// <see cref="DType.F16"/>), widened to float32 while packing. The result equals widening B first and calling the
    /// float32 overload, bit for bit.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="bType"/> is not BF16 or F16, a span is too short, or C overlaps A.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is negative or a leading dimension is too small.</exception>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<ushort> b, DType bType, int ldb, float beta, Span<float> c, int ldc)
        => Sgemm(transA, transB, m, n, k, alpha, a, lda, b, bType, ldb, beta, c, ldc, GemmOptions.Default);

    /// <summary>
    /// Runs <paramref name="batchCount"/> independent products <c>C[i] = alpha·op(A[i])·op(B[i]) + beta·C[i]</c>, where
    /// matrix <c>i</c> of an operand starts <c>i·stride</c> elements into its span. A stride of 0 on A or B broadcasts
    /// one matrix to every product. Work is spread over threads across the batch and, when the batch is small, within
    /// each product.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension, stride or the batch count is negative, or a leading dimension is too small.</exception>
    /// <exception cref="ArgumentException">A span is too short, the C matrices of the batch overlap each other, or C overlaps A or B.</exception>
    public static void SgemmStridedBatched(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, long strideA, ReadOnlySpan<float> b, int ldb, long strideB,
        float beta, Span<float> c, int ldc, long strideC, int batchCount)
        => SgemmStridedBatched(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batchCount, GemmOptions.Default);

    internal static unsafe void SgemmStridedBatched(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, long strideA, ReadOnlySpan<float> b, int ldb, long strideB,
        float beta, Span<float> c, int ldc, long strideC, int batchCount, GemmOptions options)
    {
        Validate(transA, transB, m, n, k, a.Length, lda, strideA, b.Length, ldb, strideB, c.Length, ldc, strideC, batchCount);
        if (c.Overlaps(a) || c.Overlaps(b))
        {
            throw new ArgumentException("C must not overlap A or B.", nameof(c));
        }
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            var problem = new GemmProblem
            {
                TransA = transA, TransB = transB, M = m, N = n, K = k, Alpha = alpha, Beta = beta,
                A = pa, Lda = lda, StrideA = strideA,
                B = pb, BType = DType.F32, Ldb = ldb, StrideB = strideB,
                C = pc, Ldc = ldc, StrideC = strideC, Batch = batchCount,
                Kernel = options.Kernel,
            };
            Run(in problem, options.MaxThreads);
        }
    }

    internal static unsafe void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<ushort> b, DType bType, int ldb, float beta, Span<float> c, int ldc, GemmOptions options)
    {
        if (bType != DType.BF16 && bType != DType.F16)
        {
            throw new ArgumentException($"The 16-bit B operand must be BF16 or F16, got {bType}.", nameof(bType));
        }
        Validate(transA, transB, m, n, k, a.Length, lda, 0, b.Length, ldb, 0, c.Length, ldc, 0, 1);
        if (c.Overlaps(a))
        {
            throw new ArgumentException("C must not overlap A.", nameof(c));
        }
        fixed (float* pa = a)
        fixed (ushort* pb = b)
        fixed (float* pc = c)
        {
            var problem = new GemmProblem
            {
                TransA = transA, TransB = transB, M = m, N = n, K = k, Alpha = alpha, Beta = beta,
                A = pa, Lda = lda,
                B = pb, BType = bType, Ldb = ldb,
                C = pc, Ldc = ldc, Batch = 1,
                Kernel = options.Kernel,
            };
            Run(in problem, options.MaxThreads);
        }
    }

    /// <summary>Elements a row-major (rows, cols) matrix with leading dimension ld spans.</summary>
    internal static long Extent(int rows, int cols, int ld) => rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;

    internal static void Validate(bool transA, bool transB, int m, int n, int k,
        int aLength, int lda, long strideA, int bLength, int ldb, long strideB, int cLength, int ldc, long strideC, int batch)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, "M must be non-negative.");
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, "N must be non-negative.");
        if (k < 0) throw new ArgumentOutOfRangeException(nameof(k), k, "K must be non-negative.");
        if (batch < 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "The batch count must be non-negative.");
        if (strideA < 0) throw new ArgumentOutOfRangeException(nameof(strideA), strideA, "strideA must be non-negative.");
        if (strideB < 0) throw new ArgumentOutOfRangeException(nameof(strideB), strideB, "strideB must be non-negative.");
        if (strideC < 0) throw new ArgumentOutOfRangeException(nameof(strideC), strideC, "strideC must be non-negative.");

        CheckOperand("A", transA ? k : m, transA ? m : k, lda, aLength, strideA, batch, transA ? "(K, M)" : "(M, K)");
        CheckOperand("B", transB ? n : k, transB ? k : n, ldb, bLength, strideB, batch, transB ? "(N, K)" : "(K, N)");
        CheckOperand("C", m, n, ldc, cLength, strideC, batch, "(M, N)");

        if (batch > 1 && m > 0 && n > 0)
        {
            // The products write C concurrently, so their C matrices must be disjoint: either whole blocks one after
            // another, or matrices interleaved within each row (heads side by side in a (T, H·D) buffer).
            bool blocksDisjoint = strideC >= Extent(m, n, ldc);
            bool rowsInterleaved = strideC >= n && (long)(batch - 1) * strideC + n <= ldc;
            if (!blocksDisjoint && !rowsInterleaved)
            {
                throw new ArgumentException(
                    $"strideC {strideC} makes the {batch} C matrices ({m}x{n}, ldc {ldc}) overlap.", "strideC");
            }
        }
    }

    private static void CheckOperand(string name, int rows, int cols, int ld, int length, long stride, int batch, string layout)
    {
        if (ld < Math.Max(1, cols))
        {
            throw new ArgumentOutOfRangeException("ld" + name.ToLowerInvariant(), ld,
                $"Leading dimension of {name} stored {layout} = ({rows}, {cols}) must be at least {Math.Max(1, cols)}.");
        }
        long extent = Extent(rows, cols, ld);
        long needed = extent == 0 || batch == 0 ? 0 : (long)(batch - 1) * stride + extent;
        if (length < needed)
        {
            throw new ArgumentException(
                $"{name} holds {length} elements but {layout} = ({rows}, {cols}) with leading dimension {ld}" +
                (batch > 1 ? $", stride {stride} and batch {batch}" : "") + $" needs {needed}.", name.ToLowerInvariant());
        }
    }
}

/// <summary>Knobs the tests and benchmarks use to pin a code path; the public API always uses <see cref="Default"/>.</summary>
internal readonly record struct GemmOptions(int MaxThreads, GemmKernel Kernel)
{
    public static GemmOptions Default => new(CpuPool.MaxThreads, Gemm.BestKernel);
}

/// <summary>Micro-kernel families; tests force each one that the machine supports.</summary>
internal enum GemmKernel
{
    /// <summary>Vector128 multiply then add: runs everywhere (SSE, AdvSimd), no fused operations.</summary>
    Portable,

    /// <summary>AVX2 + FMA3, 6×16 tiles.</summary>
    Fma256,

    /// <summary>AVX-512F, 6×32 tiles; bitwise identical results to <see cref="Fma256"/>.</summary>
    Avx512,

    /// <summary>AVX-512F on 16-wide panels (N ≤ 16): 12×16 tiles, remaining rows by the 6×16 FMA kernel; identical bits.</summary>
    Avx512Narrow,
}

/// <summary>One validated problem in raw pointers (the spans are pinned by the caller for the whole call).</summary>
internal unsafe struct GemmProblem
{
    public bool TransA, TransB;
    public GemmKernel Kernel;
    public int M, N, K, Batch;
    public float Alpha, Beta;
    public float* A;
    public int Lda;
    public long StrideA;
    public void* B;           // float*, or ushort* when BType is BF16/F16
    public DType BType;
    public int Ldb;
    public long StrideB;
    public float* C;
    public int Ldc;
    public long StrideC;
    public float* PackedB;    // non-null: B was packed ahead of time (GemmPackedB); B/Ldb/TransB unused
    public int PackedNPad;    // N rounded up to 16: K block pc of PackedB starts at pc·PackedNPad
}
