using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.Oft;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.Boft;

/// <summary>
/// BOFT (Liu et al., 2024, "Parameter-Efficient Orthogonal Finetuning via Butterfly Factorization") around a linear
/// layer: y = ((x·T)·Wᵀ) ⊙ s + b with T = M_{N−1}⋯M_0, M_i = P_i·B_i·P_iᵀ, B_i = blockdiag(Cayley(boft_R[i, d]))
/// and P_i the butterfly permutation of factor i (P_0 = I). Merged: W' = diag(s)·W·Tᵀ.
/// </summary>
public sealed class BoftLayer : OrthogonalLayer<BoftLayer.BoftAdapter>
{
    internal const string RName = "boft_R";
    internal const string SName = "boft_s";

    /// <summary>One BOFT adapter: boft_R (N, D, b, b), boft_s (out, 1), and the permutations of its factors.</summary>
    public sealed class BoftAdapter
    {
        public required Tensor R { get; init; }

        public required Tensor S { get; init; }

        public required int Blocks { get; init; }

        public required int BlockSize { get; init; }

        /// <summary>perm[i] per factor: P_i[k, perm[k]] = 1 (Hugging Face's boft_P buffer as indices).</summary>
        public required int[][] Permutations { get; init; }

        public float Dropout { get; init; }

        public Rng? DropoutRng { get; init; }
    }

    public BoftLayer(Module baseLayer, AdapterSelection selection) : base(baseLayer, selection, "BOFT")
    {
    }

    protected override IEnumerable<AdapterParameter> ParametersOf(string name, BoftAdapter a)
    {
        yield return new(RName + "." + name, RName, a.R);
        yield return new(SName + "." + name, SName, a.S);
    }

    internal void AddBoft(string name, BoftConfig config, Rng rng)
    {
        var (blocks, size) = config.Layout(InFeatures);
        int factors = config.BoftNButterflyFactor;
        var perms = new int[factors][];
        for (int i = 0; i < factors; i++)
        {
            perms[i] = ButterflyPermutation(InFeatures, blocks >> i, size / 2, factors - 1);
        }
        int[] rShape = [factors, blocks, size, size];
        var r = config.InitWeights ? Tensor.Zeros(rShape) : Tensor.Normal(rShape, 0f, 0.1f, rng);
        var s = config.InitWeights ? Tensor.Ones(OutFeatures, 1) : Tensor.Normal([OutFeatures, 1], 1f, 0.1f, rng);
        AddAdapterRecord(name, new BoftAdapter
        {
            R = Trainable(r),
            S = Trainable(s),
            Blocks = blocks,
            BlockSize = size,
            Permutations = perms,
            Dropout = (float)config.BoftDropout,
            DropoutRng = config.BoftDropout > 0 ? new Rng(rng.NextUInt64()) : null,
        });
    }

    /// <summary>
    /// Hugging Face's block_butterfly_perm(n, b, r, m): identity when m = 0; otherwise each of the b chunks of
    /// n/b indices is reordered by taking its r-wide groups in the order (even groups, then odd groups).
    /// </summary>
    internal static int[] ButterflyPermutation(int n, int b, int r, int m)
    {
        var indices = Enumerable.Range(0, n).ToArray();
        if (m == 0)
        {
            return indices;
        }
        if (b * r * 2 > n)
        {
            throw new ArgumentException($"A butterfly permutation of {n} indices cannot have {b} chunks of groups of {r}.");
        }
        int chunk = n / b, groups = chunk / r;
        var order = new int[chunk];
        int at = 0;
        foreach (int g in Enumerable.Range(0, groups).Where(g => g % 2 == 0).Concat(Enumerable.Range(0, groups).Where(g => g % 2 == 1)))
        {
            for (int j = 0; j < r; j++)
            {
                order[at++] = g * r + j;
            }
        }
        var result = new int[n];
        for (int start = 0; start < n; start += chunk)
        {
            for (int k = 0; k < chunk; k++)
            {
                result[start + k] = indices[start + order[k]];
            }
        }
        return result;
    }

    private static int[] Inverse(int[] perm)
    {
        var inv = new int[perm.Length];
        for (int i = 0; i < perm.Length; i++)
        {
            inv[perm[i]] = i;
        }
        return inv;
    }

    private static bool IsIdentity(int[] perm) => perm.Select((p, i) => p == i).All(x => x);

    /// <summary>The orthogonal blocks (N·D, b, b) of one adapter, without dropout.</summary>
    public Tensor Blocks(string name) => BlocksOf(Adapter(name));

    private static Tensor BlocksOf(BoftAdapter a) => OrthogonalBlocks.Cayley(a.R.Reshape(-1, a.BlockSize, a.BlockSize));   // (N·D, b, b)

    /// <summary>The dense (in, in) rotation T of one adapter (for inspection and tests).</summary>
    public float[] DenseRotation(string name)
    {
        var rows = new float[InFeatures * InFeatures];
        for (int i = 0; i < InFeatures; i++)
        {
            rows[i * InFeatures + i] = 1f;
        }
        // Row i of I·T is e_i·T.
        ApplyToRows(rows, InFeatures, Adapter(name), Blocks(name).ToArray(), transpose: false);
        return rows;
    }

    private protected override Tensor Scale(BoftAdapter a) => a.S;

    private protected override Tensor Rotate(Tensor x, BoftAdapter a)
    {
        var q = BlocksOf(a);
        if (Training && a.Dropout > 0f)
        {
            q = OrthogonalBlocks.DropBlocks(q, a.Permutations.Length, a.Dropout, a.DropoutRng!);
        }
        // x·M_{N−1}⋯M_0 with x·P = x[perm⁻¹] and x·Pᵀ = x[perm].
        for (int i = a.Permutations.Length - 1; i >= 0; i--)
        {
            var perm = a.Permutations[i];
            bool permuted = !IsIdentity(perm);
            if (permuted)
            {
                x = x.IndexSelect(-1, Tensor.FromInts(Inverse(perm), perm.Length));
            }
            x = OrthogonalBlocks.ApplyBlocks(x, q.Narrow(0, i * a.Blocks, a.Blocks), a.Blocks);
            if (permuted)
            {
                x = x.IndexSelect(-1, Tensor.FromInts(perm, perm.Length));
            }
        }
        return x;
    }

    private protected override void RotateRows(float[] w, int rows, BoftAdapter a, bool transpose) =>
        ApplyToRows(w, rows, a, BlocksOf(a).ToArray(), transpose);

    /// <summary>Rows v of <paramref name="w"/> (rows, in) become v·T (or v·Tᵀ when <paramref name="transpose"/>).</summary>
    private void ApplyToRows(float[] w, int rows, BoftAdapter a, float[] q, bool transpose)
    {
        int n = a.Permutations.Length, bb = a.BlockSize * a.BlockSize;
        var tmp = new float[InFeatures];
        // v·T = v·M_{N−1}⋯M_0;  v·Tᵀ = v·M_0ᵀ⋯M_{N−1}ᵀ;  v·M_iᵀ = ((v·P_i)·B_iᵀ)·P_iᵀ.
        for (int step = 0; step < n; step++)
        {
            int i = transpose ? step : n - 1 - step;
            var perm = a.Permutations[i];
            var inv = Inverse(perm);
            var qi = q.AsSpan(i * a.Blocks * bb, a.Blocks * bb);
            for (int r = 0; r < rows; r++)
            {
                var row = w.AsSpan(r * InFeatures, InFeatures);
                for (int j = 0; j < InFeatures; j++)
                {
                    tmp[j] = row[inv[j]];
                }
                OrthogonalBlocks.RotateRows(tmp, 1, a.Blocks, a.BlockSize, qi, transpose);
                for (int j = 0; j < InFeatures; j++)
                {
                    row[j] = tmp[perm[j]];
                }
            }
        }
    }
}
