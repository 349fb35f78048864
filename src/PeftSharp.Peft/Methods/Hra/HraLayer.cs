using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.Hra;

/// <summary>
/// HRA (Yuan et al., 2024, "Bridging The Gap between Low-rank and Orthogonal Adaptation via Householder Reflection
/// Adaptation"): the weight is multiplied by r Householder reflections, W' = W·H with H = H_1⋯H_r,
/// H_i = I − 2·u_i·u_iᵀ and u_i the normalised columns of hra_u (in, r). With apply_GS the columns are
/// orthonormalised first and H = I − 2·U·Uᵀ. Forward: y = base(x·Hᵀ).
/// </summary>
public sealed class HraLayer : LinearAdapterLayer<HraLayer.HraAdapter>
{
    internal const string UName = "hra_u";

    /// <summary>One HRA adapter: hra_u (in, r) and whether Gram–Schmidt is applied.</summary>
    public sealed class HraAdapter
    {
        public required Tensor U { get; init; }

        public required bool ApplyGs { get; init; }
    }

    public HraLayer(Module baseLayer, AdapterSelection selection) : base(baseLayer, selection, "HRA")
    {
    }

    protected override IEnumerable<AdapterParameter> ParametersOf(string name, HraAdapter a)
    {
        yield return new(UName + "." + name, UName, a.U);
    }

    internal void AddHra(string name, HraConfig config, Rng rng)
    {
        int r = config.R;
        float[] u;
        if (config.InitWeights && r % 2 == 0)
        {
            // torch's kaiming_uniform(a=√5) on (in, r/2) has bound 1/√(r/2); each column is repeated, so the paired
            // reflections cancel and the adapter starts as the identity.
            float bound = 1f / MathF.Sqrt(r / 2);
            var half = Tensor.Uniform([InFeatures, r / 2], -bound, bound, rng).ToArray();
            u = new float[InFeatures * r];
            for (int i = 0; i < InFeatures; i++)
            {
                for (int j = 0; j < r; j++)
                {
                    u[i * r + j] = half[i * (r / 2) + j / 2];
                }
            }
        }
        else
        {
            float bound = 1f / MathF.Sqrt(r);
            u = Tensor.Uniform([InFeatures, r], -bound, bound, rng).ToArray();
        }
        var t = Tensor.Wrap(u, InFeatures, r);
        t.RequiresGrad = true;
        AddAdapterRecord(name, new HraAdapter { U = t, ApplyGs = config.ApplyGs });
    }

    /// <summary>The unit vectors (in, r): normalised columns, orthonormalised when apply_GS is set. Differentiable.</summary>
    private static Tensor Vectors(HraAdapter a)
    {
        if (!a.ApplyGs)
        {
            return a.U.Div(a.U.Norm([0], keepDim: true));
        }
        var cols = new List<Tensor>();
        int r = a.U.Dim(1);
        for (int i = 0; i < r; i++)
        {
            var ui = a.U.Narrow(1, i, 1);                                       // (in, 1)
            foreach (var w in cols)
            {
                ui = ui.Sub(Tensor.MatMul(w.T, ui).Mul(w));                      // ui − (wᵀui)·w
            }
            cols.Add(ui.Div(ui.Norm()));
        }
        return Tensor.Cat(cols, 1);
    }

    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        // x·(H_a1⋯H_ak)ᵀ = x·H_akᵀ⋯H_a1ᵀ: the last adapter touches the input first.
        var shape = input.Shape.ToArray();
        var x = input.Contiguous().Reshape(-1, InFeatures);
        for (int k = adapters.Count - 1; k >= 0; k--)
        {
            var a = Adapter(adapters[k]);
            var u = Vectors(a);
            if (a.ApplyGs)
            {
                x = x.Sub(Tensor.MatMul(Tensor.MatMul(x, u), u.T).Mul(2f));
                continue;
            }
            // Hᵀ = H_r⋯H_1 (each reflection is symmetric): u_r first.
            for (int i = u.Dim(1) - 1; i >= 0; i--)
            {
                var ui = u.Narrow(1, i, 1);
                x = x.Sub(Tensor.MatMul(Tensor.MatMul(x, ui), ui.T).Mul(2f));
            }
        }
        return BaseLayer.Forward(x.Reshape(shape));
    }

    protected override void MergeAdapter(string name) => Apply(name, unmerge: false);

    protected override void UnmergeAdapter(string name) => Apply(name, unmerge: true);

    private void Apply(string name, bool unmerge)
    {
        var a = Adapter(name);
        var u = Vectors(a).ToArray();
        int r = a.U.Dim(1);
        var w = ReadWeightOutIn();
        // Rows v: merge v·H = v·H_1⋯H_r (u_1 first), unmerge v·Hᵀ (u_r first); with apply_GS H = Hᵀ = I − 2UUᵀ.
        var row = new double[InFeatures];
        var dots = new double[r];
        for (int o = 0; o < OutFeatures; o++)
        {
            for (int i = 0; i < InFeatures; i++)
            {
                row[i] = w[o * InFeatures + i];
            }
            if (a.ApplyGs)
            {
                for (int j = 0; j < r; j++)
                {
                    double d = 0;
                    for (int i = 0; i < InFeatures; i++)
                    {
                        d += row[i] * u[i * r + j];
                    }
                    dots[j] = d;
                }
                for (int i = 0; i < InFeatures; i++)
                {
                    double s = 0;
                    for (int j = 0; j < r; j++)
                    {
                        s += dots[j] * u[i * r + j];
                    }
                    row[i] -= 2 * s;
                }
            }
            else
            {
                for (int step = 0; step < r; step++)
                {
                    int j = unmerge ? r - 1 - step : step;
                    double d = 0;
                    for (int i = 0; i < InFeatures; i++)
                    {
                        d += row[i] * u[i * r + j];
                    }
                    for (int i = 0; i < InFeatures; i++)
                    {
                        row[i] -= 2 * d * u[i * r + j];
                    }
                }
            }
            for (int i = 0; i < InFeatures; i++)
            {
                w[o * InFeatures + i] = (float)row[i];
            }
        }
        WriteWeightOutIn(w);
    }
}
