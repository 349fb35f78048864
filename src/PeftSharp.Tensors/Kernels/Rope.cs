using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PeftSharp.Tensors.Kernels;

/// <summary>
/// Precomputed rotary-embedding table: cos and sin of position·inv_freq[i] for positions [0, MaxPositions)
/// and i ∈ [0, HalfDim). Hugging Face duplicates the half (emb = cat(freqs, freqs)); storing one half is
/// the same table without the copy.
/// </summary>
public sealed class RopeTable
{
    private readonly float[] _cos; // (MaxPositions, HalfDim)
    private readonly float[] _sin; // (MaxPositions, HalfDim)

    /// <summary>Half the rotated width: the head-dim prefix [0, 2·HalfDim) is rotated, the rest passes through.</summary>
    public int HalfDim { get; }

    /// <summary>Positions the table covers: ids must lie in [0, MaxPositions).</summary>
    public int MaxPositions { get; }

    /// <summary>cos table, (MaxPositions, HalfDim) row-major.</summary>
    public ReadOnlySpan<float> Cos => _cos;

    /// <summary>sin table, (MaxPositions, HalfDim) row-major.</summary>
    public ReadOnlySpan<float> Sin => _sin;

    private RopeTable(float[] cos, float[] sin, int halfDim, int maxPositions)
    {
        _cos = cos;
        _sin = sin;
        HalfDim = halfDim;
        MaxPositions = maxPositions;
    }

    /// <summary>
    /// Builds the table from inverse frequencies the way Hugging Face does in float32:
    /// freq = (float)(inv_freq[i] · (float)position), cos/sin of it (rounded from float64) times
    /// <paramref name="attentionScaling"/> (1 for default and llama3 scaling).
    /// </summary>
    /// <exception cref="ArgumentException">No inverse frequencies, or one is not finite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">maxPositions &lt; 1, or the table would exceed 2^31 entries.</exception>
    public static RopeTable Create(ReadOnlySpan<float> inverseFrequencies, int maxPositions, float attentionScaling = 1f)
    {
        int half = inverseFrequencies.Length;
        if (half == 0)
        {
            throw new ArgumentException("At least one inverse frequency is required.", nameof(inverseFrequencies));
        }
        if (maxPositions < 1 || (long)maxPositions * half > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(maxPositions), maxPositions, $"maxPositions must be ≥ 1 and maxPositions·{half} must fit in an array.");
        }
        foreach (float f in inverseFrequencies)
        {
            if (!float.IsFinite(f))
            {
                throw new ArgumentException($"Inverse frequency {f} is not finite.", nameof(inverseFrequencies));
            }
        }
        var cos = new float[maxPositions * half];
        var sin = new float[maxPositions * half];
        for (int p = 0; p < maxPositions; p++)
        {
            for (int i = 0; i < half; i++)
            {
                float freq = inverseFrequencies[i] * (float)p;
                cos[p * half + i] = (float)Math.Cos(freq) * attentionScaling;
                sin[p * half + i] = (float)Math.Sin(freq) * attentionScaling;
            }
        }
        return new RopeTable(cos, sin, half, maxPositions);
    }
}

/// <summary>
/// Rotary position embedding in the Hugging Face rotate_half convention, forward and backward.
/// </summary>
/// <remarks>
/// Shapes: B batch, T tokens, H heads, D head dim; x and y are (B, H, T, D) indexed through
/// <see cref="HeadStrides"/>, so the (B, T, H, D) projection output is rotated in place without a transpose.
/// positionIds is (B, T) or (T) shared by every batch row. With h = HalfDim and i &lt; h:
/// y[i] = x[i]·cos − x[i+h]·sin, y[i+h] = x[i+h]·cos + x[i]·sin (x·cos + rotate_half(x)·sin with
/// rotate_half(x) = [−x2, x1]); elements at [2h, D) pass through (partial rotary). The backward is the
/// rotation by −θ (sin negated). y may alias x. The unit of parallel work is a range of (b, t) tokens.
/// Lanes: 8 rotation pairs per AVX2 step; the scalar twin handles the tail with the same fused operations.
/// </remarks>
public static class Rope
{
    /// <summary>inv_freq[i] = 1 / θ^(2i/dim) for i &lt; dim/2, computed in float32 as Hugging Face does.</summary>
    /// <exception cref="ArgumentOutOfRangeException">dim is not a positive even number or θ ≤ 1 / not finite.</exception>
    public static float[] DefaultInverseFrequencies(int dim, double theta)
    {
        if (dim < 2 || dim % 2 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(dim), dim, "Rotary dim must be a positive even number.");
        }
        if (!(theta > 1) || double.IsInfinity(theta))
        {
            throw new ArgumentOutOfRangeException(nameof(theta), theta, "rope_theta must be a finite number > 1.");
        }
        var inv = new float[dim / 2];
        for (int i = 0; i < inv.Length; i++)
        {
            float exponent = (float)(2 * i) / dim;
            inv[i] = 1f / (float)Math.Pow(theta, exponent);
        }
        return inv;
    }

    /// <summary>
    /// Llama 3 <c>rope_scaling</c> ("rope_type": "llama3") applied to default inverse frequencies, as
    /// transformers' <c>_compute_llama3_parameters</c>: wavelengths shorter than original/high_freq_factor
    /// are kept, longer than original/low_freq_factor are divided by factor, and those between are blended
    /// with smooth = (original/wavelen − low)/(high − low): (1 − smooth)·f/factor + smooth·f.
    /// The attention scaling for this type is 1.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A factor is not positive or high ≤ low.</exception>
    public static float[] Llama3InverseFrequencies(int dim, double theta, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions)
    {
        if (!(factor > 0) || !(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor) || originalMaxPositions < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(factor), $"llama3 rope_scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings ≥ 1 (got {factor}, {lowFreqFactor}, {highFreqFactor}, {originalMaxPositions}).");
        }
        float[] inv = DefaultInverseFrequencies(dim, theta);
        float lowFreqWavelen = (float)(originalMaxPositions / lowFreqFactor);
        float highFreqWavelen = (float)(originalMaxPositions / highFreqFactor);
        for (int i = 0; i < inv.Length; i++)
        {
            float f = inv[i];
            float wavelen = (float)(2 * Math.PI) / f;
            float scaled = wavelen > lowFreqWavelen ? f / (float)factor : f;
            bool medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
            if (medium)
            {
                float smooth = (float)((originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor));
                scaled = (1f - smooth) * scaled / (float)factor + smooth * scaled;
            }
            inv[i] = scaled;
        }
        return inv;
    }

    /// <summary>Rotates x by +θ into y for tokens [firstToken, firstToken + tokenCount) of the flattened (B·T) range.</summary>
    /// <exception cref="ArgumentException">A buffer is too short for its strides, positionIds is neither (B, T) nor (T), or the table is wider than D.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A position id is outside the table, or the token range is invalid.</exception>
    public static void Forward(
        ReadOnlySpan<float> x, Span<float> y, HeadStrides strides, // (B, H, T, D) via strides
        ReadOnlySpan<int> positionIds,                              // (B, T) or (T)
        RopeTable table, int batch, int heads, int tokens, int headDim,
        int firstToken = 0, int tokenCount = -1)
        => Apply(x, y, strides, positionIds, table, batch, heads, tokens, headDim, firstToken, tokenCount, inverse: false);

    /// <summary>dx = rotation of dy by −θ (the transpose of the forward rotation); same shapes and ranges as <see cref="Forward"/>.</summary>
    public static void Backward(
        ReadOnlySpan<float> dy, Span<float> dx, HeadStrides strides,
        ReadOnlySpan<int> positionIds,
        RopeTable table, int batch, int heads, int tokens, int headDim,
        int firstToken = 0, int tokenCount = -1)
        => Apply(dy, dx, strides, positionIds, table, batch, heads, tokens, headDim, firstToken, tokenCount, inverse: true);

    private static unsafe void Apply(ReadOnlySpan<float> x, Span<float> y, HeadStrides st, ReadOnlySpan<int> positionIds,
        RopeTable table, int batch, int heads, int tokens, int headDim, int firstToken, int tokenCount, bool inverse)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (batch < 0 || heads < 0 || tokens < 0 || headDim < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(batch), $"Shape (B={batch}, H={heads}, T={tokens}, D={headDim}) has a negative dimension.");
        }
        int half = table.HalfDim;
        if (2 * half > headDim)
        {
            throw new ArgumentException($"The rotary table rotates {2 * half} dims but the head dim D is {headDim}.", nameof(table));
        }
        long needed = st.RequiredLength(batch, heads, tokens, headDim);
        if (x.Length < needed)
        {
            throw new ArgumentException($"Input has {x.Length} elements but shape (B={batch}, H={heads}, T={tokens}, D={headDim}) with strides {st} needs {needed}.", nameof(x));
        }
        if (y.Length < needed)
        {
            throw new ArgumentException($"Output has {y.Length} elements but shape (B={batch}, H={heads}, T={tokens}, D={headDim}) with strides {st} needs {needed}.", nameof(y));
        }
        bool shared = positionIds.Length == tokens;
        if (!shared && positionIds.Length != (long)batch * tokens)
        {
            throw new ArgumentException($"positionIds has {positionIds.Length} elements; expected (B={batch}, T={tokens}) = {(long)batch * tokens} or (T) = {tokens}.", nameof(positionIds));
        }
        int total = batch * tokens;
        if (tokenCount < 0)
        {
            tokenCount = total - firstToken;
        }
        if (firstToken < 0 || tokenCount < 0 || (long)firstToken + tokenCount > total)
        {
            throw new ArgumentOutOfRangeException(nameof(firstToken), $"Token range [{firstToken}, {firstToken + tokenCount}) is outside [0, B·T = {total}).");
        }
        ReadOnlySpan<float> cosTable = table.Cos, sinTable = table.Sin;
        fixed (float* px = x)
        fixed (float* py = y)
        fixed (float* pc = cosTable)
        fixed (float* ps = sinTable)
        {
            for (int bt = firstToken; bt < firstToken + tokenCount; bt++)
            {
                int b = bt / tokens, t = bt % tokens;
                int pos = positionIds[shared ? t : bt];
                if ((uint)pos >= (uint)table.MaxPositions)
                {
                    throw new ArgumentOutOfRangeException(nameof(positionIds), pos, $"Position id {pos} at (b={b}, t={t}) is outside the table [0, {table.MaxPositions}).");
                }
                float* c = pc + (long)pos * half;
                float* s = ps + (long)pos * half;
                for (int h = 0; h < heads; h++)
                {
                    long o = b * st.Batch + h * st.Head + t * st.Token;
                    RotateRow(px + o, py + o, c, s, half, inverse);
                    if (px != py && headDim > 2 * half)
                    {
                        new ReadOnlySpan<float>(px + o + 2 * half, headDim - 2 * half).CopyTo(new Span<float>(py + o + 2 * half, headDim - 2 * half));
                    }
                }
            }
        }
    }

    /// <summary>
    /// One head row: y1 = x1·c ∓ x2·s, y2 = x2·c ± x1·s (upper signs forward). Both halves are loaded
    /// before either is stored, so y may alias x.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void RotateRow(float* x, float* y, float* c, float* s, int half, bool inverse)
    {
        int i = 0;
        if (FastMath.IsVectorized)
        {
            Vector256<float> flip = inverse ? Vector256.Create(-0f) : Vector256<float>.Zero;
            for (; i <= half - 8; i += 8)
            {
                Vector256<float> x1 = Avx.LoadVector256(x + i);
                Vector256<float> x2 = Avx.LoadVector256(x + half + i);
                Vector256<float> cv = Avx.LoadVector256(c + i);
                Vector256<float> sv = Avx.Xor(Avx.LoadVector256(s + i), flip);
                Avx.Store(y + i, Fma.MultiplySubtract(x1, cv, Avx.Multiply(x2, sv)));
                Avx.Store(y + half + i, Fma.MultiplyAdd(x2, cv, Avx.Multiply(x1, sv)));
            }
        }
        for (; i < half; i++)
        {
            float x1 = x[i], x2 = x[half + i], cv = c[i], sv = inverse ? -s[i] : s[i];
            y[i] = MathF.FusedMultiplyAdd(x1, cv, -(x2 * sv));
            y[half + i] = MathF.FusedMultiplyAdd(x2, cv, x1 * sv);
        }
    }
}
