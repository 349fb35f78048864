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

    /// <summary>The base weight as (out, in) float32, whatever its storage layout.</summary>
    public static float[] ReadOutIn(Module baseLayer, int outF, int inF)
    {
        var w = BaseWeights.WeightOf(baseLayer).ToArray();
        return BaseWeights.IsTransposed(baseLayer) ? BaseWeights.Transpose(w, inF, outF) : w;
    }

    /// <summary>Writes an (out, in) weight back in the base layer's storage layout.</summary>
    public static void WriteOutIn(Module baseLayer, float[] outIn, int outF, int inF)
    {
        var stored = BaseWeights.IsTransposed(baseLayer) ? BaseWeights.Transpose(outIn, outF, inF) : outIn;
        BaseWeights.Write(baseLayer, BaseWeights.Weight, stored);
    }

    /// <summary>Scales row o of an (out, in) weight by f[o] (or divides by it).</summary>
    public static void ScaleRows(float[] w, int outF, int inF, ReadOnlySpan<float> f, bool divide)
    {
        for (int o = 0; o < outF; o++)
        {
            for (int i = 0; i < inF; i++)
            {
                w[o * inF + i] = divide ? w[o * inF + i] * (1f / f[o]) : w[o * inF + i] * f[o];
            }
        }
    }

    /// <summary>
    /// y = (base(x') − b) ⊙ s + b: the base layer applied to rotated input <paramref name="rotated"/>, its output
    /// (bias excluded) scaled per output by <paramref name="scale"/> (out).
    /// </summary>
    public static Tensor ScaledBase(Module baseLayer, Tensor rotated, Tensor scale)
    {
        var y = baseLayer.Forward(rotated);
        var bias = BaseWeights.BiasOf(baseLayer);
        return bias is null ? y.Mul(scale) : y.Sub(bias).Mul(scale).Add(bias);
    }
}
