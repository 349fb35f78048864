using System.Numerics.Tensors;

namespace PeftSharp.Tensors;

/// <summary>A float32 binary operation in three vectorised forms plus its scalar definition.</summary>
internal interface IBinaryOp
{
    static abstract float Apply(float a, float b);

    static abstract void Vector(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> d);

    static abstract void VectorScalarB(ReadOnlySpan<float> a, float b, Span<float> d);

    static abstract void VectorScalarA(float a, ReadOnlySpan<float> b, Span<float> d);
}

internal struct AddOp : IBinaryOp
{
    public static float Apply(float a, float b) => a + b;
    public static void Vector(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> d) => TensorPrimitives.Add(a, b, d);
    public static void VectorScalarB(ReadOnlySpan<float> a, float b, Span<float> d) => TensorPrimitives.Add(a, b, d);
    public static void VectorScalarA(float a, ReadOnlySpan<float> b, Span<float> d) => TensorPrimitives.Add(b, a, d);
}

internal struct SubOp : IBinaryOp
{
    public static float Apply(float a, float b) => a - b;
    public static void Vector(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> d) => TensorPrimitives.Subtract(a, b, d);
    public static void VectorScalarB(ReadOnlySpan<float> a, float b, Span<float> d) => TensorPrimitives.Subtract(a, b, d);
    public static void VectorScalarA(float a, ReadOnlySpan<float> b, Span<float> d) => TensorPrimitives.Subtract(a, b, d);
}

internal struct MulOp : IBinaryOp
{
    public static float Apply(float a, float b) => a * b;
    public static void Vector(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> d) => TensorPrimitives.Multiply(a, b, d);
    public static void VectorScalarB(ReadOnlySpan<float> a, float b, Span<float> d) => TensorPrimitives.Multiply(a, b, d);
    public static void VectorScalarA(float a, ReadOnlySpan<float> b, Span<float> d) => TensorPrimitives.Multiply(b, a, d);
}

internal struct DivOp : IBinaryOp
{
    public static float Apply(float a, float b) => a / b;
    public static void Vector(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> d) => TensorPrimitives.Divide(a, b, d);
    public static void VectorScalarB(ReadOnlySpan<float> a, float b, Span<float> d) => TensorPrimitives.Divide(a, b, d);
    public static void VectorScalarA(float a, ReadOnlySpan<float> b, Span<float> d) => TensorPrimitives.Divide(a, b, d);
}

internal struct MaxOp : IBinaryOp
{
    public static float Apply(float a, float b) => MathF.Max(a, b);
    public static void Vector(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> d) => TensorPrimitives.Max(a, b, d);
    public static void VectorScalarB(ReadOnlySpan<float> a, float b, Span<float> d) => TensorPrimitives.Max(a, b, d);
    public static void VectorScalarA(float a, ReadOnlySpan<float> b, Span<float> d) => TensorPrimitives.Max(b, a, d);
}

internal struct MinOp : IBinaryOp
{
    public static float Apply(float a, float b) => MathF.Min(a, b);
    public static void Vector(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> d) => TensorPrimitives.Min(a, b, d);
    public static void VectorScalarB(ReadOnlySpan<float> a, float b, Span<float> d) => TensorPrimitives.Min(a, b, d);
    public static void VectorScalarA(float a, ReadOnlySpan<float> b, Span<float> d) => TensorPrimitives.Min(b, a, d);
}

/// <summary>Runs a binary op over two broadcast operands, one innermost run at a time.</summary>
internal static class Broadcasting
{
    /// <summary>Strides of <paramref name="t"/> viewed at the broadcast shape (0 on broadcast dims).</summary>
    public static int[] StridesFor(Tensor t, int[] shape)
    {
        var strides = new int[shape.Length];
        int lead = shape.Length - t.Rank;
        for (int i = lead; i < shape.Length; i++)
        {
            strides[i] = t.Shape[i - lead] == 1 && shape[i] != 1 ? 0 : t.Strides[i - lead];
        }
        return strides;
    }

    public static Tensor Binary<TOp>(Tensor a, Tensor b) where TOp : struct, IBinaryOp
    {
        a.ThrowUnlessFloat(typeof(TOp).Name[..^2]);
        b.ThrowUnlessFloat(typeof(TOp).Name[..^2]);
        var shape = Shapes.Broadcast(a.Shape, b.Shape);
        var result = Tensor.Empty(shape);
        var dst = result.Span;
        if (a.IsContiguous && b.IsContiguous && a.Shape.SequenceEqual(b.Shape))
        {
            TOp.Vector(a.Span, b.Span, dst);
            return result;
        }
        if (b.Numel == 1 && a.IsContiguous && a.Numel == result.Numel)
        {
            TOp.VectorScalarB(a.Span, b.Item(), dst);
            return result;
        }
        if (a.Numel == 1 && b.IsContiguous && b.Numel == result.Numel)
        {
            TOp.VectorScalarA(a.Item(), b.Span, dst);
            return result;
        }
        var sa = StridesFor(a, shape);
        var sb = StridesFor(b, shape);
        var fa = a.Storage.Floats!;
        var fb = b.Storage.Floats!;
        int rank = shape.Length;
        int inner = rank == 0 ? 1 : shape[rank - 1];
        int ia = rank == 0 ? 0 : sa[rank - 1], ib = rank == 0 ? 0 : sb[rank - 1];
        int outer = inner == 0 ? 0 : result.Numel / inner;
        var counter = new int[Math.Max(rank - 1, 0)];
        int offA = a.Offset, offB = b.Offset;
        for (int o = 0; o < outer; o++)
        {
            var d = dst.Slice(o * inner, inner);
            if (ia == 1 && ib == 1)
            {
                TOp.Vector(fa.AsSpan(offA, inner), fb.AsSpan(offB, inner), d);
            }
            else if (ia == 1 && ib == 0)
            {
                TOp.VectorScalarB(fa.AsSpan(offA, inner), fb[offB], d);
            }
            else if (ia == 0 && ib == 1)
            {
                TOp.VectorScalarA(fa[offA], fb.AsSpan(offB, inner), d);
            }
            else
            {
                for (int i = 0; i < inner; i++)
                {
                    d[i] = TOp.Apply(fa[offA + i * ia], fb[offB + i * ib]);
                }
            }
            // Advance the outer multi-index (all dims but the last).
            for (int dim = rank - 2; dim >= 0; dim--)
            {
                counter[dim]++;
                offA += sa[dim];
                offB += sb[dim];
                if (counter[dim] < shape[dim])
                {
                    break;
                }
                offA -= sa[dim] * shape[dim];
                offB -= sb[dim] * shape[dim];
                counter[dim] = 0;
            }
        }
        return result;
    }
}
