using System.Numerics.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Tensors;

// Elementwise arithmetic with NumPy broadcasting, and pointwise math.
public sealed partial class Tensor
{
    /// <summary>this + other (broadcast).</summary>
    public Tensor Add(Tensor other) => Record2(Broadcasting.Binary<AddOp>(this, other), "add", Gradients.Add, other);

    /// <summary>this − other (broadcast).</summary>
    public Tensor Sub(Tensor other) => Record2(Broadcasting.Binary<SubOp>(this, other), "sub", Gradients.Sub, other);

    /// <summary>this ⊙ other (broadcast).</summary>
    public Tensor Mul(Tensor other) => Record2(Broadcasting.Binary<MulOp>(this, other), "mul", Gradients.Mul, other);

    /// <summary>this ⊘ other (broadcast).</summary>
    public Tensor Div(Tensor other) => Record2(Broadcasting.Binary<DivOp>(this, other), "div", Gradients.Div, other);

    /// <summary>Elementwise maximum (gradient goes to the larger input; ties to this).</summary>
    public Tensor Maximum(Tensor other) => Record2(Broadcasting.Binary<MaxOp>(this, other), "maximum", Gradients.Maximum, other);

    /// <summary>Elementwise minimum (gradient goes to the smaller input; ties to this).</summary>
    public Tensor Minimum(Tensor other) => Record2(Broadcasting.Binary<MinOp>(this, other), "minimum", Gradients.Minimum, other);

    private Tensor Record2(Tensor result, string op, BackwardRule rule, Tensor other)
    {
        Tape.Record(result, op, rule, this, other);
        return result;
    }

    /// <summary>this + s.</summary>
    public Tensor Add(float s) => Unary("add_scalar", (x, d) => TensorPrimitives.Add(x, s, d), Gradients.Identity);

    /// <summary>this · s.</summary>
    public Tensor Mul(float s)
    {
        var r = Unary("mul_scalar", (x, d) => TensorPrimitives.Multiply(x, s, d), Gradients.MulScalar);
        if (r.GradFn is { } n) n.Floats = [s];
        return r;
    }

    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);
    public static Tensor operator -(Tensor a, Tensor b) => a.Sub(b);
    public static Tensor operator *(Tensor a, Tensor b) => a.Mul(b);
    public static Tensor operator /(Tensor a, Tensor b) => a.Div(b);
    public static Tensor operator +(Tensor a, float s) => a.Add(s);
    public static Tensor operator -(Tensor a, float s) => a.Add(-s);
    public static Tensor operator *(Tensor a, float s) => a.Mul(s);
    public static Tensor operator *(float s, Tensor a) => a.Mul(s);
    public static Tensor operator /(Tensor a, float s) => a.Mul(1f / s);
    public static Tensor operator -(Tensor a) => a.Neg();

    /// <summary>−x.</summary>
    public Tensor Neg() => Mul(-1f);

    /// <summary>eˣ.</summary>
    public Tensor Exp() => Unary("exp", (x, d) => TensorPrimitives.Exp(x, d), Gradients.Exp, saveOutput: true);

    /// <summary>Natural logarithm.</summary>
    public Tensor Log() => Unary("log", (x, d) => TensorPrimitives.Log(x, d), Gradients.Log, saveInput: true);

    /// <summary>√x.</summary>
    public Tensor Sqrt() => Unary("sqrt", (x, d) => TensorPrimitives.Sqrt(x, d), Gradients.Sqrt, saveOutput: true);

    /// <summary>|x| (gradient sign(x), 0 at 0).</summary>
    public Tensor Abs() => Unary("abs", (x, d) => TensorPrimitives.Abs(x, d), Gradients.Abs, saveInput: true);

    /// <summary>xᵖ for a scalar exponent.</summary>
    public Tensor Pow(float p)
    {
        var r = Unary("pow", (x, d) => TensorPrimitives.Pow(x, p, d), Gradients.Pow, saveInput: true);
        if (r.GradFn is { } n) n.Floats = [p];
        return r;
    }

    /// <summary>Clamps into [min, max] (either may be null); gradient passes where the input was inside.</summary>
    public Tensor Clamp(float? min, float? max)
    {
        float lo = min ?? float.NegativeInfinity, hi = max ?? float.PositiveInfinity;
        if (lo > hi)
        {
            throw new ArgumentException($"Clamp min {lo} is greater than max {hi}.");
        }
        var r = Unary("clamp", (x, d) => TensorPrimitives.Clamp(x, lo, hi, d), Gradients.Clamp, saveInput: true);
        if (r.GradFn is { } n) n.Floats = [lo, hi];
        return r;
    }

    /// <summary>Logistic sigmoid.</summary>
    public Tensor Sigmoid() => Unary("sigmoid", (x, d) => TensorPrimitives.Sigmoid(x, d), Gradients.Sigmoid, saveOutput: true);

    /// <summary>Hyperbolic tangent.</summary>
    public Tensor Tanh() => Unary("tanh", (x, d) => TensorPrimitives.Tanh(x, d), Gradients.Tanh, saveOutput: true);

    /// <summary>max(x, 0).</summary>
    public Tensor Relu() => Unary("relu", (x, d) => TensorPrimitives.Max(x, 0f, d), Gradients.Relu, saveInput: true);

    internal delegate void SpanMap(ReadOnlySpan<float> x, Span<float> d);

    internal Tensor Unary(string op, SpanMap map, BackwardRule rule, bool saveInput = false, bool saveOutput = false)
    {
        ThrowUnlessFloat(op);
        var x = Contiguous();
        var result = Empty((int[])_shape.Clone());
        map(x.Span, result.Span);
        var node = Tape.Record(result, op, rule, this);
        if (node is not null)
        {
            node.Saved = saveInput && saveOutput ? [x, result] : saveInput ? [x] : saveOutput ? [result] : [];
        }
        return result;
    }

    /// <summary>Selects <paramref name="a"/> where <paramref name="condition"/> is non-zero, else <paramref name="b"/> (all broadcast).</summary>
    public static Tensor Where(Tensor condition, Tensor a, Tensor b)
    {
        var mask = condition.DType == DType.F32 ? condition : condition.ToMaskFloat();
        // mask·a + (1−mask)·b computed exactly by selection, not arithmetic (so inf/NaN in the unselected side do not leak).
        var shape = Shapes.Broadcast(Shapes.Broadcast(mask.Shape, a.Shape), b.Shape);
        Tensor maskDense, aDense, bDense;
        using (GradMode.NoGrad())
        {
            maskDense = mask.Expand(shape).Contiguous();
            aDense = a.Expand(shape).Contiguous();
            bDense = b.Expand(shape).Contiguous();
        }
        var m = maskDense.Span;
        var av = aDense.Span;
        var bv = bDense.Span;
        var result = Empty(shape);
        var d = result.Span;
        for (int i = 0; i < d.Length; i++)
        {
            d[i] = m[i] != 0 ? av[i] : bv[i];
        }
        var node = Tape.Record(result, "where", Gradients.Where, a, b);
        if (node is not null)
        {
            node.State = maskDense;
        }
        return result;
    }

    /// <summary>Replaces elements where <paramref name="mask"/> is non-zero by <paramref name="value"/>.</summary>
    public Tensor MaskedFill(Tensor mask, float value) => Where(mask, Full([], value), this);

    private Tensor ToMaskFloat()
    {
        var f = new float[Numel];
        CopyTo(f);
        return Wrap(f, _shape);
    }
}
