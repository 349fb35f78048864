using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Math;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.FourierFT;

/// <summary>
/// FourierFT (Gao et al., 2024, "Parameter-Efficient Fine-Tuning with Discrete Fourier Transform") around a linear-like
/// layer: n trained spectral coefficients c_j at fixed positions (k_j, l_j) of an (out, in) spectrum, and
/// ΔW = s · Re(ifft2(F)), i.e. ΔW[o, i] = s/(out·in) · Σ_j c_j cos(2π(k_j·o/out + l_j·i/in)).
/// Since cos(u + v) = cos u cos v − sin u sin v, ΔW = s/(out·in) · Q·diag([c, c])·P with the fixed bases
/// P (2n, in) = [cos(2π l_j i/in); sin(2π l_j i/in)] and Q (out, 2n) = [cos(2π k_j o/out), −sin(2π k_j o/out)],
/// so the forward pass is two skinny products, y = base(x) + s/(out·in) · ((x·Pᵀ) ⊙ [c, c])·Qᵀ, and no FFT is needed.
/// </summary>
public sealed class FourierFTLayer : DeltaWeightLayer<FourierFTLayer.FourierFTAdapter>
{
    internal const string SpectrumName = "fourierft_spectrum";

    /// <summary>One FourierFT adapter: its coefficients, their positions and the bases derived from them.</summary>
    public sealed class FourierFTAdapter
    {
        public required Tensor Spectrum { get; init; }

        /// <summary>Row k_j (output frequency) of each coefficient.</summary>
        public required int[] Rows { get; init; }

        /// <summary>Column l_j (input frequency) of each coefficient.</summary>
        public required int[] Columns { get; init; }

        /// <summary>s / (out·in).</summary>
        public required float Scale { get; init; }

        /// <summary>P (2n, in), frozen.</summary>
        public required Tensor InBasis { get; init; }

        /// <summary>Q (out, 2n), frozen.</summary>
        public required Tensor OutBasis { get; init; }
    }

    public FourierFTLayer(Module baseLayer, AdapterSelection selection) : base(baseLayer, selection, "FourierFT")
    {
    }

    protected override IEnumerable<AdapterParameter> ParametersOf(string name, FourierFTAdapter a)
    {
        yield return new(SpectrumName + "." + name, SpectrumName, a.Spectrum);
    }

    /// <summary>The spectrum positions of adapter <paramref name="name"/>: (row, column) per coefficient.</summary>
    public (int[] Rows, int[] Columns) Positions(string name)
    {
        var a = Adapter(name);
        return (a.Rows.ToArray(), a.Columns.ToArray());
    }

    /// <summary>
    /// The positions Hugging Face PEFT uses: the first <paramref name="n"/> entries of torch.randperm(out·in) under
    /// torch's CPU generator seeded with <paramref name="seed"/>, entry e at (e / in, e mod in).
    /// </summary>
    public static (int[] Rows, int[] Columns) TorchPositions(int outFeatures, int inFeatures, int n, long seed)
    {
        var flat = new TorchCpuGenerator((ulong)seed).RandpermPrefix((long)outFeatures * inFeatures, n);
        return (flat.Select(e => (int)(e / inFeatures)).ToArray(), flat.Select(e => (int)(e % inFeatures)).ToArray());
    }

    internal void AddFourier(string name, FourierFTConfig config, int n, Rng rng)
    {
        if (n > (long)InFeatures * OutFeatures)
        {
            throw new AdapterConfigException(FourierFTConfig.NFrequencyField, $"{n} exceeds the {OutFeatures}·{InFeatures} = {(long)InFeatures * OutFeatures} entries of the layer's spectrum.");
        }
        var (rows, cols) = TorchPositions(OutFeatures, InFeatures, n, config.RandomLocSeed);
        var spectrum = config.InitWeights ? Tensor.Zeros(n) : Tensor.Normal([n], 0f, 1f, rng);
        AddAdapterRecord(name, new FourierFTAdapter
        {
            Spectrum = Trainable(spectrum),
            Rows = rows,
            Columns = cols,
            Scale = (float)(config.Scaling / ((double)OutFeatures * InFeatures)),
            InBasis = Tensor.Wrap(Basis(cols, InFeatures, transposed: false, negateSin: false), 2 * n, InFeatures),
            OutBasis = Tensor.Wrap(Basis(rows, OutFeatures, transposed: true, negateSin: true), OutFeatures, 2 * n),
        });
    }

    /// <summary>
    /// [cos(2π f_j t / size); ±sin(2π f_j t / size)] for t in 0..size−1, as (2n, size) or transposed (size, 2n).
    /// The angle uses (f_j·t) mod size, exact in integers, so large frequencies lose no precision.
    /// </summary>
    private static float[] Basis(int[] freq, int size, bool transposed, bool negateSin)
    {
        int n = freq.Length;
        var b = new float[2 * n * size];
        for (int j = 0; j < n; j++)
        {
            for (int t = 0; t < size; t++)
            {
                double angle = 2 * System.Math.PI * ((long)freq[j] * t % size) / size;
                float c = (float)System.Math.Cos(angle), s = (float)System.Math.Sin(angle);
                if (negateSin)
                {
                    s = -s;
                }
                if (transposed)
                {
                    b[t * 2 * n + j] = c;
                    b[t * 2 * n + n + j] = s;
                }
                else
                {
                    b[j * size + t] = c;
                    b[(n + j) * size + t] = s;
                }
            }
        }
        return b;
    }

    protected override Tensor Delta(FourierFTAdapter a)
    {
        var twice = Tensor.Cat([a.Spectrum, a.Spectrum], 0);                          // (2n)
        return Tensor.MatMul(a.OutBasis.Mul(twice), a.InBasis).Mul(a.Scale);         // (out, 2n)·(2n, in)
    }

    protected override Tensor AdapterOutput(Tensor x, FourierFTAdapter a)
    {
        var twice = Tensor.Cat([a.Spectrum, a.Spectrum], 0);
        var h = Tensor.Linear(x, a.InBasis).Mul(twice);                               // (..., 2n)
        return Tensor.Linear(h, a.OutBasis).Mul(a.Scale);                             // (..., out)
    }
}
