using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Peft.Methods.Lora.Variants;

/// <summary>
/// DoRA (Liu et al., 2024, "DoRA: Weight-Decomposed Low-Rank Adaptation") as a LoRA variant, following Hugging Face
/// PEFT 0.14: W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖_row, where the row norm is treated as a constant (detached).
/// Forward: y = base(x) + (m/‖·‖ − 1) ⊙ (x·Wᵀ) + (m/‖·‖) ⊙ s·B·A·x.
/// </summary>
internal static class Dora
{
    /// <summary>‖W + s·B·A‖ over the input dimension, per output row (out), without gradient. W is (out, in) float32.</summary>
    public static Tensor WeightNorm(Tensor weightOutIn, LoraAdapter a, float scaling)
    {
        using var _ = GradMode.NoGrad();
        var lora = Tensor.MatMul(a.B.Detach(), a.A.Detach()).Mul(scaling);
        return weightOutIn.Add(lora).Norm([1]).Detach();
    }

    /// <summary>
    /// The DoRA output added on top of <paramref name="baseResult"/>. <paramref name="x"/> is the (possibly dropped-out)
    /// input; when dropout changed it, the base product is recomputed from it as Hugging Face does.
    /// </summary>
    public static Tensor Forward(Tensor x, bool dropoutApplied, Tensor baseResult, Tensor weightOutIn, Tensor? bias, LoraAdapter a)
    {
        var norm = WeightNorm(weightOutIn, a, a.Scaling);
        var scale = a.Magnitude!.Div(norm);                                        // (out)
        var loraResult = Tensor.Linear(Tensor.Linear(x, a.A), a.B).Mul(a.Scaling); // (..., out)
        Tensor baseNoBias = dropoutApplied ? Tensor.Linear(x, weightOutIn) : bias is null ? baseResult : baseResult.Sub(bias);
        var dora = scale.Add(-1f).Mul(baseNoBias).Add(scale.Mul(loraResult));
        return baseResult.Add(dora);
    }

    /// <summary>The merged weight m/‖W+Δ‖ ⊙ (W+Δ) (in place on <paramref name="w"/>, (out, in)); returns the norms used.</summary>
    public static float[] Merge(float[] w, ReadOnlySpan<float> delta, ReadOnlySpan<float> magnitude, int outF, int inF)
    {
        var norms = new float[outF];
        for (int o = 0; o < outF; o++)
        {
            double sum = 0;
            for (int i = 0; i < inF; i++)
            {
                float v = w[o * inF + i] + delta[o * inF + i];
                w[o * inF + i] = v;
                sum += (double)v * v;
            }
            norms[o] = (float)System.Math.Sqrt(sum);
            float factor = magnitude[o] / norms[o];
            for (int i = 0; i < inF; i++)
            {
                w[o * inF + i] *= factor;
            }
        }
        return norms;
    }

    /// <summary>Inverts <see cref="Merge"/>: W = W' / (m/‖·‖) − Δ.</summary>
    public static void Unmerge(float[] w, ReadOnlySpan<float> delta, ReadOnlySpan<float> magnitude, ReadOnlySpan<float> norms, int outF, int inF)
    {
        for (int o = 0; o < outF; o++)
        {
            float factor = magnitude[o] / norms[o];
            for (int i = 0; i < inF; i++)
            {
                w[o * inF + i] = w[o * inF + i] / factor - delta[o * inF + i];
            }
        }
    }
}
