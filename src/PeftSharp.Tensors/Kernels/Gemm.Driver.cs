using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PeftSharp.Tensors.Kernels;

public static partial class Gemm
{
    /// <summary>Below this many flops a product runs on the calling thread: a fork-join costs a few microseconds.</summary>
    private const double ParallelFlops = 2e6;

    // How the tile result meets C (the same four formulas in the vector and the scalar edge code, so every element
    // of C sees identical arithmetic whether it sits in a full tile or an edge tile):
    //   Overwrite: c = fma(acc, alpha, 0)        first K block, beta = 0 (C is never read)
    //   Scale:     c = fma(acc, alpha, beta·c)   first K block, other beta
    //   Accumulate:c = fma(acc, alpha, c)        beta = 1, and every later K block
    //   Raw:       tile = acc                    edge tiles: the scalar code applies one of the above
    internal const int Overwrite = 0, Scale = 1, Accumulate = 2, Raw = 3;

    private static unsafe void Run(in GemmProblem p, int maxThreads)
    {
        if (p.M == 0 || p.N == 0 || p.Batch == 0)
        {
            return;
        }
        if (p.K == 0)
        {
            ScaleOnly(in p);
            return;
        }
        if (p.M <= GemvMaxRows && p.PackedB == null)
        {
            Gemv(in p, maxThreads);
            return;
        }

        double flops = 2.0 * p.M * p.N * p.K * p.Batch;
        int threads = flops < ParallelFlops ? 1 : maxThreads;
        GemmProblem q = p;
        q.Kernel = NarrowestFit(p.Kernel, p.N);
        int width = PanelWidth(q.Kernel);
        ChooseGrid(p.M, p.N, p.Batch, threads, width, p.TransA, out int rowBlocks, out int colBlocks);
        int rowTiles = (p.M + MR - 1) / MR, colTiles = (p.N + width - 1) / width;
        var work = new BlockedWork
        {
            P = q,
            RowBlocks = rowBlocks,
            ColBlocks = colBlocks,
            RowChunk = (rowTiles + rowBlocks - 1) / rowBlocks * MR,
            ColChunk = (colTiles + colBlocks - 1) / colBlocks * width,
        };
        CpuPool.For(p.Batch * rowBlocks * colBlocks, in work, threads);
    }

    /// <summary>
    /// With N ≤ 16 a 32-wide AVX-512 panel would be half zero padding; the 16-wide kernels do the same arithmetic
    /// per element (identical bits) in half the work. The choice depends only on the shape.
    /// </summary>
    internal static GemmKernel NarrowestFit(GemmKernel kernel, int n)
        => kernel == GemmKernel.Avx512 && n <= NR ? GemmKernel.Avx512Narrow : kernel;

    /// <summary>
    /// Splits each product into rowBlocks × colBlocks work items so that the whole batch offers about two items
    /// per thread (dynamic scheduling then absorbs a participant the OS delays). Every item packs its own panels, so
    /// a column split repeats the packing of A and a row split repeats the packing of B. An untransposed A is read in
    /// place (nothing to repeat), so columns are split first; a transposed A is packed, so the dimension whose split
    /// repeats less packing goes first: rows when M·K ≥ K·N.
    /// </summary>
    internal static void ChooseGrid(int m, int n, int batch, int threads, int width, bool transA, out int rowBlocks, out int colBlocks)
    {
        rowBlocks = colBlocks = 1;
        if (threads <= 1 || batch >= 2 * threads)
        {
            return;
        }
        int perMatrix = (2 * threads + batch - 1) / batch;
        int rowTiles = (m + MR - 1) / MR, colTiles = (n + width - 1) / width;
        if (transA && m >= n)
        {
            rowBlocks = Math.Min(perMatrix, rowTiles);
            colBlocks = Math.Min((perMatrix + rowBlocks - 1) / rowBlocks, colTiles);
        }
        else
        {
            colBlocks = Math.Min(perMatrix, colTiles);
            rowBlocks = Math.Min((perMatrix + colBlocks - 1) / colBlocks, rowTiles);
        }
    }

    private unsafe struct BlockedWork : IParallelAction
    {
        public GemmProblem P;
        public int RowBlocks, ColBlocks, RowChunk, ColChunk;

        public readonly void Invoke(int index)
        {
            int perMatrix = RowBlocks * ColBlocks;
            int batch = index / perMatrix;
            int rest = index - batch * perMatrix;
            int rb = rest / ColBlocks, cb = rest - rb * ColBlocks;
            int i0 = rb * RowChunk, j0 = cb * ColChunk;
            if (i0 >= P.M || j0 >= P.N)
            {
                return;
            }
            int i1 = Math.Min(P.M, i0 + RowChunk), j1 = Math.Min(P.N, j0 + ColChunk);
            float* a = P.A + batch * P.StrideA;
            byte* b = (byte*)P.B + batch * P.StrideB * (P.BType == DType.F32 ? 4 : 2);
            float* c = P.C + batch * P.StrideC;
            Tile(in P, a, b, c, i0, i1, j0, j1);
        }
    }

    /// <summary>
    /// Computes C[i0:i1, j0:j1] over the whole K range. Loop nest (BLIS order): column block jc (≤ NC) → K block pc
    /// (≤ KC, pack B) → row block ic (≤ MC, pack A only when transposed and N > 16) → W-column micro-panel jr →
    /// 6-row tile ir (12-row tiles for the narrow AVX-512 kernel).
    /// </summary>
    private static unsafe void Tile(in GemmProblem p, float* a, void* b, float* c, int i0, int i1, int j0, int j1)
    {
        GemmBuffers buf = GemmBuffers.Current;
        GemmKernel kernel = p.Kernel;
        bool portable = kernel == GemmKernel.Portable;
        int width = PanelWidth(kernel);
        float alpha = p.Alpha, beta = p.Beta;
        float* tile = stackalloc float[MR * MaxNR];
        for (int jc = j0; jc < j1; jc += BlockN)
        {
            int nc = Math.Min(BlockN, j1 - jc);
            for (int pc = 0; pc < p.K; pc += BlockK)
            {
                int kc = Math.Min(BlockK, p.K - pc);
                int mode = pc > 0 || beta == 1f ? Accumulate : beta == 0f ? Overwrite : Scale;
                float* bp;
                if (p.PackedB != null)
                {
                    bp = p.PackedB + (long)pc * p.PackedNPad + (long)jc * kc;
                }
                else
                {
                    bp = buf.PackedB;
                    PackB(p.TransB, p.BType, b, p.Ldb, pc, kc, jc, nc, bp, buf.Scratch, width, portable);
                }
                for (int ic = i0; ic < i1; ic += BlockM)
                {
                    int mc = Math.Min(BlockM, i1 - ic);
                    bool packA = p.TransA && PackTransposedA(p.N);
                    if (packA)
                    {
                        PackA(a, p.Lda, ic, mc, pc, kc, buf.PackedA);
                    }
                    for (int jr = 0; jr < nc; jr += width)
                    {
                        int nr = Math.Min(width, nc - jr);
                        float* bPanel = bp + (long)jr * kc;
                        int ir = 0;
                        if (kernel == GemmKernel.Avx512Narrow && nr == NR)
                        {
                            // Twelve rows at a time; the rows left over go through the 6-row loop below.
                            for (; ir + 2 * MR <= mc; ir += 2 * MR)
                            {
                                float* a0 = TileA(in p, a, buf.PackedA, packA, ic, ir, pc, kc, out nint rs, out nint ks);
                                float* a6 = TileA(in p, a, buf.PackedA, packA, ic, ir + MR, pc, kc, out _, out _);
                                KernelAvx512Narrow(kc, a0, a6, rs, ks, bPanel, c + (long)(ic + ir) * p.Ldc + jc + jr, p.Ldc, alpha, beta, mode);
                            }
                        }
                        for (; ir < mc; ir += MR)
                        {
                            int mr = Math.Min(MR, mc - ir);
                            float* aTile = TileA(in p, a, buf.PackedA, packA, ic, ir, pc, kc, out nint rowStride, out nint kStride);
                            float* cTile = c + (long)(ic + ir) * p.Ldc + jc + jr;
                            if (mr == MR && nr == width)
                            {
                                MicroKernel(kernel, kc, aTile, rowStride, kStride, mr, bPanel, cTile, p.Ldc, alpha, beta, mode);
                            }
                            else
                            {
                                MicroKernel(kernel, kc, aTile, rowStride, kStride, mr, bPanel, tile, width, alpha, beta, Raw);
                                UpdateEdge(portable, tile, width, cTile, p.Ldc, mr, nr, alpha, beta, mode);
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Where row r of the tile starting at row ic + ir, K block pc, is read: row r at <c>tile + r·rowStride</c>,
    /// advancing by kStride per k.
    /// Untransposed A, in place: a[(ic+ir+r)·lda + pc + k] (rowStride lda, kStride 1).
    /// Transposed A, in place: a[(pc+k)·lda + ic+ir+r] (rowStride 1, kStride lda): six consecutive floats per k.
    /// Transposed A, packed: PackedA[ir·kc + k·6 + r] (rowStride 1, kStride 6).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe float* TileA(in GemmProblem p, float* a, float* packedA, bool packA, int ic, int ir, int pc, int kc, out nint rowStride, out nint kStride)
    {
        if (!p.TransA)
        {
            rowStride = p.Lda;
            kStride = 1;
            return a + (long)(ic + ir) * p.Lda + pc;
        }
        rowStride = 1;
        if (packA)
        {
            kStride = MR;
            return packedA + (long)ir * kc;
        }
        kStride = p.Lda;
        return a + (long)pc * p.Lda + ic + ir;
    }

    /// <summary>
    /// A transposed A is packed only when the product is wide: a packed panel is reused across all N columns, while
    /// for N ≤ 16 the copy costs as much as the 32 flops each packed element feeds (measured: reading in place runs
    /// twice as fast there, packing ~20 % faster at N = 768).
    /// </summary>
    internal static bool PackTransposedA(int n) => n > NR;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void MicroKernel(GemmKernel kernel, int kc, float* a, nint rowStride, nint kStride, int mr,
        float* b, float* c, nint ldc, float alpha, float beta, int mode)
    {
        switch (kernel)
        {
            case GemmKernel.Avx512:
                KernelAvx512(kc, a, rowStride, kStride, mr, b, c, ldc, alpha, beta, mode);
                break;
            case GemmKernel.Fma256:
            case GemmKernel.Avx512Narrow:
                KernelFma(kc, a, rowStride, kStride, mr, b, c, ldc, alpha, beta, mode);
                break;
            default:
                KernelPortable(kc, a, rowStride, kStride, mr, b, c, ldc, alpha, beta, mode);
                break;
        }
    }

    /// <summary>Scalar twin of the vector store step for the valid mr × nr part of an edge tile.</summary>
    private static unsafe void UpdateEdge(bool portable, float* tile, int tileStride, float* c, int ldc, int mr, int nr, float alpha, float beta, int mode)
    {
        for (int r = 0; r < mr; r++)
        {
            float* t = tile + r * tileStride;
            float* row = c + (long)r * ldc;
            for (int j = 0; j < nr; j++)
            {
                float addend = mode == Overwrite ? 0f : mode == Scale ? row[j] * beta : row[j];
                // The FMA kernel stores fma(acc, alpha, addend); the portable kernel acc·alpha + addend.
                row[j] = portable ? t[j] * alpha + addend : MathF.FusedMultiplyAdd(t[j], alpha, addend);
            }
        }
    }

    /// <summary>K = 0: C = beta·C (beta = 0 writes zeros without reading C).</summary>
    private static unsafe void ScaleOnly(in GemmProblem p)
    {
        for (int batch = 0; batch < p.Batch; batch++)
        {
            float* c = p.C + batch * p.StrideC;
            for (int i = 0; i < p.M; i++)
            {
                var row = new Span<float>(c + (long)i * p.Ldc, p.N);
                if (p.Beta == 0f)
                {
                    row.Clear();
                }
                else if (p.Beta != 1f)
                {
                    System.Numerics.Tensors.TensorPrimitives.Multiply(row, p.Beta, row);
                }
            }
        }
    }
}

/// <summary>
/// Per-thread packing buffers, allocated once per thread on the pinned object heap (so the raw pointers stay valid)
/// and aligned to 64 bytes. They are released with the thread.
/// </summary>
internal sealed unsafe class GemmBuffers
{
    [ThreadStatic] private static GemmBuffers? t_current;

    // The arrays are held only so that the pinned memory the pointers refer to stays alive with this object.
    private readonly float[] _packedB, _packedA, _scratch;
    private float[] _vector;
    private int _vectorLength;
    private float* _vectorPtr;

    public readonly float* PackedB, PackedA, Scratch;

    private GemmBuffers()
    {
        _packedB = Allocate(Gemm.BlockK * Gemm.BlockN, out PackedB);
        _packedA = Allocate(Gemm.BlockK * Gemm.BlockM, out PackedA);
        _scratch = Allocate(Gemm.BlockK * Gemm.BlockN, out Scratch);
        _vectorLength = 1024;
        _vector = Allocate(_vectorLength, out _vectorPtr);
    }

    public static GemmBuffers Current => t_current ??= new GemmBuffers();

    /// <summary>A per-thread float buffer of at least <paramref name="length"/> elements (grown on demand).</summary>
    public float* Vector(int length)
    {
        if (length > _vectorLength)
        {
            int size = Math.Max(length, _vectorLength * 2);
            _vector = Allocate(size, out _vectorPtr);
            _vectorLength = size;
        }
        GC.KeepAlive(_vector);
        return _vectorPtr;
    }

    private static float[] Allocate(int length, out float* aligned)
    {
        float[] array = GC.AllocateUninitializedArray<float>(length + 16, pinned: true);
        nuint address = (nuint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
        aligned = (float*)((address + 63) & ~(nuint)63);
        return array;
    }
}
