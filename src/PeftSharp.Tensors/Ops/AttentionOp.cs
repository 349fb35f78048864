using PeftSharp.Tensors.Autograd;
using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Tensors;

// Fused flash-style attention over strided views. Shapes: B batch, H query heads, Hkv kv heads, T queries,
// S keys, D head dim. Work is spread over (batch, head) pairs on the CPU pool.
public sealed partial class Tensor
{
    /// <summary>
    /// Scaled dot-product attention on the fused kernel. <paramref name="q"/> (B, H, T, D), <paramref name="k"/> and
    /// <paramref name="v"/> (B, Hkv, S, D), read in place through their strides (the last dim must be contiguous, as
    /// for a transposed (B, T, H, D) projection). <paramref name="causal"/> masks keys j &gt; i + (S − T);
    /// <paramref name="keyPadding"/> (int32 (B, S), 0 = padding) masks padded keys; <paramref name="mask"/> is an
    /// optional additive (1|B, 1|H, T, S) mask. A query row that can see no key gets the mean of v, as Hugging
    /// Face's eager attention does with its float32-minimum masks. Returns (B, H, T, D) laid out as (B, T, H, D),
    /// so transposing back to (B, T, H·D) is free.
    /// </summary>
    public static Tensor Attention(Tensor q, Tensor k, Tensor v, bool causal = false, Tensor? keyPadding = null, Tensor? mask = null, float? scale = null)
    {
        if (q.Rank != 4 || k.Rank != 4 || v.Rank != 4)
        {
            throw new ArgumentException($"Attention expects rank-4 q/k/v; got {Shapes.Format(q.Shape)}, {Shapes.Format(k.Shape)}, {Shapes.Format(v.Shape)}.");
        }
        int b = q.Dim(0), h = q.Dim(1), t = q.Dim(2), d = q.Dim(3), hkv = k.Dim(1), s = k.Dim(2);
        if (k.Dim(0) != b || v.Dim(0) != b || v.Dim(1) != hkv || v.Dim(2) != s || k.Dim(3) != d || v.Dim(3) != d || hkv == 0 || h % hkv != 0)
        {
            throw new ArgumentException($"Attention shapes q {Shapes.Format(q.Shape)}, k {Shapes.Format(k.Shape)}, v {Shapes.Format(v.Shape)} are inconsistent (need equal batch and head dim, k/v alike, H divisible by Hkv).");
        }
        var qv = HeadView(q);
        var kv = HeadView(k);
        var vv = HeadView(v);
        bool[]? padding = null;
        if (keyPadding is not null)
        {
            if (keyPadding.Numel != b * s)
            {
                throw new ArgumentException($"Key padding mask {Shapes.Format(keyPadding.Shape)} must be (B, S) = [{b}, {s}].");
            }
            padding = keyPadding.ToIntArray().Select(x => x != 0).ToArray();
        }
        float[]? additive = null;
        if (mask is not null)
        {
            additive = mask.Contiguous().ToArray();
            long n = additive.Length;
            if (n != (long)t * s && n != (long)b * t * s && n != (long)b * h * t * s)
            {
                throw new ArgumentException($"Additive attention mask {Shapes.Format(mask.Shape)} must be (1|B, 1|H, T, S) with T = {t}, S = {s}.");
            }
        }
        var shape = new AttentionShape(b, h, hkv, t, s, d);
        var outStrides = HeadStrides.Bthd(h, t, d);
        var output = new Tensor(TensorScope.AllocateFloats(b * h * t * d, zero: false), [b, h, t, d], [t * h * d, d, h * d, 1], 0);
        var lse = Empty([b, h, t]);
        var job = new AttentionJob
        {
            Shape = shape, Q = qv, K = kv, V = vv,
            Out = output.Storage.Floats!, OutStrides = outStrides, Lse = lse.Storage.Floats!,
            Causal = causal, Padding = padding, Additive = additive, Scale = scale,
        };
        CpuPool.For(b * h, in job);
        var node = Tape.Record(output, "attention", Gradients.Attention, q, k, v);
        if (node is not null)
        {
            node.Saved = [lse];
            node.State = job;
        }
        return output;
    }

    /// <summary>A view the attention kernel reads in place: 4-D, last dim contiguous, non-negative strides.</summary>
    private static HeadOperand HeadView(Tensor t)
    {
        t.ThrowUnlessFloat("Attention");
        var x = t.Strides[3] == 1 && t.Strides[0] >= 0 && t.Strides[1] >= 0 && t.Strides[2] >= 0 ? t : t.Contiguous();
        return new HeadOperand(x.Storage.Floats!, x.Offset, new HeadStrides(x.Strides[0], x.Strides[1], x.Strides[2]), x);
    }
}

internal readonly record struct HeadOperand(float[] Data, int Offset, HeadStrides Strides, Tensor Tensor)
{
    public ReadOnlySpan<float> Span => Data.AsSpan(Offset);
}

/// <summary>Forward work item per (b, h) pair; also carries what the backward needs.</summary>
internal struct AttentionJob : IParallelAction
{
    [ThreadStatic] private static float[]? t_scratch;

    public AttentionShape Shape;
    public HeadOperand Q, K, V;
    public float[] Out;
    public HeadStrides OutStrides;
    public float[] Lse;
    public bool Causal;
    public bool[]? Padding;
    public float[]? Additive;
    public float? Scale;

    public readonly AttentionMask Mask => new() { IsCausal = Causal, KeyPadding = Padding, Additive = Additive };

    internal static float[] Scratch(int length)
    {
        var s = t_scratch;
        if (s is null || s.Length < length)
        {
            t_scratch = s = new float[length];
        }
        return s;
    }

    public readonly void Invoke(int index)
    {
        var scratch = Scratch(Math.Max(Attention.ForwardScratchLength(Shape.HeadDim, Shape.KeyLength), Attention.BackwardScratchLength(Shape.HeadDim)));
        Attention.Forward(Shape, Q.Span, Q.Strides, K.Span, K.Strides, V.Span, V.Strides, Out, OutStrides, Lse, Mask, scratch, Scale, index, 1);
    }
}

/// <summary>Backward work item per (b, kv head) pair.</summary>
internal struct AttentionBackwardJob : IParallelAction
{
    public AttentionJob Forward;
    public HeadOperand DOut;
    public float[] DQ, DK, DV;
    public HeadStrides DQStrides, DKvStrides;

    public readonly void Invoke(int index)
    {
        var f = Forward;
        var scratch = AttentionJob.Scratch(Math.Max(Attention.ForwardScratchLength(f.Shape.HeadDim, f.Shape.KeyLength), Attention.BackwardScratchLength(f.Shape.HeadDim)));
        Attention.Backward(f.Shape, f.Q.Span, f.Q.Strides, f.K.Span, f.K.Strides, f.V.Span, f.V.Strides, f.Out, f.OutStrides, f.Lse,
            DOut.Span, DOut.Strides, DQ, DQStrides, DK, DKvStrides, DV, DKvStrides, f.Mask, scratch, f.Scale, index, 1);
    }
}
