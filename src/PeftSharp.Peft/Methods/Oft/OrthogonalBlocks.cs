using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.Oft;

/// <summary>
/// Block-diagonal orthogonal transforms shared by OFT and BOFT. Legend: D blocks of size b, in = D·b; a rotation
/// acts on the input side of a linear layer, y = (x·R)·Wᵀ, so merging gives W' = W·Rᵀ.
/// </summary>
internal static class OrthogonalBlocks
{
    /// <summary>
    /// The Cayley transform of each block: S = (R − Rᵀ)/2, Q = (I − S)(I + S)⁻¹ — orthogonal for any R.
    /// <paramref name="r"/> (D, b, b) → (D, b, b), differentiable.
    /// </summary>
    public static Tensor Cayley(Tensor r)
    {
        int b = r.Dim(-1);
        var skew = r.Sub(r.Transpose(-2, -1)).Mul(0.5f);
        var eye = Identity(b);
        return Tensor.MatMul(eye.Sub(skew), eye.Add(skew).Inverse());
    }

    /// <summary>The b × b identity.</summary>
    public static Tensor Identity(int b)
    {
        var eye = Tensor.Zeros(b, b);
        var s = eye.Span;
        for (int i = 0; i < b; i++)
        {
            s[i * b + i] = 1f;
        }
        return eye;
    }

    /// <summary>
    /// Multiplicative dropout in training (Hugging Face's MultiplicativeDropoutLayer): <paramref name="q"/> holds
    /// <paramref name="groups"/> × D blocks (G·D, b, b); in one randomly chosen group, ⌊p·D⌋ randomly chosen blocks
    /// become the identity. OFT has one group, BOFT one per butterfly factor.
    /// </summary>
    public static Tensor DropBlocks(Tensor q, int groups, float p, Rng rng)
    {
        int d = q.Dim(0) / groups, b = q.Dim(-1);
        int drop = (int)(p * d);
        if (d == 1 || drop == 0)
        {
            return q;
        }
        int group = groups == 1 ? 0 : rng.NextInt(groups);
        var order = Enumerable.Range(0, d).ToArray();
        for (int i = d - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var mask = new float[groups * d];
        for (int i = 0; i < drop; i++)
        {
            mask[group * d + order[i]] = 1f;
        }
        var m = Tensor.FromArray(mask, groups * d, 1, 1);
        return q.Mul(m.Mul(-1f).Add(1f)).Add(Identity(b).Mul(m));
    }

    /// <summary>x·blockdiag(Q₀…Q_{D−1}): <paramref name="x"/> (..., D·b), <paramref name="q"/> (D, b, b) or (1, b, b) shared.</summary>
    public static Tensor ApplyBlocks(Tensor x, Tensor q, int blocks)
    {
        int b = q.Dim(-1);
        var shape = x.Shape.ToArray();
        if (q.Dim(0) == 1)
        {
            return Tensor.MatMul(x.Contiguous().Reshape(-1, b), q.Reshape(b, b)).Reshape(shape);
        }
        var xb = x.Contiguous().Reshape(-1, blocks, b).Permute(1, 0, 2);   // (D, M, b)
        return Tensor.MatMul(xb, q).Permute(1, 0, 2).Contiguous().Reshape(shape);
    }

    /// <summary>
    /// Rows of <paramref name="w"/> (rows, D·b) times blockdiag(Q) or its transpose, in place, float64 accumulation.
    /// <paramref name="q"/> holds D (or 1 shared) row-major b × b blocks.
    /// </summary>
    public static void RotateRows(float[] w, int rows, int blocks, int b, ReadOnlySpan<float> q, bool transpose)
    {
        bool shared = q.Length == b * b;
        int inF = blocks * b;
        var tmp = new double[b];
        for (int r = 0; r < rows; r++)
        {
            for (int d = 0; d < blocks; d++)
            {
                var qd = q.Slice(shared ? 0 : d * b * b, b * b);
                int o = r * inF + d * b;
                for (int i = 0; i < b; i++)
                {
                    double s = 0;
                    for (int j = 0; j < b; j++)
                    {
                        // (v·Q)[i] = Σ_j v[j] Q[j, i];  (v·Qᵀ)[i] = Σ_j v[j] Q[i, j].
                        s += (double)w[o + j] * (transpose ? qd[i * b + j] : qd[j * b + i]);
                    }
                    tmp[i] = s;
                }
                for (int i = 0; i < b; i++)
                {
                    w[o + i] = (float)tmp[i];
                }
            }
        }
    }
}
