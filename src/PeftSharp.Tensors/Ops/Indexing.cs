using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Tensors;

// Index-driven ops: the index tensors are int32 and every index is range-checked before use.
public sealed partial class Tensor
{
    /// <summary>Rows of <paramref name="weight"/> (V, C) picked by int32 <paramref name="ids"/> (...) → (..., C).</summary>
    public static Tensor Embedding(Tensor weight, Tensor ids)
    {
        if (weight.Rank != 2)
        {
            throw new ArgumentException($"Embedding weight must be (vocab, dim); got {Shapes.Format(weight.Shape)}.");
        }
        var idx = IndexSpan(ids, "Embedding");
        int v = weight.Dim(0), c = weight.Dim(1);
        CheckRange(idx, v, "Embedding", $"a vocabulary of {v}");
        var outShape = ids.ShapeArray.Append(c).ToArray();
        var result = Empty(outShape);
        var dst = result.Span;
        var w = weight.DType == DType.F32 ? weight.Contiguous() : weight;
        for (int i = 0; i < idx.Length; i++)
        {
            if (w.DType == DType.F32)
            {
                w.Span.Slice(idx[i] * c, c).CopyTo(dst.Slice(i * c, c));
            }
            else
            {
                Kernels.LowPrecision.Widen(w.DType, w.HalfSpan.Slice(idx[i] * c, c), dst.Slice(i * c, c));
            }
        }
        var node = Tape.Record(result, "embedding", Gradients.Embedding, weight);
        if (node is not null)
        {
            node.State = ids.Contiguous();
        }
        return result;
    }

    /// <summary>Entries along <paramref name="dim"/> at the given int32 indices (1-D).</summary>
    public Tensor IndexSelect(int dim, Tensor index)
    {
        ThrowUnlessFloat("IndexSelect");
        int d = Shapes.NormalizeDim(dim, Rank);
        if (index.Rank != 1)
        {
            throw new ArgumentException($"IndexSelect index must be 1-D; got {Shapes.Format(index.Shape)}.");
        }
        var idx = IndexSpan(index, "IndexSelect");
        CheckRange(idx, _shape[d], "IndexSelect", $"dimension {d} of shape {Shapes.Format(_shape)}");
        var x = Contiguous().Span;
        var (outer, n, inner) = Split3(_shape, d);
        var outShape = (int[])_shape.Clone();
        outShape[d] = idx.Length;
        var result = Empty(outShape);
        var dst = result.Span;
        for (int o = 0; o < outer; o++)
        {
            for (int j = 0; j < idx.Length; j++)
            {
                x.Slice((o * n + idx[j]) * inner, inner).CopyTo(dst.Slice((o * idx.Length + j) * inner, inner));
            }
        }
        var node = Tape.Record(result, "index_select", Gradients.IndexSelect, this);
        if (node is not null)
        {
            node.Ints = [d];
            node.State = index.Contiguous();
        }
        return result;
    }

    /// <summary>torch.gather: out[..., j, ...] = this[..., index[..., j, ...], ...] along <paramref name="dim"/>; index has this tensor's rank.</summary>
    public Tensor Gather(int dim, Tensor index)
    {
        ThrowUnlessFloat("Gather");
        int d = Shapes.NormalizeDim(dim, Rank);
        if (index.Rank != Rank)
        {
            throw new ArgumentException($"Gather index rank {index.Rank} differs from input rank {Rank} (input {Shapes.Format(_shape)}, index {Shapes.Format(index.Shape)}).");
        }
        for (int i = 0; i < Rank; i++)
        {
            if (i != d && index.Shape[i] > _shape[i])
            {
                throw new ArgumentException($"Gather index {Shapes.Format(index.Shape)} is larger than input {Shapes.Format(_shape)} in dimension {i}.");
            }
        }
        var idx = IndexSpan(index, "Gather");
        CheckRange(idx, _shape[d], "Gather", $"dimension {d} of shape {Shapes.Format(_shape)}");
        var x = Contiguous();
        var result = Empty(index.ShapeArray.ToArray());
        var dst = result.Span;
        var src = x.Span;
        var srcStrides = x.StridesArray;
        var ishape = index.ShapeArray;
        var counter = new int[Rank];
        for (int flat = 0; flat < idx.Length; flat++)
        {
            int off = 0;
            for (int i = 0; i < Rank; i++)
            {
                off += (i == d ? idx[flat] : counter[i]) * srcStrides[i];
            }
            dst[flat] = src[off];
            for (int i = Rank - 1; i >= 0; i--)
            {
                if (++counter[i] < ishape[i]) break;
                counter[i] = 0;
            }
        }
        var node = Tape.Record(result, "gather", Gradients.Gather, this);
        if (node is not null)
        {
            node.Ints = [d];
            node.State = index.Contiguous();
        }
        return result;
    }

    /// <summary>Concatenates along an existing dimension; all other dimensions must agree.</summary>
    public static Tensor Cat(IReadOnlyList<Tensor> tensors, int dim)
    {
        if (tensors.Count == 0)
        {
            throw new ArgumentException("Cat needs at least one tensor.");
        }
        var first = tensors[0];
        int d = Shapes.NormalizeDim(dim, first.Rank);
        int total = 0;
        foreach (var t in tensors)
        {
            if (t.Rank != first.Rank)
            {
                throw new ArgumentException($"Cat: ranks differ ({Shapes.Format(first.Shape)} vs {Shapes.Format(t.Shape)}).");
            }
            for (int i = 0; i < t.Rank; i++)
            {
                if (i != d && t.Shape[i] != first.Shape[i])
                {
                    throw new ArgumentException($"Cat along {d}: shapes {Shapes.Format(first.Shape)} and {Shapes.Format(t.Shape)} differ in dimension {i}.");
                }
            }
            total += t.Shape[d];
        }
        var shape = first.ShapeArray.ToArray();
        shape[d] = total;
        var result = Empty(shape);
        int start = 0;
        using (GradMode.NoGrad())
        {
            foreach (var t in tensors)
            {
                int len = t.Shape[d];
                CopyInto(result.Narrow(d, start, len), t);
                start += len;
            }
        }
        var node = Tape.Record(result, "cat", Gradients.Cat, tensors.ToArray());
        if (node is not null)
        {
            node.Ints = [d];
        }
        return result;
    }

    /// <summary>Stacks equal-shaped tensors along a new dimension.</summary>
    public static Tensor Stack(IReadOnlyList<Tensor> tensors, int dim)
    {
        if (tensors.Count == 0)
        {
            throw new ArgumentException("Stack needs at least one tensor.");
        }
        int d = dim < 0 ? dim + tensors[0].Rank + 1 : dim;
        foreach (var t in tensors)
        {
            if (!t.Shape.SequenceEqual(tensors[0].Shape))
            {
                throw new ArgumentException($"Stack: shapes {Shapes.Format(tensors[0].Shape)} and {Shapes.Format(t.Shape)} differ.");
            }
        }
        return Cat(tensors.Select(t => t.Unsqueeze(d)).ToArray(), d);
    }

    /// <summary>Zeroes each element with probability <paramref name="p"/> and scales the rest by 1/(1−p) (seeded, so runs repeat exactly).</summary>
    public Tensor Dropout(float p, Rng rng)
    {
        if (p is < 0f or >= 1f || float.IsNaN(p))
        {
            throw new ArgumentOutOfRangeException(nameof(p), $"Dropout probability must be in [0, 1); got {p}.");
        }
        if (p == 0f)
        {
            return this;
        }
        ThrowUnlessFloat("Dropout");
        var mask = Empty((int[])_shape.Clone());
        var m = mask.Span;
        float scale = 1f / (1f - p);
        for (int i = 0; i < m.Length; i++)
        {
            m[i] = rng.NextSingle() >= p ? scale : 0f;
        }
        Tensor result;
        using (GradMode.NoGrad())
        {
            result = Mul(mask);
        }
        var node = Tape.Record(result, "dropout", Gradients.Dropout, this);
        if (node is not null)
        {
            node.Saved = [mask];
        }
        return result;
    }

    private static ReadOnlySpan<int> IndexSpan(Tensor index, string op)
    {
        if (index.DType != DType.I32)
        {
            throw new ArgumentException($"{op} needs an int32 index tensor; got {index.DType} of shape {Shapes.Format(index.Shape)}.");
        }
        return index.Contiguous().IntSpan;
    }

    private static void CheckRange(ReadOnlySpan<int> idx, int size, string op, string what)
    {
        for (int i = 0; i < idx.Length; i++)
        {
            if ((uint)idx[i] >= (uint)size)
            {
                throw new IndexOutOfRangeException($"{op}: index {idx[i]} at position {i} is out of range for {what}.");
            }
        }
    }
}
