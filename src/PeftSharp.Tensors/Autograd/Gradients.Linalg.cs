namespace PeftSharp.Tensors.Autograd;

internal static partial class Gradients
{
    // ---- linear algebra ----

    /// <summary>Y = A⁻¹: dA = −Yᵀ · dY · Yᵀ (batched over leading dimensions).</summary>
    public static Tensor?[] Inverse(Node n, Tensor g)
    {
        var yt = n.Saved[0].T;
        return [Tensor.MatMul(Tensor.MatMul(yt, g), yt).Mul(-1f)];
    }
}
