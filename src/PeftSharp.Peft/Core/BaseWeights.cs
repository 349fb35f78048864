using PeftSharp.Nn;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Core;

/// <summary>
/// Reads and rewrites the "weight"/"bias" parameters of a wrapped base module in place, keeping each
/// parameter's storage type and gradient flag. Merging works on float32 copies; the result is narrowed back when
/// the base weight is stored in 16 bits.
/// </summary>
internal static class BaseWeights
{
    public const string Weight = "weight";
    public const string Bias = "bias";

    /// <summary>True when the module stores its weight (in, out) (GPT-2's Conv1D).</summary>
    public static bool IsTransposed(Module m) => m is ILinearLayer { WeightIsTransposed: true };

    public static Tensor WeightOf(Module m) => m.Parameter(Weight) ?? throw new InvalidOperationException($"{m.Describe()} has no weight.");

    public static Tensor? BiasOf(Module m)
    {
        try
        {
            return m.Parameter(Bias);
        }
        catch (KeyNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Replaces the values of a parameter, in place when it is dense float32, else by a new tensor of the same storage type.</summary>
    public static void Write(Module m, string name, ReadOnlySpan<float> values)
    {
        var old = m.Parameter(name) ?? throw new InvalidOperationException($"{m.Describe()} has no {name}.");
        if (old.DType == DType.F32 && old.IsContiguous)
        {
            values.CopyTo(old.Span);
            return;
        }
        var fresh = Tensor.FromArray(values, old.Shape.ToArray());
        var stored = old.DType == DType.F32 ? fresh : fresh.ToHalfStorage(old.DType);
        stored.Name = old.Name;
        if (stored.DType == DType.F32)
        {
            stored.RequiresGrad = old.RequiresGrad;
        }
        m.SetParameter(name, stored);
    }

    /// <summary>a (rows, cols) row-major → aᵀ (cols, rows).</summary>
    public static float[] Transpose(ReadOnlySpan<float> a, int rows, int cols)
    {
        var t = new float[a.Length];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                t[j * rows + i] = a[i * cols + j];
            }
        }
        return t;
    }
}
