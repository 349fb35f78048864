using PeftSharp.Tensors.Autograd;
using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Tensors;

// Coarse, fused neural-network ops: activations, softmax, cross-entropy, norms, RoPE and attention.
// Shapes: B batch, T query tokens, S key tokens, C channels, H heads, Hkv key/value heads, D head dim, V vocab.
public sealed partial class Tensor
{
    /// <summary>GELU; <paramref name="tanhApproximation"/> selects "gelu_new"/"gelu_pytorch_tanh" instead of the exact erf form.</summary>
    public Tensor Gelu(bool tanhApproximation = false) => ActivationOp(tanhApproximation ? Kernels.Activation.GeluTanh : Kernels.Activation.Gelu);

    /// <summary>SiLU (swish): x·sigmoid(x).</summary>
    public Tensor Silu() => ActivationOp(Kernels.Activation.Silu);

    /// <summary>Applies an activation by kind (Relu, Silu, Sigmoid, Tanh, Gelu, GeluTanh).</summary>
    public Tensor ActivationOp(Kernels.Activation activation)
    {
        ThrowUnlessFloat(activation.ToString());
        var x = Contiguous();
        var y = Empty((int[])_shape.Clone());
        Activations.Forward(activation, x.Span, y.Span);
        var node = Tape.Record(y, activation.ToString().ToLowerInvariant(), Gradients.Activation, this);
        if (node is not null)
        {
            node.Saved = [x];
            node.Ints = [(int)activation];
        }
        return y;
    }

    /// <summary>SwiGLU: silu(gate) ⊙ up (the Llama MLP's fused middle).</summary>
    public static Tensor SwiGlu(Tensor gate, Tensor up)
    {
        if (!gate.Shape.SequenceEqual(up.Shape))
        {
            throw new ArgumentException($"SwiGlu gate {Shapes.Format(gate.Shape)} and up {Shapes.Format(up.Shape)} differ.");
        }
        gate.ThrowUnlessFloat("SwiGlu");
        up.ThrowUnlessFloat("SwiGlu");
        var g = gate.Contiguous();
        var u = up.Contiguous();
        var y = Empty(gate.ShapeArray.ToArray());
        SwiGluChunks.Forward(g, u, y);
        var node = Tape.Record(y, "swiglu", Gradients.SwiGlu, gate, up);
        if (node is not null)
        {
            node.Saved = [g, u];
        }
        return y;
    }

    /// <summary>Softmax over the last dimension.</summary>
    public Tensor Softmax() => LastDimRowOp("Softmax", "softmax", Kernels.Softmax.Forward, Gradients.Softmax);

    /// <summary>Log-softmax over the last dimension.</summary>
    public Tensor LogSoftmax() => LastDimRowOp("LogSoftmax", "log_softmax", Kernels.Softmax.LogForward, Gradients.LogSoftmax);

    private delegate void RowKernel(ReadOnlySpan<float> x, Span<float> y, int rows, int n);

    /// <summary>A row-wise op over the last dimension whose backward needs only its output (saved).</summary>
    private Tensor LastDimRowOp(string op, string name, RowKernel kernel, BackwardRule backward)
    {
        ThrowUnlessFloat(op);
        var x = Contiguous();
        int n = Rank == 0 ? 1 : _shape[^1];
        int rows = n == 0 ? 0 : Numel / n;
        var y = Empty((int[])_shape.Clone());
        kernel(x.Span, y.Span, rows, n);
        var node = Tape.Record(y, name, backward, this);
        if (node is not null)
        {
            node.Saved = [y];
        }
        return y;
    }

    /// <summary>
    /// Mean cross-entropy of <paramref name="logits"/> (N, V) against int32 <paramref name="targets"/> (N):
    /// targets equal to <paramref name="ignoreIndex"/> are skipped and not counted; optional label smoothing
    /// as in PyTorch. Returns a scalar (NaN when no target counts, as PyTorch does).
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, float labelSmoothing = 0f, int ignoreIndex = Kernels.CrossEntropy.DefaultIgnoreIndex)
    {
        if (logits.Rank != 2)
        {
            throw new ArgumentException($"CrossEntropy logits must be (N, V); got {Shapes.Format(logits.Shape)}.");
        }
        if (targets.DType != DType.I32 || targets.Rank != 1 || targets.Dim(0) != logits.Dim(0))
        {
            throw new ArgumentException($"CrossEntropy targets must be int32 of shape [{logits.Dim(0)}]; got {targets.DType} {Shapes.Format(targets.Shape)}.");
        }
        logits.ThrowUnlessFloat("CrossEntropy");
        var x = logits.Contiguous();
        int rows = x.Dim(0), v = x.Dim(1);
        var t = targets.Contiguous();
        var losses = new float[rows];
        var lse = Empty([rows]);
        int counted = CrossEntropyRows.Forward(x, t, losses, lse, labelSmoothing, ignoreIndex);
        var loss = Scalar(Kernels.CrossEntropy.Mean(losses, counted));
        var node = Tape.Record(loss, "cross_entropy", Gradients.CrossEntropy, logits);
        if (node is not null)
        {
            node.Saved = [x, t, lse];
            node.Ints = [counted, ignoreIndex];
            node.Floats = [labelSmoothing];
        }
        return loss;
    }

    /// <summary>LayerNorm over the last dimension: (x − mean)/√(var + eps)·weight + bias (fused kernel).</summary>
    public static Tensor LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float eps)
    {
        x.ThrowUnlessFloat("LayerNorm");
        int c = x.Dim(-1);
        CheckNormParam(weight, c, "LayerNorm weight");
        CheckNormParam(bias, c, "LayerNorm bias");
        var xc = x.Contiguous();
        int rows = c == 0 ? 0 : x.Numel / c;
        var w = weight?.Contiguous() ?? Ones(c);
        var y = Empty(x.ShapeArray.ToArray());
        var mean = Empty([rows]);
        var rstd = Empty([rows]);
        Norms.LayerNormForward(xc.Span, w.Span, bias is null ? default : bias.Contiguous().Span, y.Span, mean.Span, rstd.Span, rows, c, eps);
        var node = weight is null && bias is null ? Tape.Record(y, "layer_norm", Gradients.LayerNorm, x)
            : weight is null ? throw new ArgumentException("LayerNorm with a bias but no weight is not supported.")
            : bias is null ? Tape.Record(y, "layer_norm", Gradients.LayerNorm, x, weight)
            : Tape.Record(y, "layer_norm", Gradients.LayerNorm, x, weight, bias);
        if (node is not null)
        {
            node.Saved = [xc, w, mean, rstd];
        }
        return y;
    }

    /// <summary>RMSNorm over the last dimension (Llama): x·rsqrt(mean(x²) + eps)·weight, in float32 (fused kernel).</summary>
    public static Tensor RmsNorm(Tensor x, Tensor? weight, float eps)
    {
        x.ThrowUnlessFloat("RmsNorm");
        int c = x.Dim(-1);
        CheckNormParam(weight, c, "RmsNorm weight");
        var xc = x.Contiguous();
        int rows = c == 0 ? 0 : x.Numel / c;
        var w = weight?.Contiguous() ?? Ones(c);
        var y = Empty(x.ShapeArray.ToArray());
        var rstd = Empty([rows]);
        Norms.RmsNormForward(xc.Span, w.Span, y.Span, rstd.Span, rows, c, eps);
        var node = weight is null ? Tape.Record(y, "rms_norm", Gradients.RmsNorm, x) : Tape.Record(y, "rms_norm", Gradients.RmsNorm, x, weight);
        if (node is not null)
        {
            node.Saved = [xc, w, rstd];
        }
        return y;
    }

    /// <summary>
    /// Rotary position embedding from a precomputed table, Hugging Face rotate_half convention.
    /// <paramref name="x"/> is (B, H, T, D), possibly a transposed view of (B, T, H, D) (read in place, no copy);
    /// <paramref name="positionIds"/> int32 (B, T). The result has the same layout as the input.
    /// </summary>
    public static Tensor Rope(Tensor x, Tensor positionIds, RopeTable table)
    {
        if (x.Rank != 4)
        {
            throw new ArgumentException($"Rope expects (B, H, T, D); got {Shapes.Format(x.Shape)}.");
        }
        x.ThrowUnlessFloat("Rope");
        int b = x.Dim(0), h = x.Dim(1), t = x.Dim(2), d = x.Dim(3);
        if (positionIds.DType != DType.I32 || positionIds.Numel != b * t)
        {
            throw new ArgumentException($"Rope position ids must be int32 (B, T) = [{b}, {t}]; got {positionIds.DType} {Shapes.Format(positionIds.Shape)}.");
        }
        var src = IsDensePermutation(x) && x.Strides[3] == 1 ? x : x.Contiguous();
        var y = new Tensor(TensorScope.AllocateFloats(src.Numel, zero: false), src.ShapeArray.ToArray(), src.StridesArray.ToArray(), 0);
        var strides = new HeadStrides(src.Strides[0], src.Strides[1], src.Strides[2]);
        var pos = positionIds.Contiguous();
        Kernels.Rope.Forward(src.Storage.Floats.AsSpan(src.Offset, src.Numel), y.Storage.Floats.AsSpan(0, src.Numel), strides, pos.IntSpan, table, b, h, t, d);
        var node = Tape.Record(y, "rope", Gradients.Rope, x);
        if (node is not null)
        {
            node.Saved = [pos];
            node.State = table;
        }
        return y;
    }

    /// <summary>True when the tensor covers exactly Numel consecutive elements from its offset, in some dim order.</summary>
    internal static bool IsDensePermutation(Tensor t)
    {
        long span = 1;
        for (int i = 0; i < t.Rank; i++)
        {
            if (t.Shape[i] == 0)
            {
                return false;
            }
            if (t.Strides[i] < 0)
            {
                return false;
            }
            span += (long)(t.Shape[i] - 1) * t.Strides[i];
        }
        var sorted = Enumerable.Range(0, t.Rank).Where(i => t.Shape[i] > 1).OrderBy(i => t.Strides[i]).ToArray();
        long expect = 1;
        foreach (int i in sorted)
        {
            if (t.Strides[i] != expect)
            {
                return false;
            }
            expect *= t.Shape[i];
        }
        return span == t.Numel;
    }

    private static void CheckNormParam(Tensor? p, int c, string what)
    {
        if (p is not null && (p.Rank != 1 || p.Dim(0) != c))
        {
            throw new ArgumentException($"{what} {Shapes.Format(p.Shape)} does not match the normalised size {c}.");
        }
    }

    /// <summary>
    /// Rotary position embedding in the Hugging Face rotate_half convention: x·cos + rotate_half(x)·sin, where
    /// rotate_half(x) = [−x₂, x₁] over the two halves of the last dimension, composed from primitive ops (the
    /// reference the fused <see cref="Rope(Tensor, Tensor, RopeTable)"/> is tested against). <paramref name="x"/> is (B, H, T, D);
    /// <paramref name="cos"/>/<paramref name="sin"/> are (B, T, D) (already gathered at the position ids).
    /// </summary>
    public static Tensor RopeReference(Tensor x, Tensor cos, Tensor sin)
    {
        if (x.Rank != 4)
        {
            throw new ArgumentException($"Rope expects (B, H, T, D); got {Shapes.Format(x.Shape)}.");
        }
        int d = x.Dim(3);
        if (d % 2 != 0)
        {
            throw new ArgumentException($"Rope needs an even head dimension; got {d}.");
        }
        var c = cos.Unsqueeze(1);
        var s = sin.Unsqueeze(1);
        var x1 = x.Narrow(3, 0, d / 2);
        var x2 = x.Narrow(3, d / 2, d / 2);
        var rotated = Cat([x2.Neg(), x1], 3);
        return x.Mul(c).Add(rotated.Mul(s));
    }

    /// <summary>
    /// Scaled dot-product attention. <paramref name="q"/> (B, H, T, D); <paramref name="k"/>, <paramref name="v"/>
    /// (B, Hkv, S, D) with H a multiple of Hkv (grouped-query: query head h reads kv head h / (H/Hkv)).
    /// <paramref name="mask"/> is additive, broadcastable to (B, H, T, S); <paramref name="causal"/> masks keys
    /// j &gt; i + (S − T). Returns (B, H, T, D).
    /// </summary>
    public static Tensor ScaledDotProductAttention(Tensor q, Tensor k, Tensor v, Tensor? mask = null, bool causal = false, float? scale = null)
    {
        if (q.Rank != 4 || k.Rank != 4 || v.Rank != 4)
        {
            throw new ArgumentException($"Attention expects rank-4 q/k/v; got {Shapes.Format(q.Shape)}, {Shapes.Format(k.Shape)}, {Shapes.Format(v.Shape)}.");
        }
        int b = q.Dim(0), h = q.Dim(1), t = q.Dim(2), d = q.Dim(3);
        int hkv = k.Dim(1), s = k.Dim(2);
        if (k.Dim(0) != b || v.Dim(0) != b || v.Dim(1) != hkv || v.Dim(2) != s || k.Dim(3) != d || hkv == 0 || h % hkv != 0)
        {
            throw new ArgumentException($"Attention shapes q {Shapes.Format(q.Shape)}, k {Shapes.Format(k.Shape)}, v {Shapes.Format(v.Shape)} are inconsistent (need equal batch, head dim, k/v alike, H divisible by Hkv).");
        }
        float sc = scale ?? 1f / MathF.Sqrt(d);
        int groups = h / hkv;
        // Grouped-query: view q as (B, Hkv, groups·T, D) so each kv head serves its query heads without copying k/v.
        var qg = q.Reshape(b, hkv, groups * t, d);
        var scores = MatMul(qg, k.Transpose(2, 3)).Mul(sc).Reshape(b, h, t, s);
        if (causal)
        {
            var causalMask = Empty([t, s]);
            var cm = causalMask.Span;
            for (int i = 0; i < t; i++)
                for (int j = 0; j < s; j++)
                    cm[i * s + j] = j > i + (s - t) ? float.NegativeInfinity : 0f;
            scores = scores.Add(causalMask);
        }
        if (mask is not null)
        {
            scores = scores.Add(mask);
        }
        var probs = scores.Softmax();
        return MatMul(probs.Reshape(b, hkv, groups * t, s), v).Reshape(b, h, t, d);
    }
}

/// <summary>
/// Cross-entropy forward and backward split into blocks of rows across <see cref="Kernels.CpuPool"/>. Rows are
/// independent and each is computed by the same single-threaded kernel, so the results are identical for any
/// thread count; the loss is still summed in row order by <see cref="Kernels.CrossEntropy.Mean"/>.
/// </summary>
internal static class CrossEntropyRows
{
    private const int BlockRows = 32;

    public static int Forward(Tensor x, Tensor t, float[] losses, Tensor lse, float labelSmoothing, int ignoreIndex)
    {
        int rows = x.Dim(0), v = x.Dim(1);
        var logits = x.Storage.Floats!;
        int xOffset = x.Offset;
        var targets = t.Storage.Ints!;
        int tOffset = t.Offset;
        var lseArray = lse.Storage.Floats!;
        int lseOffset = lse.Offset;
        // Validated here, not only inside each block, so an error names the absolute row.
        if (!(labelSmoothing >= 0f && labelSmoothing <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "Label smoothing must be in [0, 1].");
        }
        for (int r = 0; r < rows; r++)
        {
            int target = targets[tOffset + r];
            if (target != ignoreIndex && (uint)target >= (uint)v)
            {
                throw new ArgumentOutOfRangeException("targets", target, $"targets[{r}] = {target} is outside [0, {v}) and is not the ignore index {ignoreIndex}.");
            }
        }
        int blocks = (rows + BlockRows - 1) / BlockRows;
        var counted = new int[blocks];
        Kernels.CpuPool.For(blocks, block =>
        {
            int r0 = block * BlockRows, n = Math.Min(BlockRows, rows - r0);
            counted[block] = Kernels.CrossEntropy.Forward(
                logits.AsSpan(xOffset + r0 * v, n * v), targets.AsSpan(tOffset + r0, n), losses.AsSpan(r0, n),
                lseArray.AsSpan(lseOffset + r0, n), n, v, labelSmoothing, ignoreIndex);
        });
        return counted.Sum();
    }

    public static void Backward(Tensor x, Tensor t, Tensor lse, Tensor dx, float scale, float labelSmoothing, int ignoreIndex)
    {
        int rows = x.Dim(0), v = x.Dim(1);
        var logits = x.Storage.Floats!;
        int xOffset = x.Offset;
        var targets = t.Storage.Ints!;
        int tOffset = t.Offset;
        var lseArray = lse.Storage.Floats!;
        int lseOffset = lse.Offset;
        var d = dx.Storage.Floats!;
        int dOffset = dx.Offset;
        int blocks = (rows + BlockRows - 1) / BlockRows;
        Kernels.CpuPool.For(blocks, block =>
        {
            int r0 = block * BlockRows, n = Math.Min(BlockRows, rows - r0);
            Kernels.CrossEntropy.Backward(
                logits.AsSpan(xOffset + r0 * v, n * v), targets.AsSpan(tOffset + r0, n), lseArray.AsSpan(lseOffset + r0, n),
                d.AsSpan(dOffset + r0 * v, n * v), n, v, scale, labelSmoothing, ignoreIndex);
        });
    }
}

/// <summary>
/// SwiGLU over chunks of 32768 elements (multiples of every vector width) across <see cref="Kernels.CpuPool"/>.
/// The kernel's result for an element does not depend on where it sits in the span (its vector and scalar forms
/// agree bitwise), so the split changes no bit.
/// </summary>
internal static class SwiGluChunks
{
    private const int Chunk = 32768;

    public static void Forward(Tensor gate, Tensor up, Tensor y)
    {
        var (g, go) = (gate.Storage.Floats!, gate.Offset);
        var (u, uo) = (up.Storage.Floats!, up.Offset);
        var (o, oo) = (y.Storage.Floats!, y.Offset);
        int n = y.Numel;
        Kernels.CpuPool.For((n + Chunk - 1) / Chunk, c =>
        {
            int start = c * Chunk, len = Math.Min(Chunk, n - start);
            Kernels.SwiGlu.Forward(g.AsSpan(go + start, len), u.AsSpan(uo + start, len), o.AsSpan(oo + start, len));
        });
    }

    public static void Backward(Tensor gate, Tensor up, Tensor dy, Tensor dGate, Tensor dUp)
    {
        var (g, go) = (gate.Storage.Floats!, gate.Offset);
        var (u, uo) = (up.Storage.Floats!, up.Offset);
        var (d, dO) = (dy.Storage.Floats!, dy.Offset);
        var (dg, dgo) = (dGate.Storage.Floats!, dGate.Offset);
        var (du, duo) = (dUp.Storage.Floats!, dUp.Offset);
        int n = dy.Numel;
        Kernels.CpuPool.For((n + Chunk - 1) / Chunk, c =>
        {
            int start = c * Chunk, len = Math.Min(Chunk, n - start);
            Kernels.SwiGlu.Backward(g.AsSpan(go + start, len), u.AsSpan(uo + start, len), d.AsSpan(dO + start, len),
                dg.AsSpan(dgo + start, len), du.AsSpan(duo + start, len));
        });
    }
}
