using System.Numerics.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Tensors;

// Reductions over dimensions. Each single-dimension reduction sees the input as (outer, n, inner).
public sealed partial class Tensor
{
    /// <summary>Sum of all elements (a scalar).</summary>
    public Tensor Sum()
    {
        ThrowUnlessFloat("Sum");
        var x = Contiguous();
        var r = Scalar(TensorPrimitives.Sum(x.Span));
        Tape.Record(r, "sum_all", Gradients.SumAll, this);
        return r;
    }

    /// <summary>Sum over the given dimensions.</summary>
    public Tensor Sum(int[] dims, bool keepDim = false)
    {
        ThrowUnlessFloat("Sum");
        var norm = NormalizeDims(dims);
        Tensor r;
        using (GradMode.NoGrad())
        {
            r = Contiguous();
            // Reduce from the highest dimension down so earlier indices stay valid (keepdim throughout).
            foreach (int d in norm.OrderByDescending(d => d))
            {
                r = SumDimKeep(r, d);
            }
            if (ReferenceEquals(r, this))
            {
                r = Clone();
            }
        }
        if (!keepDim)
        {
            r = new Tensor(r.Storage, DropDims(_shape, norm));
        }
        var node = Tape.Record(r, "sum", Gradients.Sum, this);
        if (node is not null)
        {
            node.Ints = norm;
        }
        return r;
    }

    /// <summary>Sum over one dimension.</summary>
    public Tensor Sum(int dim, bool keepDim = false) => Sum([dim], keepDim);

    /// <summary>Mean of all elements.</summary>
    public Tensor Mean() => Sum().Mul(1f / Math.Max(Numel, 1));

    /// <summary>Mean over the given dimensions.</summary>
    public Tensor Mean(int[] dims, bool keepDim = false)
    {
        var norm = NormalizeDims(dims);
        long count = 1;
        foreach (int d in norm)
        {
            count *= _shape[d];
        }
        return Sum(norm, keepDim).Mul(1f / Math.Max(count, 1));
    }

    /// <summary>Mean over one dimension.</summary>
    public Tensor Mean(int dim, bool keepDim = false) => Mean([dim], keepDim);

    /// <summary>Maximum over a dimension: values (differentiable, gradient to the first maximum) and their indices.</summary>
    public (Tensor Values, Tensor Indices) Max(int dim, bool keepDim = false)
    {
        ThrowUnlessFloat("Max");
        int d = Shapes.NormalizeDim(dim, Rank);
        if (_shape[d] == 0)
        {
            throw new ArgumentException($"Max over an empty dimension {d} of shape {Shapes.Format(_shape)}.");
        }
        var x = Contiguous().Span;
        var (outer, n, inner) = Split3(_shape, d);
        var outShape = (int[])_shape.Clone();
        outShape[d] = 1;
        var values = Empty(outShape);
        var idx = new int[outer * inner];
        var v = values.Span;
        for (int o = 0; o < outer; o++)
        {
            for (int i = 0; i < inner; i++)
            {
                int best = 0;
                float bv = x[o * n * inner + i];
                for (int j = 1; j < n; j++)
                {
                    float c = x[(o * n + j) * inner + i];
                    if (c > bv || (float.IsNaN(c) && !float.IsNaN(bv)))
                    {
                        bv = c;
                        best = j;
                    }
                }
                v[o * inner + i] = bv;
                idx[o * inner + i] = best;
            }
        }
        var indices = FromInts(idx, keepDim ? outShape : DropDims(_shape, [d]));
        var result = keepDim ? values : new Tensor(values.Storage, DropDims(_shape, [d]));
        var node = Tape.Record(result, "max", Gradients.MaxDim, this);
        if (node is not null)
        {
            node.Ints = [d];
            node.State = indices;
        }
        return (result, indices);
    }

    /// <summary>Index of the maximum along a dimension (int32).</summary>
    public Tensor Argmax(int dim, bool keepDim = false)
    {
        using var _ = GradMode.NoGrad();
        return Max(dim, keepDim).Indices;
    }

    /// <summary>Largest element (a scalar, differentiable).</summary>
    public Tensor Max() => Reshape(-1).Max(0).Values;

    /// <summary>The p-norm of all elements (p = 2: Frobenius/Euclidean).</summary>
    public Tensor Norm(float p = 2f) => p == 2f ? Mul(this).Sum().Sqrt() : Abs().Pow(p).Sum().Pow(1f / p);

    /// <summary>The 2-norm over dimensions.</summary>
    public Tensor Norm(int[] dims, bool keepDim = false) => Mul(this).Sum(dims, keepDim).Sqrt();

    internal int[] NormalizeDims(int[] dims)
    {
        var norm = dims.Select(d => Shapes.NormalizeDim(d, Rank)).Distinct().ToArray();
        if (norm.Length != dims.Length)
        {
            throw new ArgumentException($"Dimensions {Shapes.Format(dims)} repeat for shape {Shapes.Format(_shape)}.");
        }
        return norm;
    }

    internal static int[] DropDims(int[] shape, int[] dims) => shape.Where((_, i) => !dims.Contains(i)).ToArray();

    internal static (int Outer, int N, int Inner) Split3(ReadOnlySpan<int> shape, int d)
    {
        int outer = 1, inner = 1;
        for (int i = 0; i < d; i++) outer *= shape[i];
        for (int i = d + 1; i < shape.Length; i++) inner *= shape[i];
        return (outer, shape[d], inner);
    }

    /// <summary>Sum over one dimension of a contiguous tensor, keeping it as size 1.</summary>
    private static Tensor SumDimKeep(Tensor x, int d)
    {
        var (outer, n, inner) = Split3(x.Shape, d);
        var outShape = x.ShapeArray.ToArray();
        outShape[d] = 1;
        var r = Empty(outShape, zero: true);
        var src = x.Span;
        var dst = r.Span;
        for (int o = 0; o < outer; o++)
        {
            if (inner == 1)
            {
                dst[o] = TensorPrimitives.Sum(src.Slice(o * n, n));
                continue;
            }
            var acc = dst.Slice(o * inner, inner);
            for (int j = 0; j < n; j++)
            {
                TensorPrimitives.Add(acc, src.Slice((o * n + j) * inner, inner), acc);
            }
        }
        return r;
    }

    /// <summary>Copies <paramref name="source"/> (broadcast to the destination's shape) into a strided float32 view.</summary>
    internal static void CopyInto(Tensor destination, Tensor source)
    {
        if (destination.DType != DType.F32)
        {
            throw new InvalidOperationException("CopyInto needs a float32 destination.");
        }
        var shape = destination.ShapeArray;
        Tensor src;
        using (GradMode.NoGrad())
        {
            src = source.Shape.SequenceEqual(shape) ? source : source.Expand(shape);
        }
        var dst = destination.Storage.Floats!;
        if (destination.IsContiguous && src.IsContiguous && src.DType == DType.F32)
        {
            src.Span.CopyTo(dst.AsSpan(destination.Offset, destination.Numel));
            return;
        }
        int rank = shape.Length;
        int inner = rank == 0 ? 1 : shape[rank - 1];
        if (inner == 0 || destination.Numel == 0)
        {
            return;
        }
        int outer = destination.Numel / inner;
        int ds = rank == 0 ? 1 : destination.Strides[rank - 1];
        var srcStrides = src.StridesArray;
        int ss = rank == 0 ? 1 : srcStrides[rank - 1];
        var counter = new int[Math.Max(rank - 1, 0)];
        int offD = destination.Offset, offS = src.Offset;
        var sf = src.Storage.Floats;
        var srcData = sf ?? src.ToArray();
        if (sf is null)
        {
            // Non-float32 source: use its dense copy with contiguous strides.
            srcStrides = Shapes.ContiguousStrides(shape);
            ss = rank == 0 ? 1 : srcStrides[rank - 1];
            offS = 0;
        }
        for (int o = 0; o < outer; o++)
        {
            if (ds == 1 && ss == 1)
            {
                srcData.AsSpan(offS, inner).CopyTo(dst.AsSpan(offD, inner));
            }
            else
            {
                for (int i = 0; i < inner; i++)
                {
                    dst[offD + i * ds] = srcData[offS + i * ss];
                }
            }
            for (int dim = rank - 2; dim >= 0; dim--)
            {
                counter[dim]++;
                offD += destination.Strides[dim];
                offS += srcStrides[dim];
                if (counter[dim] < shape[dim])
                {
                    break;
                }
                offD -= destination.Strides[dim] * shape[dim];
                offS -= srcStrides[dim] * shape[dim];
                counter[dim] = 0;
            }
        }
    }
}
