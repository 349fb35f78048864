using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PeftSharp.Tensors.Kernels;

/// <summary>
/// Element strides of a 4-D (batch, head, token, dim) view whose last dim is contiguous. The same data
/// can be viewed as (B, H, T, D) (<see cref="Bhtd"/>) or as the projection layout (B, T, H, D)
/// (<see cref="Bthd"/>) without a transpose.
/// </summary>
public readonly record struct HeadStrides(long Batch, long Head, long Token)
{
    /// <summary>Contiguous (B, H, T, D).</summary>
    public static HeadStrides Bhtd(int heads, int tokens, int headDim) => new((long)heads * tokens * headDim, (long)tokens * headDim, headDim);

    /// <summary>Contiguous (B, T, H, D) viewed as (B, H, T, D).</summary>
    public static HeadStrides Bthd(int heads, int tokens, int headDim) => new((long)tokens * heads * headDim, headDim, (long)heads * headDim);

    /// <summary>Smallest span length that holds every element of a (b, h, t, d) view; 0 when any dim is 0.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A stride is negative.</exception>
    public long RequiredLength(int batch, int heads, int tokens, int headDim)
    {
        if (Batch < 0 || Head < 0 || Token < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Batch), $"Strides {this} must be non-negative.");
        }
        if (batch <= 0 || heads <= 0 || tokens <= 0 || headDim <= 0)
        {
            return 0;
        }
        return (batch - 1) * Batch + (heads - 1) * Head + (tokens - 1) * Token + headDim;
    }
}

/// <summary>Sizes of an attention problem: B batch, H query heads, Hkv kv heads, T queries, S keys, D head dim.</summary>
public readonly record struct AttentionShape(int Batch, int Heads, int KvHeads, int QueryLength, int KeyLength, int HeadDim)
{
    /// <summary>1/√D, the default score scale.</summary>
    public float DefaultScale => 1f / MathF.Sqrt(HeadDim);

    /// <summary>Query heads per kv head (H / Hkv).</summary>
    public int GroupSize => Heads / KvHeads;

    internal void Validate()
    {
        if (Batch < 0 || Heads < 1 || KvHeads < 1 || QueryLength < 0 || KeyLength < 0 || HeadDim < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Heads), $"Attention shape {this} is invalid: B, T, S ≥ 0 and H, Hkv, D ≥ 1 are required.");
        }
        if (Heads % KvHeads != 0)
        {
            throw new ArgumentException($"Attention shape {this}: H = {Heads} is not a multiple of Hkv = {KvHeads}.");
        }
    }
}

/// <summary>
/// Which keys each query may see. <see cref="IsCausal"/>: query i sees keys j ≤ i + (S − T) (a KV cache
/// longer than the queries). <see cref="Additive"/>: float mask added to the scaled scores, laid out as
/// (1, 1, T, S), (B, 1, T, S) or (B, H, T, S) (told apart by length). <see cref="KeyPadding"/>: (B, S),
/// true = attend, false = padding. Empty spans mean "none".
/// </summary>
public readonly ref struct AttentionMask
{
    /// <summary>Apply the causal (lower-right aligned) mask.</summary>
    public bool IsCausal { get; init; }

    /// <summary>Additive float mask, (1|B, 1|H, T, S); may hold float.MinValue or −∞ entries.</summary>
    public ReadOnlySpan<float> Additive { get; init; }

    /// <summary>Key padding mask, (B, S); true = attend.</summary>
    public ReadOnlySpan<bool> KeyPadding { get; init; }
}

/// <summary>
/// Scaled dot-product attention, flash style: each (batch, head) and block of queries streams over key
/// blocks with an online softmax, so at most one (query block × key block) score tile exists at a time.
/// Forward saves the per-row log-sum-exp; backward recomputes scores tile by tile.
/// </summary>
/// <remarks>
/// <para>Shapes: Q, O, dQ, dO are (B, H, T, D); K, V, dK, dV are (B, Hkv, S, D), each addressed through
/// <see cref="HeadStrides"/> with a contiguous D; logSumExp is (B, H, T) contiguous. Query head h reads kv
/// head h / (H/Hkv) directly (grouped-query attention without copying kv heads).</para>
/// <para>Scores z_ij = scale·q_i·k_j + additive_ij over the keys not excluded by the causal or padding
/// mask; output o_i = Σ_j softmax(z_i)_j v_j.</para>
/// <para>Fully masked rows: a row with no admissible key, or whose largest admissible score is below
/// float.MinValue/2 (what a Hugging Face float32-minimum additive mask produces), gets the output PyTorch
/// eager attention gives with that mask: every z_ij rounds to float.MinValue, so the softmax is uniform
/// over all S keys and o_i = mean_j v_j. Its log-sum-exp is stored as −∞ as a marker. The backward is the
/// exact derivative of that definition: dV_j += dO_i / S for every key, and no gradient reaches Q or K
/// (PyTorch eager would also back-propagate a softmax-Jacobian term through the rounded scores).</para>
/// <para>Parallel work units: the forward takes a range of flattened (b, h) pairs; the backward takes a
/// range of flattened (b, kv head) pairs, because dK and dV sum over the query heads sharing a kv head.
/// Single-threaded, no allocation: callers pass scratch of <see cref="ForwardScratchLength"/> /
/// <see cref="BackwardScratchLength"/> floats per concurrent call.</para>
/// </remarks>
public static partial class Attention
{
    private const int QueryBlock = 32;
    private const int KeyBlock = 64;
    private const float FullyMaskedThreshold = float.MinValue / 2;

    /// <summary>Queries below which the forward keeps the portable tiles: packing all keys would cost more than it saves.</summary>
    private const int PackedMinQueries = 8;

    /// <summary>Scratch floats one <see cref="Forward"/> call over <paramref name="keyLength"/> keys needs (room for the packed Kᵀ of one head included).</summary>
    public static int ForwardScratchLength(int headDim, int keyLength)
        => QueryBlock * KeyBlock + QueryBlock * headDim + 2 * QueryBlock + headDim * PaddedKeys(Math.Max(0, keyLength));

    /// <summary>Scratch floats one <see cref="Backward"/> call needs (room for a packed Kᵀ and Vᵀ block included).</summary>
    public static int BackwardScratchLength(int headDim) => 2 * QueryBlock * KeyBlock + 2 * KeyBlock * headDim + QueryBlock + headDim + 2 * headDim * KeyBlock;

    /// <summary>
    /// Computes O and the per-row log-sum-exp for the (b, h) pairs [firstBatchHead, firstBatchHead + count)
    /// of the flattened B·H range (all of them by default). <paramref name="scale"/> defaults to 1/√D.
    /// </summary>
    /// <exception cref="ArgumentException">A buffer is too short for its shape and strides, a mask has an unsupported length, or scratch is too small.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The shape or the (b, h) range is invalid.</exception>
    public static unsafe void Forward(
        AttentionShape shape,
        ReadOnlySpan<float> q, HeadStrides qStrides,   // (B, H, T, D)
        ReadOnlySpan<float> k, HeadStrides kStrides,   // (B, Hkv, S, D)
        ReadOnlySpan<float> v, HeadStrides vStrides,   // (B, Hkv, S, D)
        Span<float> output, HeadStrides outputStrides, // (B, H, T, D)
        Span<float> logSumExp,                         // (B, H, T)
        scoped AttentionMask mask,
        Span<float> scratch,
        float? scale = null,
        int firstBatchHead = 0, int batchHeadCount = -1)
        => ForwardTiles(shape, q, qStrides, k, kStrides, v, vStrides, output, outputStrides, logSumExp, mask, scratch, scale, firstBatchHead, batchHeadCount, packedTiles: true);

    /// <summary>The forward with the packed AVX-512 tiles allowed or not (tests run both paths).</summary>
    internal static unsafe void ForwardTiles(
        AttentionShape shape,
        ReadOnlySpan<float> q, HeadStrides qStrides,
        ReadOnlySpan<float> k, HeadStrides kStrides,
        ReadOnlySpan<float> v, HeadStrides vStrides,
        Span<float> output, HeadStrides outputStrides,
        Span<float> logSumExp,
        scoped AttentionMask mask,
        Span<float> scratch,
        float? scale,
        int firstBatchHead, int batchHeadCount,
        bool packedTiles)
    {
        shape.Validate();
        int B = shape.Batch, H = shape.Heads, Hkv = shape.KvHeads, T = shape.QueryLength, S = shape.KeyLength, D = shape.HeadDim;
        CheckView(q.Length, qStrides, B, H, T, D, "q", "(B, H, T, D)");
        CheckView(k.Length, kStrides, B, Hkv, S, D, "k", "(B, Hkv, S, D)");
        CheckView(v.Length, vStrides, B, Hkv, S, D, "v", "(B, Hkv, S, D)");
        CheckView(output.Length, outputStrides, B, H, T, D, "output", "(B, H, T, D)");
        CheckExact(logSumExp.Length, (long)B * H * T, nameof(logSumExp), "(B, H, T)", shape);
        MaskLayout ml = MaskLayout.Create(mask, shape);
        CheckScratch(scratch.Length, ForwardScratchLength(D, S));
        (int first, int count) = CheckRange(firstBatchHead, batchHeadCount, B * H, "(b, h)");
        float sc = scale ?? shape.DefaultScale;
        int group = H / Hkv;
        int offset = S - T;

        fixed (float* pq = q)
        fixed (float* pk = k)
        fixed (float* pv = v)
        fixed (float* po = output)
        fixed (float* plse = logSumExp)
        fixed (float* pAdd = mask.Additive)
        fixed (bool* pPad = mask.KeyPadding)
        fixed (float* pScratch = scratch)
        {
            float* tile = pScratch;                         // (QueryBlock, KeyBlock) scores → probabilities
            float* acc = tile + QueryBlock * KeyBlock;      // (QueryBlock, D) unnormalised output
            float* rowMax = acc + QueryBlock * D;           // (QueryBlock)
            float* rowSum = rowMax + QueryBlock;            // (QueryBlock)
            float* kt = rowSum + QueryBlock;                // (D, ldk) packed Kᵀ of the current head
            int ldk = PaddedKeys(S);
            bool packed = packedTiles && CanUsePackedTiles(D) && T >= PackedMinQueries;
            for (int bh = first; bh < first + count; bh++)
            {
                int b = bh / H, h = bh % H, kvh = h / group;
                float* qh = pq + b * qStrides.Batch + h * qStrides.Head;
                float* kh = pk + b * kStrides.Batch + kvh * kStrides.Head;
                float* vh = pv + b * vStrides.Batch + kvh * vStrides.Head;
                float* oh = po + b * outputStrides.Batch + h * outputStrides.Head;
                float* lseh = plse + (long)bh * T;
                float* addh = pAdd == null ? null : pAdd + b * ml.BatchStride + h * ml.HeadStride;
                bool* padb = pPad == null ? null : pPad + (long)b * S;
                if (packed)
                {
                    PackTransposed(kh, kStrides.Token, S, D, kt, ldk, ldk);
                }
                for (int i0 = 0; i0 < T; i0 += QueryBlock)
                {
                    int nq = Math.Min(QueryBlock, T - i0);
                    for (int r = 0; r < nq; r++)
                    {
                        rowMax[r] = float.NegativeInfinity;
                        rowSum[r] = 0f;
                    }
                    new Span<float>(acc, nq * D).Clear();
                    int keyEnd = mask.IsCausal ? Math.Clamp(i0 + nq + offset, 0, S) : S;
                    for (int j0 = 0; j0 < keyEnd; j0 += KeyBlock)
                    {
                        int nk = Math.Min(KeyBlock, keyEnd - j0);
                        if (packed)
                        {
                            ScoreTilePacked(qh + i0 * qStrides.Token, qStrides.Token, nq, kt + j0, ldk, D, tile, KeyBlock, sc);
                        }
                        else
                        {
                            ScoreTile(qh + i0 * qStrides.Token, qStrides.Token, kh + j0 * kStrides.Token, kStrides.Token, nq, nk, D, tile, KeyBlock, sc);
                        }
                        for (int r = 0; r < nq; r++)
                        {
                            float* z = tile + r * KeyBlock;
                            ApplyMask(z, i0 + r, j0, nk, mask.IsCausal, offset, addh == null ? null : addh + (long)(i0 + r) * S, padb);
                            float m = MaxRow(z, nk);
                            if (m == float.NegativeInfinity)
                            {
                                new Span<float>(z, nk).Clear(); // nothing admissible in this tile
                                continue;
                            }
                            float mNew = MathF.Max(rowMax[r], m);
                            float alpha = FastMath.Exp(rowMax[r] - mNew); // exp(−∞) = 0 on the first tile
                            rowSum[r] = rowSum[r] * alpha + FastMath.ExpShiftStoreSum(new ReadOnlySpan<float>(z, nk), mNew, new Span<float>(z, nk));
                            if (alpha != 1f)
                            {
                                ScaleRow(acc + r * D, D, alpha);
                            }
                            rowMax[r] = mNew;
                        }
                        if (packed)
                        {
                            AccumulateTilePacked(tile, KeyBlock, 1, nq, nk, vh + j0 * vStrides.Token, vStrides.Token, D, acc, D, 1f);
                        }
                        else
                        {
                            AccumulateTile(tile, KeyBlock, 1, nq, nk, vh + j0 * vStrides.Token, vStrides.Token, D, acc, D, 1f);
                        }
                    }
                    for (int r = 0; r < nq; r++)
                    {
                        float* orow = oh + (i0 + r) * outputStrides.Token;
                        if (rowSum[r] == 0f || rowMax[r] <= FullyMaskedThreshold)
                        {
                            MeanRows(vh, vStrides.Token, S, D, orow);
                            lseh[i0 + r] = float.NegativeInfinity;
                        }
                        else
                        {
                            float inv = 1f / rowSum[r];
                            float* a = acc + r * D;
                            for (int d = 0; d < D; d++)
                            {
                                orow[d] = a[d] * inv;
                            }
                            lseh[i0 + r] = rowMax[r] + MathF.Log(rowSum[r]);
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Computes dQ, dK and dV (all overwritten) for the (b, kv head) pairs [firstBatchKvHead, firstBatchKvHead + count)
    /// of the flattened B·Hkv range, from the forward's inputs, output O, log-sum-exp and the upstream dO.
    /// dK/dV sum over the H/Hkv query heads of each kv head. No gradient flows to the additive mask.
    /// </summary>
    /// <exception cref="ArgumentException">A buffer is too short for its shape and strides, a mask has an unsupported length, or scratch is too small.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The shape or the range is invalid.</exception>
    public static unsafe void Backward(
        AttentionShape shape,
        ReadOnlySpan<float> q, HeadStrides qStrides,      // (B, H, T, D)
        ReadOnlySpan<float> k, HeadStrides kStrides,      // (B, Hkv, S, D)
        ReadOnlySpan<float> v, HeadStrides vStrides,      // (B, Hkv, S, D)
        ReadOnlySpan<float> output, HeadStrides oStrides, // (B, H, T, D) forward output
        ReadOnlySpan<float> logSumExp,                    // (B, H, T) from Forward
        ReadOnlySpan<float> dOutput, HeadStrides dOStrides, // (B, H, T, D)
        Span<float> dQ, HeadStrides dQStrides,            // (B, H, T, D)
        Span<float> dK, HeadStrides dKStrides,            // (B, Hkv, S, D)
        Span<float> dV, HeadStrides dVStrides,            // (B, Hkv, S, D)
        scoped AttentionMask mask,
        Span<float> scratch,
        float? scale = null,
        int firstBatchKvHead = 0, int batchKvHeadCount = -1)
        => BackwardTiles(shape, q, qStrides, k, kStrides, v, vStrides, output, oStrides, logSumExp, dOutput, dOStrides, dQ, dQStrides, dK, dKStrides, dV, dVStrides,
            mask, scratch, scale, firstBatchKvHead, batchKvHeadCount, packedTiles: true);

    /// <summary>The backward with the packed AVX-512 tiles allowed or not (tests run both paths).</summary>
    internal static unsafe void BackwardTiles(
        AttentionShape shape,
        ReadOnlySpan<float> q, HeadStrides qStrides,
        ReadOnlySpan<float> k, HeadStrides kStrides,
        ReadOnlySpan<float> v, HeadStrides vStrides,
        ReadOnlySpan<float> output, HeadStrides oStrides,
        ReadOnlySpan<float> logSumExp,
        ReadOnlySpan<float> dOutput, HeadStrides dOStrides,
        Span<float> dQ, HeadStrides dQStrides,
        Span<float> dK, HeadStrides dKStrides,
        Span<float> dV, HeadStrides dVStrides,
        scoped AttentionMask mask,
        Span<float> scratch,
        float? scale,
        int firstBatchKvHead, int batchKvHeadCount,
        bool packedTiles)
    {
        shape.Validate();
        int B = shape.Batch, H = shape.Heads, Hkv = shape.KvHeads, T = shape.QueryLength, S = shape.KeyLength, D = shape.HeadDim;
        CheckView(q.Length, qStrides, B, H, T, D, "q", "(B, H, T, D)");
        CheckView(k.Length, kStrides, B, Hkv, S, D, "k", "(B, Hkv, S, D)");
        CheckView(v.Length, vStrides, B, Hkv, S, D, "v", "(B, Hkv, S, D)");
        CheckView(output.Length, oStrides, B, H, T, D, "output", "(B, H, T, D)");
        CheckView(dOutput.Length, dOStrides, B, H, T, D, "dOutput", "(B, H, T, D)");
        CheckView(dQ.Length, dQStrides, B, H, T, D, "dQ", "(B, H, T, D)");
        CheckView(dK.Length, dKStrides, B, Hkv, S, D, "dK", "(B, Hkv, S, D)");
        CheckView(dV.Length, dVStrides, B, Hkv, S, D, "dV", "(B, Hkv, S, D)");
        CheckExact(logSumExp.Length, (long)B * H * T, nameof(logSumExp), "(B, H, T)", shape);
        MaskLayout ml = MaskLayout.Create(mask, shape);
        CheckScratch(scratch.Length, BackwardScratchLength(D));
        (int first, int count) = CheckRange(firstBatchKvHead, batchKvHeadCount, B * Hkv, "(b, kv head)");
        float sc = scale ?? shape.DefaultScale;
        int group = H / Hkv;
        int offset = S - T;

        fixed (float* pq = q)
        fixed (float* pk = k)
        fixed (float* pv = v)
        fixed (float* po = output)
        fixed (float* plse = logSumExp)
        fixed (float* pdo = dOutput)
        fixed (float* pdq = dQ)
        fixed (float* pdk = dK)
        fixed (float* pdv = dV)
        fixed (float* pAdd = mask.Additive)
        fixed (bool* pPad = mask.KeyPadding)
        fixed (float* pScratch = scratch)
        {
            float* prob = pScratch;                       // (QueryBlock, KeyBlock) P
            float* dprob = prob + QueryBlock * KeyBlock;  // (QueryBlock, KeyBlock) dP → dS
            float* dkAcc = dprob + QueryBlock * KeyBlock; // (KeyBlock, D)
            float* dvAcc = dkAcc + KeyBlock * D;          // (KeyBlock, D)
            float* delta = dvAcc + KeyBlock * D;          // (QueryBlock) rowsum(dO ⊙ O)
            float* uniform = delta + QueryBlock;          // (D) Σ dO over fully masked rows / S
            float* kt = uniform + D;                      // (D, KeyBlock) packed Kᵀ of the key block
            float* vt = kt + D * KeyBlock;                // (D, KeyBlock) packed Vᵀ of the key block
            bool packed = packedTiles && CanUsePackedTiles(D);
            for (int bg = first; bg < first + count; bg++)
            {
                int b = bg / Hkv, kvh = bg % Hkv;
                float* kh = pk + b * kStrides.Batch + kvh * kStrides.Head;
                float* vh = pv + b * vStrides.Batch + kvh * vStrides.Head;
                float* dkh = pdk + b * dKStrides.Batch + kvh * dKStrides.Head;
                float* dvh = pdv + b * dVStrides.Batch + kvh * dVStrides.Head;
                bool* padb = pPad == null ? null : pPad + (long)b * S;

                // dQ rows of this group's heads are owned here: clear, then accumulate tile by tile.
                // Fully masked rows contribute dO_i / S to every dV_j: gather that sum once.
                new Span<float>(uniform, D).Clear();
                for (int h = kvh * group; h < (kvh + 1) * group; h++)
                {
                    for (int i = 0; i < T; i++)
                    {
                        new Span<float>(pdq + b * dQStrides.Batch + h * dQStrides.Head + i * dQStrides.Token, D).Clear();
                        if (plse[((long)b * H + h) * T + i] == float.NegativeInfinity && S > 0)
                        {
                            float* dor = pdo + b * dOStrides.Batch + h * dOStrides.Head + i * dOStrides.Token;
                            for (int d = 0; d < D; d++)
                            {
                                uniform[d] += dor[d] / S;
                            }
                        }
                    }
                }

                for (int j0 = 0; j0 < S; j0 += KeyBlock)
                {
                    int nk = Math.Min(KeyBlock, S - j0);
                    new Span<float>(dkAcc, nk * D).Clear();
                    new Span<float>(dvAcc, nk * D).Clear();
                    float* kj = kh + j0 * kStrides.Token;
                    float* vj = vh + j0 * vStrides.Token;
                    if (packed)
                    {
                        PackTransposed(kj, kStrides.Token, nk, D, kt, KeyBlock, KeyBlock);
                        PackTransposed(vj, vStrides.Token, nk, D, vt, KeyBlock, KeyBlock);
                    }
                    // Causal: query i sees key j0 only if i ≥ j0 − offset, so earlier query blocks are skipped.
                    int firstQuery = mask.IsCausal ? Math.Max(0, j0 - offset) : 0;
                    for (int h = kvh * group; h < (kvh + 1) * group; h++)
                    {
                        float* qh = pq + b * qStrides.Batch + h * qStrides.Head;
                        float* oh = po + b * oStrides.Batch + h * oStrides.Head;
                        float* doh = pdo + b * dOStrides.Batch + h * dOStrides.Head;
                        float* dqh = pdq + b * dQStrides.Batch + h * dQStrides.Head;
                        float* lseh = plse + ((long)b * H + h) * T;
                        float* addh = pAdd == null ? null : pAdd + b * ml.BatchStride + h * ml.HeadStride;
                        for (int i0 = firstQuery - firstQuery % QueryBlock; i0 < T; i0 += QueryBlock)
                        {
                            int nq = Math.Min(QueryBlock, T - i0);
                            float* qi = qh + i0 * qStrides.Token;
                            float* doi = doh + i0 * dOStrides.Token;
                            if (packed)
                            {
                                ScoreTilePacked(qi, qStrides.Token, nq, kt, KeyBlock, D, prob, KeyBlock, sc);
                            }
                            else
                            {
                                ScoreTile(qi, qStrides.Token, kj, kStrides.Token, nq, nk, D, prob, KeyBlock, sc);
                            }
                            for (int r = 0; r < nq; r++)
                            {
                                float* z = prob + r * KeyBlock;
                                float lse = lseh[i0 + r];
                                if (lse == float.NegativeInfinity)
                                {
                                    new Span<float>(z, nk).Clear(); // handled through `uniform`
                                    delta[r] = 0f;
                                    continue;
                                }
                                ApplyMask(z, i0 + r, j0, nk, mask.IsCausal, offset, addh == null ? null : addh + (long)(i0 + r) * S, padb);
                                ExpShiftInPlace(z, nk, lse);
                                delta[r] = FastMath.Dot(new ReadOnlySpan<float>(doi + r * dOStrides.Token, D), new ReadOnlySpan<float>(oh + (i0 + r) * oStrides.Token, D));
                            }
                            if (packed)
                            {
                                AccumulateTilePacked(prob, 1, KeyBlock, nk, nq, doi, dOStrides.Token, D, dvAcc, D, 1f);
                                ScoreTilePacked(doi, dOStrides.Token, nq, vt, KeyBlock, D, dprob, KeyBlock, 1f);
                            }
                            else
                            {
                                // dV_j += Σ_i P_ij dO_i  (Pᵀ·dO)
                                AccumulateTile(prob, 1, KeyBlock, nk, nq, doi, dOStrides.Token, D, dvAcc, D, 1f);
                                // dP = dO·Vᵀ
                                ScoreTile(doi, dOStrides.Token, vj, vStrides.Token, nq, nk, D, dprob, KeyBlock, 1f);
                            }
                            // dS = P ⊙ (dP − delta)
                            for (int r = 0; r < nq; r++)
                            {
                                SoftmaxGradRow(prob + r * KeyBlock, dprob + r * KeyBlock, nk, delta[r]);
                            }
                            // dQ_i += scale·dS·K ; dK_j += scale·dSᵀ·Q
                            if (packed)
                            {
                                AccumulateTilePacked(dprob, KeyBlock, 1, nq, nk, kj, kStrides.Token, D, dqh + i0 * dQStrides.Token, dQStrides.Token, sc);
                                AccumulateTilePacked(dprob, 1, KeyBlock, nk, nq, qi, qStrides.Token, D, dkAcc, D, sc);
                            }
                            else
                            {
                                AccumulateTile(dprob, KeyBlock, 1, nq, nk, kj, kStrides.Token, D, dqh + i0 * dQStrides.Token, dQStrides.Token, sc);
                                AccumulateTile(dprob, 1, KeyBlock, nk, nq, qi, qStrides.Token, D, dkAcc, D, sc);
                            }
                        }
                    }
                    for (int c = 0; c < nk; c++)
                    {
                        float* dkr = dkh + (j0 + c) * dKStrides.Token;
                        float* dvr = dvh + (j0 + c) * dVStrides.Token;
                        for (int d = 0; d < D; d++)
                        {
                            dkr[d] = dkAcc[c * D + d];
                            dvr[d] = dvAcc[c * D + d] + uniform[d];
                        }
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ tile primitives (GEMM seam)

    /// <summary>
    /// c[i·ldc + j] = alpha·(a_i · b_j) for i &lt; m, j &lt; n: an (m × D)·(n × D)ᵀ product with strided rows.
    /// This and <see cref="AccumulateTile"/> are the only matrix products in the kernel, so a packed GEMM
    /// micro-kernel can replace them. Lanes: two query rows × four keys at a time, 8 dims per FMA, reduced by
    /// a fixed-order horizontal add; dims past the last multiple of 8 are added by the scalar loop.
    /// </summary>
    private static unsafe void ScoreTile(float* a, long aStride, float* bm, long bStride, int m, int n, int d, float* c, int ldc, float alpha)
    {
        int d8 = FastMath.IsVectorized ? d & ~7 : 0;
        int i = 0;
        if (FastMath.IsVectorized)
        {
            // Two query rows × four keys: 8 accumulators, 6 loads per 8 FMAs (the 1×4 loop below needs 5 per 4).
            for (; i <= m - 2; i += 2)
            {
                float* a0 = a + i * aStride, a1 = a0 + aStride;
                float* c0 = c + i * ldc, c1 = c0 + ldc;
                int j = 0;
                for (; j <= n - 4; j += 4)
                {
                    float* b0 = bm + j * bStride, b1 = b0 + bStride, b2 = b1 + bStride, b3 = b2 + bStride;
                    Vector256<float> s00 = Vector256<float>.Zero, s01 = s00, s02 = s00, s03 = s00;
                    Vector256<float> s10 = s00, s11 = s00, s12 = s00, s13 = s00;
                    for (int k = 0; k < d8; k += 8)
                    {
                        Vector256<float> x0 = Avx.LoadVector256(a0 + k), x1 = Avx.LoadVector256(a1 + k);
                        Vector256<float> y = Avx.LoadVector256(b0 + k);
                        s00 = Fma.MultiplyAdd(x0, y, s00);
                        s10 = Fma.MultiplyAdd(x1, y, s10);
                        y = Avx.LoadVector256(b1 + k);
                        s01 = Fma.MultiplyAdd(x0, y, s01);
                        s11 = Fma.MultiplyAdd(x1, y, s11);
                        y = Avx.LoadVector256(b2 + k);
                        s02 = Fma.MultiplyAdd(x0, y, s02);
                        s12 = Fma.MultiplyAdd(x1, y, s12);
                        y = Avx.LoadVector256(b3 + k);
                        s03 = Fma.MultiplyAdd(x0, y, s03);
                        s13 = Fma.MultiplyAdd(x1, y, s13);
                    }
                    StoreDots(a0, b0, bStride, d8, d, Sum4(s00, s01, s02, s03), c0 + j, alpha);
                    StoreDots(a1, b0, bStride, d8, d, Sum4(s10, s11, s12, s13), c1 + j, alpha);
                }
                for (; j < n; j++)
                {
                    float* bj = bm + j * bStride;
                    c0[j] = FastMath.Dot(new ReadOnlySpan<float>(a0, d), new ReadOnlySpan<float>(bj, d)) * alpha;
                    c1[j] = FastMath.Dot(new ReadOnlySpan<float>(a1, d), new ReadOnlySpan<float>(bj, d)) * alpha;
                }
            }
        }
        for (; i < m; i++)
        {
            float* ai = a + i * aStride;
            float* ci = c + i * ldc;
            int j = 0;
            if (FastMath.IsVectorized)
            {
                for (; j <= n - 4; j += 4)
                {
                    float* b0 = bm + j * bStride, b1 = b0 + bStride, b2 = b1 + bStride, b3 = b2 + bStride;
                    Vector256<float> s0 = Vector256<float>.Zero, s1 = s0, s2 = s0, s3 = s0;
                    for (int k = 0; k < d8; k += 8)
                    {
                        Vector256<float> av = Avx.LoadVector256(ai + k);
                        s0 = Fma.MultiplyAdd(av, Avx.LoadVector256(b0 + k), s0);
                        s1 = Fma.MultiplyAdd(av, Avx.LoadVector256(b1 + k), s1);
                        s2 = Fma.MultiplyAdd(av, Avx.LoadVector256(b2 + k), s2);
                        s3 = Fma.MultiplyAdd(av, Avx.LoadVector256(b3 + k), s3);
                    }
                    StoreDots(ai, b0, bStride, d8, d, Sum4(s0, s1, s2, s3), ci + j, alpha);
                }
            }
            for (; j < n; j++)
            {
                ci[j] = FastMath.Dot(new ReadOnlySpan<float>(ai, d), new ReadOnlySpan<float>(bm + j * bStride, d)) * alpha;
            }
        }
    }

    /// <summary>The four horizontal sums of s0..s3: hadd pairs lanes within 128-bit halves, then the halves are added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Sum4(Vector256<float> s0, Vector256<float> s1, Vector256<float> s2, Vector256<float> s3)
    {
        Vector256<float> h = Avx.HorizontalAdd(Avx.HorizontalAdd(s0, s1), Avx.HorizontalAdd(s2, s3));
        return Sse.Add(h.GetLower(), h.GetUpper());
    }

    /// <summary>Adds the dims past the last multiple of 8 (scalar) to four vector dot products and stores them scaled.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreDots(float* a, float* b0, long bStride, int d8, int d, Vector128<float> sums, float* c, float alpha)
    {
        float* b1 = b0 + bStride, b2 = b1 + bStride, b3 = b2 + bStride;
        float r0 = sums.GetElement(0), r1 = sums.GetElement(1), r2 = sums.GetElement(2), r3 = sums.GetElement(3);
        for (int k = d8; k < d; k++)
        {
            float x = a[k];
            r0 = MathF.FusedMultiplyAdd(x, b0[k], r0);
            r1 = MathF.FusedMultiplyAdd(x, b1[k], r1);
            r2 = MathF.FusedMultiplyAdd(x, b2[k], r2);
            r3 = MathF.FusedMultiplyAdd(x, b3[k], r3);
        }
        c[0] = r0 * alpha;
        c[1] = r1 * alpha;
        c[2] = r2 * alpha;
        c[3] = r3 * alpha;
    }

    /// <summary>
    /// c_i += alpha·Σ_j p[i·pRow + j·pCol]·b_j for i &lt; m, j &lt; n over D-length rows: P·B, or Pᵀ·B when
    /// the strides are swapped. Lanes: 32 dims (four vectors) of c_i stay in registers while j streams;
    /// then 8 at a time; the last D mod 8 dims use the scalar loop.
    /// </summary>
    private static unsafe void AccumulateTile(float* p, long pRow, long pCol, int m, int n, float* bm, long bStride, int d, float* c, long cStride, float alpha)
    {
        for (int i = 0; i < m; i++)
        {
            float* pi = p + i * pRow;
            float* ci = c + i * cStride;
            int k = 0;
            if (FastMath.IsVectorized)
            {
                for (; k <= d - 32; k += 32)
                {
                    Vector256<float> c0 = Vector256<float>.Zero, c1 = c0, c2 = c0, c3 = c0;
                    for (int j = 0; j < n; j++)
                    {
                        Vector256<float> w = Vector256.Create(pi[j * pCol]);
                        float* bj = bm + j * bStride + k;
                        c0 = Fma.MultiplyAdd(w, Avx.LoadVector256(bj), c0);
                        c1 = Fma.MultiplyAdd(w, Avx.LoadVector256(bj + 8), c1);
                        c2 = Fma.MultiplyAdd(w, Avx.LoadVector256(bj + 16), c2);
                        c3 = Fma.MultiplyAdd(w, Avx.LoadVector256(bj + 24), c3);
                    }
                    Vector256<float> va = Vector256.Create(alpha);
                    Avx.Store(ci + k, Fma.MultiplyAdd(c0, va, Avx.LoadVector256(ci + k)));
                    Avx.Store(ci + k + 8, Fma.MultiplyAdd(c1, va, Avx.LoadVector256(ci + k + 8)));
                    Avx.Store(ci + k + 16, Fma.MultiplyAdd(c2, va, Avx.LoadVector256(ci + k + 16)));
                    Avx.Store(ci + k + 24, Fma.MultiplyAdd(c3, va, Avx.LoadVector256(ci + k + 24)));
                }
                for (; k <= d - 8; k += 8)
                {
                    Vector256<float> c0 = Vector256<float>.Zero;
                    for (int j = 0; j < n; j++)
                    {
                        c0 = Fma.MultiplyAdd(Vector256.Create(pi[j * pCol]), Avx.LoadVector256(bm + j * bStride + k), c0);
                    }
                    Avx.Store(ci + k, Fma.MultiplyAdd(c0, Vector256.Create(alpha), Avx.LoadVector256(ci + k)));
                }
            }
            for (; k < d; k++)
            {
                float s = 0f;
                for (int j = 0; j < n; j++)
                {
                    s = MathF.FusedMultiplyAdd(pi[j * pCol], bm[j * bStride + k], s);
                }
                ci[k] = MathF.FusedMultiplyAdd(s, alpha, ci[k]);
            }
        }
    }

    // ------------------------------------------------------------------ row helpers

    /// <summary>Adds the additive mask and sets excluded keys (causal, padding) to −∞ for query i, keys [j0, j0 + n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void ApplyMask(float* z, int i, int j0, int n, bool causal, int offset, float* addRow, bool* pad)
    {
        if (addRow != null)
        {
            for (int c = 0; c < n; c++)
            {
                z[c] += addRow[j0 + c];
            }
        }
        if (pad != null)
        {
            for (int c = 0; c < n; c++)
            {
                if (!pad[j0 + c])
                {
                    z[c] = float.NegativeInfinity;
                }
            }
        }
        if (causal)
        {
            for (int c = Math.Max(0, i + offset + 1 - j0); c < n; c++)
            {
                z[c] = float.NegativeInfinity;
            }
        }
    }

    private static unsafe float MaxRow(float* z, int n) => FastMath.Max(new ReadOnlySpan<float>(z, n));

    private static unsafe void ExpShiftInPlace(float* z, int n, float shift)
        => FastMath.ExpShiftStoreSum(new ReadOnlySpan<float>(z, n), shift, new Span<float>(z, n));

    /// <summary>ds = p·(dp − delta), in place over dp.</summary>
    private static unsafe void SoftmaxGradRow(float* p, float* dp, int n, float delta)
    {
        int c = 0;
        if (FastMath.IsVectorized)
        {
            Vector256<float> dv = Vector256.Create(delta);
            for (; c <= n - 8; c += 8)
            {
                Avx.Store(dp + c, Avx.Multiply(Avx.LoadVector256(p + c), Avx.Subtract(Avx.LoadVector256(dp + c), dv)));
            }
        }
        for (; c < n; c++)
        {
            dp[c] = p[c] * (dp[c] - delta);
        }
    }

    private static unsafe void ScaleRow(float* a, int n, float s) => TensorPrimitives.Multiply(new ReadOnlySpan<float>(a, n), s, new Span<float>(a, n));

    /// <summary>o = mean over the S rows of v (zeros when S = 0): the fully masked row's output.</summary>
    private static unsafe void MeanRows(float* v, long stride, int s, int d, float* o)
    {
        new Span<float>(o, d).Clear();
        for (int j = 0; j < s; j++)
        {
            for (int k = 0; k < d; k++)
            {
                o[k] += v[j * stride + k];
            }
        }
        if (s > 0)
        {
            float inv = 1f / s;
            for (int k = 0; k < d; k++)
            {
                o[k] *= inv;
            }
        }
    }

    // ------------------------------------------------------------------ validation

    private readonly record struct MaskLayout(long BatchStride, long HeadStride)
    {
        public static MaskLayout Create(scoped AttentionMask mask, AttentionShape s)
        {
            long ts = (long)s.QueryLength * s.KeyLength;
            if (!mask.KeyPadding.IsEmpty && mask.KeyPadding.Length != (long)s.Batch * s.KeyLength)
            {
                throw new ArgumentException($"Key padding mask has {mask.KeyPadding.Length} elements; expected (B={s.Batch}, S={s.KeyLength}) = {(long)s.Batch * s.KeyLength}.", nameof(mask));
            }
            if (mask.Additive.IsEmpty)
            {
                return default;
            }
            int len = mask.Additive.Length;
            if (len == ts)
            {
                return new MaskLayout(0, 0);
            }
            if (len == s.Batch * ts)
            {
                return new MaskLayout(ts, 0);
            }
            if (len == (long)s.Batch * s.Heads * ts)
            {
                return new MaskLayout(s.Heads * ts, ts);
            }
            throw new ArgumentException($"Additive mask has {len} elements; expected (1, 1, T, S) = {ts}, (B, 1, T, S) = {s.Batch * ts} or (B, H, T, S) = {(long)s.Batch * s.Heads * ts} for T={s.QueryLength}, S={s.KeyLength}, B={s.Batch}, H={s.Heads}.", nameof(mask));
        }
    }

    private static void CheckView(int length, HeadStrides strides, int b, int h, int t, int d, string name, string legend)
    {
        long need = strides.RequiredLength(b, h, t, d);
        if (length < need)
        {
            throw new ArgumentException($"{name} has {length} elements but {legend} = ({b}, {h}, {t}, {d}) with strides {strides} needs {need}.", name);
        }
    }

    private static void CheckExact(int length, long expected, string name, string legend, AttentionShape shape)
    {
        if (length != expected)
        {
            throw new ArgumentException($"{name} has {length} elements but {legend} for {shape} needs {expected}.", name);
        }
    }

    private static void CheckScratch(int length, int needed)
    {
        if (length < needed)
        {
            throw new ArgumentException($"Scratch has {length} floats; this call needs {needed}.", "scratch");
        }
    }

    private static (int First, int Count) CheckRange(int first, int count, int total, string unit)
    {
        if (count < 0)
        {
            count = total - first;
        }
        if (first < 0 || count < 0 || (long)first + count > total)
        {
            throw new ArgumentOutOfRangeException(nameof(first), $"Range [{first}, {(long)first + count}) of {unit} pairs is outside [0, {total}).");
        }
        return (first, count);
    }
}
