using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Tensors;

// Views: new shapes and strides over the same storage. No data moves except in Contiguous()/Reshape of a
// non-contiguous tensor.
public sealed partial class Tensor
{
    /// <summary>The same elements in a new shape (one dimension may be -1). Copies only when the layout requires it.</summary>
    public Tensor Reshape(params int[] shape)
    {
        var resolved = ResolveShape(shape);
        if (!IsContiguous)
        {
            return Contiguous().Reshape(resolved);
        }
        var view = new Tensor(Storage, resolved, Shapes.ContiguousStrides(resolved), Offset);
        Tape.Record(view, "reshape", Gradients.Reshape, this);
        return view;
    }

    /// <summary>Alias of <see cref="Reshape"/> that refuses to copy: throws for non-contiguous tensors.</summary>
    public Tensor View(params int[] shape)
    {
        if (!IsContiguous)
        {
            throw new InvalidOperationException($"View needs a contiguous tensor; shape {Shapes.Format(_shape)} strides {Shapes.Format(_strides)}. Use Reshape (copies) or Contiguous().");
        }
        return Reshape(shape);
    }

    private int[] ResolveShape(int[] shape)
    {
        var r = (int[])shape.Clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < r.Length; i++)
        {
            if (r[i] == -1)
            {
                if (infer >= 0)
                {
                    throw new ArgumentException($"Only one dimension may be -1 in {Shapes.Format(shape)}.");
                }
                infer = i;
            }
            else if (r[i] < 0)
            {
                throw new ArgumentException($"Invalid dimension {r[i]} in {Shapes.Format(shape)}.");
            }
            else
            {
                known *= r[i];
            }
        }
        if (infer >= 0)
        {
            if (known == 0 || Numel % known != 0)
            {
                throw new ArgumentException($"Cannot reshape {Shapes.Format(_shape)} ({Numel} elements) to {Shapes.Format(shape)}.");
            }
            r[infer] = (int)(Numel / known);
        }
        if (Shapes.Numel(r) != Numel)
        {
            throw new ArgumentException($"Cannot reshape {Shapes.Format(_shape)} ({Numel} elements) to {Shapes.Format(shape)}.");
        }
        return r;
    }

    /// <summary>Swaps two dimensions (a view).</summary>
    public Tensor Transpose(int dim0, int dim1)
    {
        int a = Shapes.NormalizeDim(dim0, Rank), b = Shapes.NormalizeDim(dim1, Rank);
        var perm = new int[Rank];
        for (int i = 0; i < Rank; i++)
        {
            perm[i] = i;
        }
        (perm[a], perm[b]) = (perm[b], perm[a]);
        return Permute(perm);
    }

    /// <summary>Transpose of the last two dimensions (a view).</summary>
    public Tensor T => Rank < 2 ? this : Transpose(-2, -1);

    /// <summary>Reorders dimensions (a view): result dim i is input dim <paramref name="dims"/>[i].</summary>
    public Tensor Permute(params int[] dims)
    {
        if (dims.Length != Rank)
        {
            throw new ArgumentException($"Permute needs {Rank} dims for shape {Shapes.Format(_shape)}, got {dims.Length}.");
        }
        var seen = new bool[Rank];
        var shape = new int[Rank];
        var strides = new int[Rank];
        var norm = new int[Rank];
        for (int i = 0; i < Rank; i++)
        {
            int d = Shapes.NormalizeDim(dims[i], Rank);
            if (seen[d])
            {
                throw new ArgumentException($"Permute dims {Shapes.Format(dims)} repeat dimension {d}.");
            }
            seen[d] = true;
            norm[i] = d;
            shape[i] = _shape[d];
            strides[i] = _strides[d];
        }
        var view = new Tensor(Storage, shape, strides, Offset);
        var node = Tape.Record(view, "permute", Gradients.Permute, this);
        if (node is not null)
        {
            node.Ints = norm;
        }
        return view;
    }

    /// <summary>Elements [start, start+length) along a dimension (a view).</summary>
    public Tensor Narrow(int dim, int start, int length)
    {
        int d = Shapes.NormalizeDim(dim, Rank);
        if (start < 0 || length < 0 || start + length > _shape[d])
        {
            throw new ArgumentOutOfRangeException(nameof(start), $"Narrow [{start}, {start + length}) is outside dimension {d} of size {_shape[d]} (shape {Shapes.Format(_shape)}).");
        }
        var shape = (int[])_shape.Clone();
        shape[d] = length;
        var view = new Tensor(Storage, shape, (int[])_strides.Clone(), Offset + start * _strides[d]);
        var node = Tape.Record(view, "narrow", Gradients.Narrow, this);
        if (node is not null)
        {
            node.Ints = [d, start];
        }
        return view;
    }

    /// <summary>Python-style slice [start:end] along a dimension (negative indices count from the end).</summary>
    public Tensor Slice(int dim, int start, int end)
    {
        int d = Shapes.NormalizeDim(dim, Rank);
        int n = _shape[d];
        if (start < 0) start += n;
        if (end < 0) end += n;
        start = Math.Clamp(start, 0, n);
        end = Math.Clamp(end, start, n);
        return Narrow(d, start, end - start);
    }

    /// <summary>The sub-tensor at <paramref name="index"/> along a dimension, with that dimension removed.</summary>
    public Tensor Select(int dim, int index)
    {
        int d = Shapes.NormalizeDim(dim, Rank);
        if (index < 0) index += _shape[d];
        return Narrow(d, index, 1).Squeeze(d);
    }

    /// <summary>Removes a size-1 dimension.</summary>
    public Tensor Squeeze(int dim)
    {
        int d = Shapes.NormalizeDim(dim, Rank);
        if (_shape[d] != 1)
        {
            throw new ArgumentException($"Squeeze({dim}) needs size 1; shape is {Shapes.Format(_shape)}.");
        }
        var shape = _shape.Where((_, i) => i != d).ToArray();
        var strides = _strides.Where((_, i) => i != d).ToArray();
        var view = new Tensor(Storage, shape, strides, Offset);
        Tape.Record(view, "squeeze", Gradients.Reshape, this);
        return view;
    }

    /// <summary>Inserts a size-1 dimension at <paramref name="dim"/> (which may equal the rank).</summary>
    public Tensor Unsqueeze(int dim)
    {
        int d = dim < 0 ? dim + Rank + 1 : dim;
        if (d < 0 || d > Rank)
        {
            throw new ArgumentOutOfRangeException(nameof(dim), $"Unsqueeze({dim}) is out of range for rank {Rank}.");
        }
        var shape = new List<int>(_shape);
        var strides = new List<int>(_strides);
        shape.Insert(d, 1);
        strides.Insert(d, d < Rank ? _strides[d] * _shape[d] : 1);
        var view = new Tensor(Storage, shape.ToArray(), strides.ToArray(), Offset);
        Tape.Record(view, "unsqueeze", Gradients.Reshape, this);
        return view;
    }

    /// <summary>Broadcasts size-1 dimensions (and new leading ones) to <paramref name="shape"/> without copying (stride 0).</summary>
    public Tensor Expand(params int[] shape)
    {
        if (shape.Length < Rank)
        {
            throw new ArgumentException($"Expand to {Shapes.Format(shape)} has fewer dims than {Shapes.Format(_shape)}.");
        }
        var strides = new int[shape.Length];
        var target = (int[])shape.Clone();
        int lead = shape.Length - Rank;
        for (int i = 0; i < shape.Length; i++)
        {
            if (i < lead)
            {
                strides[i] = 0;
                continue;
            }
            int own = _shape[i - lead];
            if (target[i] == -1)
            {
                target[i] = own;
            }
            if (own == target[i])
            {
                strides[i] = _strides[i - lead];
            }
            else if (own == 1)
            {
                strides[i] = 0;
            }
            else
            {
                throw new ArgumentException($"Cannot expand shape {Shapes.Format(_shape)} to {Shapes.Format(shape)}.");
            }
        }
        var view = new Tensor(Storage, target, strides, Offset);
        Tape.Record(view, "expand", Gradients.SumToInputShape, this);
        return view;
    }

    /// <summary>This tensor if already dense float32, else a dense float32 copy (recorded as identity).</summary>
    public Tensor Contiguous()
    {
        if (IsContiguous && DType == DType.F32)
        {
            return this;
        }
        if (DType == DType.I32)
        {
            return FromInts(ToIntArray(), _shape);
        }
        return Clone();
    }

    /// <summary>Splits into pieces of the given sizes along a dimension (views).</summary>
    public Tensor[] Split(int[] sizes, int dim)
    {
        int d = Shapes.NormalizeDim(dim, Rank);
        if (sizes.Sum() != _shape[d])
        {
            throw new ArgumentException($"Split sizes {Shapes.Format(sizes)} do not add up to dimension {d} of shape {Shapes.Format(_shape)}.");
        }
        var parts = new Tensor[sizes.Length];
        int start = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            parts[i] = Narrow(d, start, sizes[i]);
            start += sizes[i];
        }
        return parts;
    }

    /// <summary>Splits into <paramref name="chunks"/> equal pieces along a dimension (views).</summary>
    public Tensor[] Chunk(int chunks, int dim)
    {
        int d = Shapes.NormalizeDim(dim, Rank);
        if (chunks <= 0 || _shape[d] % chunks != 0)
        {
            throw new ArgumentException($"Cannot split dimension {d} of shape {Shapes.Format(_shape)} into {chunks} equal chunks.");
        }
        return Split(Enumerable.Repeat(_shape[d] / chunks, chunks).ToArray(), d);
    }
}
