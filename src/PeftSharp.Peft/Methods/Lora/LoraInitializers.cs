using PeftSharp.Peft.Math;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.Lora;

/// <summary>
/// PiSSA (Meng et al., 2024) and OLoRA (Büyükakyüz, 2024): start the adapter from the principal part of the base
/// weight and leave the residual in the base, so the adapted model initially computes the base function.
/// Decompositions run in float64; the residual W − s·B·A is rounded to float32 once.
/// </summary>
internal static class LoraInitializers
{
    /// <summary>Returns A (r, in), B (out, r) and the residual weight (out, in).</summary>
    public static (Tensor A, Tensor B, float[] Residual) Decompose(float[] w, int outF, int inF, int r, float scaling, LoraInit init)
    {
        int k = System.Math.Min(outF, inF);
        if (r > k)
        {
            throw new ArgumentException($"init_lora_weights \"{init.ToString().ToLowerInvariant()}\" needs r ≤ min(out, in) = {k}; got r = {r}.");
        }
        var wd = Array.ConvertAll(w, x => (double)x);
        var a = new float[r * inF];
        var b = new float[outF * r];
        if (init == LoraInit.Pissa)
        {
            // W = U S Vᵀ;  A = diag(√(S/s)) Vᵀ[:r],  B = U[:, :r] diag(√(S/s)).
            var (u, s, vt) = Linalg.Svd(wd, outF, inF);
            for (int j = 0; j < r; j++)
            {
                double f = System.Math.Sqrt(s[j] / scaling);
                for (int i = 0; i < inF; i++)
                {
                    a[j * inF + i] = (float)(f * vt[j * inF + i]);
                }
                for (int o = 0; o < outF; o++)
                {
                    b[o * r + j] = (float)(u[o * k + j] * f);
                }
            }
        }
        else
        {
            // W = Q R;  A = R[:r],  B = Q[:, :r] (not divided by s).
            var (q, rr) = Linalg.Qr(wd, outF, inF);
            for (int j = 0; j < r; j++)
            {
                for (int i = 0; i < inF; i++)
                {
                    a[j * inF + i] = (float)rr[j * inF + i];
                }
                for (int o = 0; o < outF; o++)
                {
                    b[o * r + j] = (float)q[o * k + j];
                }
            }
        }
        var delta = LoraMath.Delta(b, a, outF, r, inF, scaling);
        var residual = new float[w.Length];
        for (int i = 0; i < w.Length; i++)
        {
            residual[i] = w[i] - delta[i];
        }
        return (Tensor.Wrap(a, r, inF), Tensor.Wrap(b, outF, r), residual);
    }
}
