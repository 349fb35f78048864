using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PeftSharp.Tensors.Kernels;

/// <summary>
/// Fused SwiGLU gate of the Llama MLP: out = silu(gate) ⊙ up, and its backward.
/// </summary>
/// <remarks>
/// Shapes (llm.c style): N = B·T·C elements; gate, up, out, dout, dgate, dup are all (N).
/// Rows can be split across threads by slicing all spans at the same element offsets.
/// Lanes: 8 per AVX2 step; the tail runs the bitwise-identical scalar twin.
/// </remarks>
public static class SwiGlu
{
    /// <summary>out[i] = gate[i]·sigmoid(gate[i])·up[i]. <paramref name="output"/> may alias either input.</summary>
    /// <exception cref="ArgumentException">Lengths differ.</exception>
    public static void Forward(
        ReadOnlySpan<float> gate, // (N)
        ReadOnlySpan<float> up,   // (N)
        Span<float> output)       // (N)
    {
        Elementwise.CheckSameLength(gate.Length, up.Length, nameof(gate), nameof(up));
        Elementwise.CheckSameLength(gate.Length, output.Length, nameof(gate), nameof(output));
        ref float pg = ref MemoryMarshal.GetReference(gate);
        ref float pu = ref MemoryMarshal.GetReference(up);
        ref float po = ref MemoryMarshal.GetReference(output);
        int n = gate.Length;
        int i = 0;
        if (FastMath.IsVectorized)
        {
            for (; i <= n - 8; i += 8)
            {
                Vector256<float> g = Vector256.LoadUnsafe(ref pg, (nuint)i);
                Vector256<float> u = Vector256.LoadUnsafe(ref pu, (nuint)i);
                Avx.Multiply(Activations.SiluOp.Invoke(g), u).StoreUnsafe(ref po, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            output[i] = Activations.SiluOp.Invoke(gate[i]) * up[i];
        }
    }

    /// <summary>
    /// dgate = dout·up·s·(1 + g·(1 − s)), dup = dout·g·s with s = sigmoid(g) (overwritten, not accumulated).
    /// <paramref name="dGate"/> may alias <paramref name="gate"/> and <paramref name="dUp"/> may alias <paramref name="up"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Lengths differ.</exception>
    public static void Backward(
        ReadOnlySpan<float> gate,  // (N)
        ReadOnlySpan<float> up,    // (N)
        ReadOnlySpan<float> dOut,  // (N)
        Span<float> dGate,         // (N)
        Span<float> dUp)           // (N)
    {
        int n = gate.Length;
        Elementwise.CheckSameLength(n, up.Length, nameof(gate), nameof(up));
        Elementwise.CheckSameLength(n, dOut.Length, nameof(gate), nameof(dOut));
        Elementwise.CheckSameLength(n, dGate.Length, nameof(gate), nameof(dGate));
        Elementwise.CheckSameLength(n, dUp.Length, nameof(gate), nameof(dUp));
        ref float pg = ref MemoryMarshal.GetReference(gate);
        ref float pu = ref MemoryMarshal.GetReference(up);
        ref float pd = ref MemoryMarshal.GetReference(dOut);
        ref float pdg = ref MemoryMarshal.GetReference(dGate);
        ref float pdu = ref MemoryMarshal.GetReference(dUp);
        int i = 0;
        if (FastMath.IsVectorized)
        {
            for (; i <= n - 8; i += 8)
            {
                Vector256<float> g = Vector256.LoadUnsafe(ref pg, (nuint)i);
                Vector256<float> u = Vector256.LoadUnsafe(ref pu, (nuint)i);
                Vector256<float> d = Vector256.LoadUnsafe(ref pd, (nuint)i);
                Vector256<float> s = FastMath.Sigmoid(g);
                Vector256<float> ds = Avx.Multiply(s, Fma.MultiplyAdd(g, Avx.Subtract(Vector256<float>.One, s), Vector256<float>.One));
                Avx.Multiply(Avx.Multiply(d, u), ds).StoreUnsafe(ref pdg, (nuint)i);
                Avx.Multiply(d, Avx.Multiply(g, s)).StoreUnsafe(ref pdu, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float g = gate[i], u = up[i], d = dOut[i];
            float s = FastMath.Sigmoid(g);
            float ds = s * MathF.FusedMultiplyAdd(g, 1f - s, 1f);
            dGate[i] = d * u * ds;
            dUp[i] = d * (g * s);
        }
    }
}
