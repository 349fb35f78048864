using PeftSharp.Tensors.Autograd;
using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Tensors;

/// <summary>
/// An n-dimensional array with reverse-mode autograd. Compute is float32; storage may be float32, bf16/f16
/// (frozen weights, never gradients) or int32 (indices). Views (reshape, transpose, narrow, expand, ...)
/// share storage through strides; kernels that need a dense layout call <see cref="Contiguous"/>.
/// </summary>
public sealed partial class Tensor
{
    internal readonly Storage Storage;
    internal readonly int Offset;
    private readonly int[] _shape;
    private readonly int[] _strides;
    private bool _requiresGrad;

    internal Tensor(Storage storage, int[] shape, int[] strides, int offset)
    {
        Storage = storage;
        _shape = shape;
        _strides = strides;
        Offset = offset;
        Numel = Shapes.Numel(shape);
    }

    internal Tensor(Storage storage, int[] shape) : this(storage, shape, Shapes.ContiguousStrides(shape), 0)
    {
    }

    /// <summary>The dimensions.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>Element strides per dimension.</summary>
    public ReadOnlySpan<int> Strides => _strides;

    internal int[] ShapeArray => _shape;

    internal int[] StridesArray => _strides;

    /// <summary>Number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>Number of elements.</summary>
    public int Numel { get; }

    /// <summary>The stored element type.</summary>
    public DType DType => Storage.DType;

    /// <summary>Size of one dimension; negative indices count from the end.</summary>
    public int Dim(int dim) => _shape[Shapes.NormalizeDim(dim, _shape.Length)];

    /// <summary>Optional name (parameters carry their state-dict key), used in error messages.</summary>
    public string? Name { get; set; }

    /// <summary>
    /// Whether gradients flow to this tensor. Settable only on leaves (tensors no op produced), and only for
    /// float32 storage. Results of ops require grad when an input does and grad mode is on.
    /// </summary>
    public bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (GradFn is not null)
            {
                throw new InvalidOperationException("RequiresGrad can only be set on leaf tensors; use Detach() to make a new leaf.");
            }
            if (value && DType != DType.F32)
            {
                throw new InvalidOperationException($"Only float32 tensors can require gradients; this tensor stores {DType}.");
            }
            _requiresGrad = value;
        }
    }

    /// <summary>Accumulated gradient of a leaf after <see cref="Backward"/>; null until one arrives.</summary>
    public Tensor? Grad { get; set; }

    /// <summary>The recorded operation that produced this tensor (null for leaves).</summary>
    internal Node? GradFn { get; set; }

    /// <summary>True when no recorded op produced this tensor.</summary>
    public bool IsLeaf => GradFn is null;

    /// <summary>True when the elements are laid out densely in row-major order.</summary>
    public bool IsContiguous
    {
        get
        {
            int expected = 1;
            for (int i = _shape.Length - 1; i >= 0; i--)
            {
                if (_shape[i] != 1 && _strides[i] != expected)
                {
                    return false;
                }
                expected *= _shape[i];
            }
            return true;
        }
    }

    /// <summary>Marks this tensor's recorded result so it is computed with a gradient (internal: used by ops).</summary>
    internal void SetRequiresGradFromOp(bool value) => _requiresGrad = value;

    /// <summary>The dense float32 elements of a contiguous float32 tensor. Throws for other layouts or dtypes.</summary>
    public Span<float> Span
    {
        get
        {
            Storage.ThrowIfReleased();
            if (Storage.Floats is null)
            {
                throw new InvalidOperationException($"Span needs float32 storage; this tensor stores {DType}. Use ToArray() or ToFloat32().");
            }
            if (!IsContiguous)
            {
                throw new InvalidOperationException($"Span needs a contiguous tensor; this view of shape {Shapes.Format(_shape)} has strides {Shapes.Format(_strides)}. Call Contiguous() first.");
            }
            return Storage.Floats.AsSpan(Offset, Numel);
        }
    }

    /// <summary>The dense int32 elements of a contiguous index tensor.</summary>
    public ReadOnlySpan<int> IntSpan
    {
        get
        {
            if (Storage.Ints is null)
            {
                throw new InvalidOperationException($"IntSpan needs int32 storage; this tensor stores {DType}.");
            }
            if (!IsContiguous)
            {
                throw new InvalidOperationException("IntSpan needs a contiguous tensor.");
            }
            return Storage.Ints.AsSpan(Offset, Numel);
        }
    }

    /// <summary>The dense 16-bit elements of a contiguous BF16/F16 tensor.</summary>
    public ReadOnlySpan<ushort> HalfSpan
    {
        get
        {
            if (Storage.Halves is null)
            {
                throw new InvalidOperationException($"HalfSpan needs BF16/F16 storage; this tensor stores {DType}.");
            }
            if (!IsContiguous)
            {
                throw new InvalidOperationException("HalfSpan needs a contiguous tensor.");
            }
            return Storage.Halves.AsSpan(Offset, Numel);
        }
    }

    /// <summary>Copies the elements, in row-major order, widened to float32.</summary>
    public float[] ToArray()
    {
        var result = new float[Numel];
        CopyTo(result);
        return result;
    }

    /// <summary>Copies the elements of an int32 tensor in row-major order.</summary>
    public int[] ToIntArray()
    {
        if (Storage.Ints is null)
        {
            throw new InvalidOperationException($"ToIntArray needs int32 storage; this tensor stores {DType}.");
        }
        var result = new int[Numel];
        var it = new StridedIndex(_shape, _strides, Offset);
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = Storage.Ints[it.Next()];
        }
        return result;
    }

    /// <summary>Writes the elements in row-major order (widened to float32) into <paramref name="destination"/>.</summary>
    public void CopyTo(Span<float> destination)
    {
        Storage.ThrowIfReleased();
        if (destination.Length < Numel)
        {
            throw new ArgumentException($"Destination holds {destination.Length} elements; tensor {Shapes.Format(_shape)} has {Numel}.");
        }
        if (IsContiguous)
        {
            switch (DType)
            {
                case DType.F32: Storage.Floats.AsSpan(Offset, Numel).CopyTo(destination); return;
                case DType.BF16 or DType.F16: LowPrecision.Widen(DType, Storage.Halves.AsSpan(Offset, Numel), destination); return;
            }
        }
        var it = new StridedIndex(_shape, _strides, Offset);
        for (int i = 0; i < Numel; i++)
        {
            int src = it.Next();
            destination[i] = DType switch
            {
                DType.F32 => Storage.Floats![src],
                DType.BF16 => LowPrecision.BF16ToSingle(Storage.Halves![src]),
                DType.F16 => LowPrecision.F16ToSingle(Storage.Halves![src]),
                DType.I32 => Storage.Ints![src],
                _ => throw new InvalidOperationException($"Unsupported dtype {DType}."),
            };
        }
    }

    /// <summary>The single value of a one-element tensor.</summary>
    public float Item()
    {
        if (Numel != 1)
        {
            throw new InvalidOperationException($"Item() needs exactly one element; shape is {Shapes.Format(_shape)}.");
        }
        Span<float> one = stackalloc float[1];
        CopyTo(one);
        return one[0];
    }

    /// <summary>The element at a multi-index (slow; for tests and debugging).</summary>
    public float At(params int[] index)
    {
        if (index.Length != Rank)
        {
            throw new ArgumentException($"Index of rank {index.Length} for a tensor of shape {Shapes.Format(_shape)}.");
        }
        int off = Offset;
        for (int i = 0; i < index.Length; i++)
        {
            if ((uint)index[i] >= (uint)_shape[i])
            {
                throw new IndexOutOfRangeException($"Index {index[i]} is out of range for dimension {i} of shape {Shapes.Format(_shape)}.");
            }
            off += index[i] * _strides[i];
        }
        Storage.ThrowIfReleased();
        return DType switch
        {
            DType.F32 => Storage.Floats![off],
            DType.BF16 => LowPrecision.BF16ToSingle(Storage.Halves![off]),
            DType.F16 => LowPrecision.F16ToSingle(Storage.Halves![off]),
            DType.I32 => Storage.Ints![off],
            _ => throw new InvalidOperationException($"Unsupported dtype {DType}."),
        };
    }

    /// <summary>A new leaf sharing this tensor's memory, cut from the graph (no gradient flows through it).</summary>
    public Tensor Detach() => new(Storage, _shape, _strides, Offset) { Name = Name };

    /// <summary>Runs reverse-mode differentiation from this scalar (or, with <paramref name="gradient"/>, any tensor).</summary>
    public void Backward(Tensor? gradient = null) => Tape.Backward(this, gradient);

    /// <summary>Sets <see cref="Grad"/> to null.</summary>
    public void ZeroGrad() => Grad = null;

    internal void ThrowUnlessFloat(string op)
    {
        if (DType != DType.F32)
        {
            throw new InvalidOperationException($"{op} needs float32 input; got {DType} tensor of shape {Shapes.Format(_shape)}. Widen with ToFloat32().");
        }
        Storage.ThrowIfReleased();
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"Tensor({Shapes.Format(_shape)}, {DType}{(RequiresGrad ? ", requires_grad" : "")}{(Name is null ? "" : ", " + Name)})";
}

/// <summary>Walks the storage offsets of a strided view in row-major order.</summary>
internal struct StridedIndex
{
    private readonly int[] _shape;
    private readonly int[] _strides;
    private readonly int[] _counter;
    private int _offset;
    private bool _started;

    public StridedIndex(int[] shape, int[] strides, int offset)
    {
        _shape = shape;
        _strides = strides;
        _counter = new int[shape.Length];
        _offset = offset;
        _started = false;
    }

    public int Next()
    {
        if (!_started)
        {
            _started = true;
            return _offset;
        }
        for (int d = _shape.Length - 1; d >= 0; d--)
        {
            _counter[d]++;
            _offset += _strides[d];
            if (_counter[d] < _shape[d])
            {
                return _offset;
            }
            _offset -= _strides[d] * _shape[d];
            _counter[d] = 0;
        }
        return _offset;
    }
}
