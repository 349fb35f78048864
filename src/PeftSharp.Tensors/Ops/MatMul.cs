using System.Numerics.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Tensors;

// Matrix products. Transposed views are passed to the GEMM as transposition flags, never materialised.
public sealed partial class Tensor
{
    /// <summary>
    /// torch.matmul semantics: 1-D operands are promoted (and the added dim removed), batch dimensions
    /// broadcast. <c>a</c> (..., M, K) · <c>b</c> (..., K, N) → (..., M, N). <c>b</c> may be BF16/F16 storage.
    /// </summary>
    public static Tensor MatMul(Tensor a, Tensor b)
    {
        if (a.Rank == 0 || b.Rank == 0)
        {
            throw new ArgumentException($"MatMul needs at least 1-D operands; got {Shapes.Format(a.Shape)} and {Shapes.Format(b.Shape)}.");
        }
        if (a.Rank == 1 && b.Rank == 1)
        {
            return MatMul(a.Unsqueeze(0), b.Unsqueeze(1)).Reshape();
        }
        if (a.Rank == 1)
        {
            return MatMul(a.Unsqueeze(0), b).Squeeze(-2);
        }
        if (b.Rank == 1)
        {
            return MatMul(a, b.Unsqueeze(1)).Squeeze(-1);
        }
        return MatMul2(a, b);
    }

    /// <summary>this · other (see <see cref="MatMul(Tensor, Tensor)"/>).</summary>
    public Tensor MatMul(Tensor other) => MatMul(this, other);

    private static Tensor MatMul2(Tensor a, Tensor b)
    {
        a.ThrowUnlessFloat("MatMul (left operand)");
        if (b.DType is not (DType.F32 or DType.BF16 or DType.F16))
        {
            throw new InvalidOperationException($"MatMul right operand must be F32, BF16 or F16; got {b.DType}.");
        }
        int m = a.Dim(-2), k = a.Dim(-1), k2 = b.Dim(-2), n = b.Dim(-1);
        if (k != k2)
        {
            throw new ArgumentException($"MatMul shapes {Shapes.Format(a.Shape)} and {Shapes.Format(b.Shape)} do not align: {k} ≠ {k2}.");
        }
        var batchA = a.ShapeArray[..^2];
        var batchB = b.ShapeArray[..^2];
        var batch = Shapes.Broadcast(batchA, batchB);
        var outShape = batch.Concat(new[] { m, n }).ToArray();
        var result = Empty(outShape);

        var (aa, transA, lda) = GemmOperand(a);
        var (bb, transB, ldb) = GemmOperand(b);
        int batches = Shapes.Numel(batch);
        var sa = BatchStrides(aa, batch);
        var sb = BatchStrides(bb, batch);
        var c = result.Storage.Floats!;
        if (batches > 1 && bb.DType == DType.F32 && Flat(sa, batch) is { } fa && Flat(sb, batch) is { } fb)
        {
            MatMulDispatch.GemmBatched(transA, transB, m, n, k, aa.Storage.Floats!, aa.Offset, lda, fa, bb.Storage.Floats!, bb.Offset, ldb, fb, c, 0, n, (long)m * n, batches);
        }
        else
        {
            var counter = new int[batch.Length];
            int offA = aa.Offset, offB = bb.Offset;
            for (int i = 0; i < batches; i++)
            {
                MatMulDispatch.Gemm(transA, transB, m, n, k, aa.Storage.Floats!, offA, lda, bb, offB, ldb, 0f, c, i * m * n, n);
                for (int d = batch.Length - 1; d >= 0; d--)
                {
                    counter[d]++;
                    offA += sa[d];
                    offB += sb[d];
                    if (counter[d] < batch[d])
                    {
                        break;
                    }
                    offA -= sa[d] * batch[d];
                    offB -= sb[d] * batch[d];
                    counter[d] = 0;
                }
            }
        }
        Tape.Record(result, "matmul", Gradients.MatMul, a, b);
        return result;
    }

    /// <summary>A layout the GEMM reads directly: row-major (stride 1 on the last dim) or transposed (stride 1 on the second-to-last).</summary>
    private static (Tensor T, bool Trans, int Ld) GemmOperand(Tensor t)
    {
        int rows = t.Dim(-2), cols = t.Dim(-1);
        int rs = t.Strides[^2], cs = t.Strides[^1];
        if ((cs == 1 || cols == 1) && rs >= cols)
        {
            return (t, false, Math.Max(rs, 1));
        }
        if ((rs == 1 || rows == 1) && cs >= rows)
        {
            return (t, true, Math.Max(cs, 1));
        }
        using var _ = GradMode.NoGrad();
        var dense = t.DType == DType.F32 ? t.Contiguous() : t.ToFloat32();
        return (dense, false, Math.Max(cols, 1));
    }

    /// <summary>The single stride that walks all batch dims in row-major order, or null when the layout needs a loop.</summary>
    private static long? Flat(int[] strides, int[] batch)
    {
        for (int i = 0; i < batch.Length - 1; i++)
        {
            if (batch[i] != 1 && strides[i] != (long)strides[i + 1] * batch[i + 1])
            {
                return null;
            }
        }
        return batch.Length == 0 ? 0 : strides[^1];
    }

    private static int[] BatchStrides(Tensor t, int[] batch)
    {
        var strides = new int[batch.Length];
        int lead = batch.Length - (t.Rank - 2);
        for (int i = lead; i < batch.Length; i++)
        {
            int own = t.Shape[i - lead];
            strides[i] = own == 1 && batch[i] != 1 ? 0 : t.Strides[i - lead];
        }
        return strides;
    }

    /// <summary>
    /// The linear layer y = x·Wᵀ + b: <c>x</c> (..., in), <c>weight</c> (out, in) in F32/BF16/F16, <c>bias</c> (out).
    /// The backward computes dW only when the weight requires grad.
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        if (weight.Rank != 2)
        {
            throw new ArgumentException($"Linear weight must be (out, in); got {Shapes.Format(weight.Shape)}.");
        }
        int outF = weight.Dim(0), inF = weight.Dim(1);
        if (x.Rank == 0 || x.Dim(-1) != inF)
        {
            throw new ArgumentException($"Linear input {Shapes.Format(x.Shape)} does not end in {inF} (weight {Shapes.Format(weight.Shape)}{(weight.Name is null ? "" : " " + weight.Name)}).");
        }
        if (bias is not null && (bias.Rank != 1 || bias.Dim(0) != outF))
        {
            throw new ArgumentException($"Linear bias {Shapes.Format(bias.Shape)} does not match {outF} outputs.");
        }
        x.ThrowUnlessFloat("Linear");
        var xc = x.Contiguous();
        int rows = x.Numel / Math.Max(inF, 1);
        var outShape = x.ShapeArray.ToArray();
        outShape[^1] = outF;
        var y = Empty(outShape);
        var (w, transW, ldw) = GemmOperand(weight.T);
        var yd = y.Storage.Floats!;
        MatMulDispatch.Gemm(false, transW, rows, outF, inF, xc.Storage.Floats!, xc.Offset, inF, w, w.Offset, ldw, 0f, yd, 0, outF);
        if (bias is not null)
        {
            var bv = bias.Contiguous().Span;
            var ys = y.Span;
            for (int r = 0; r < rows; r++)
            {
                var row = ys.Slice(r * outF, outF);
                TensorPrimitives.Add(row, bv, row);
            }
        }
        var node = bias is null ? Tape.Record(y, "linear", Gradients.Linear, x, weight) : Tape.Record(y, "linear", Gradients.Linear, x, weight, bias);
        if (node is not null)
        {
            node.Saved = [xc];
        }
        return y;
    }

    /// <summary>
    /// A linear layer with a low-rank (LoRA) update, fused: y = x·Wᵀ + bias + scaling·(x·Aᵀ)·Bᵀ, the value of
    /// <c>Linear(x, W, bias).Add(Linear(Linear(x, A), B).Mul(scaling))</c>. x is (..., in), W (out, in) in any
    /// storage Linear accepts, A (r, in), B (out, r). The low-rank product is accumulated into the base product's
    /// output (one (…, out) buffer instead of four) with B pre-scaled (out·r multiplies instead of one per output);
    /// the result differs from the composition only by rounding. Backward gives dx = g·W + (s·g·B)·A,
    /// dA = (s·g·B)ᵀ·x, dB = s·gᵀ·(x·Aᵀ), and dW, dbias when they require grad.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes that do not chain (named in the message).</exception>
    public static Tensor LoraLinear(Tensor x, Tensor weight, Tensor? bias, Tensor a, Tensor b, float scaling)
    {
        if (weight.Rank != 2 || a.Rank != 2 || b.Rank != 2)
        {
            throw new ArgumentException($"LoraLinear needs 2-D weights; got W {Shapes.Format(weight.Shape)}, A {Shapes.Format(a.Shape)}, B {Shapes.Format(b.Shape)}.");
        }
        int outF = weight.Dim(0), inF = weight.Dim(1), r = a.Dim(0);
        if (a.Dim(1) != inF || b.Dim(0) != outF || b.Dim(1) != r)
        {
            throw new ArgumentException($"LoraLinear shapes do not chain: W {Shapes.Format(weight.Shape)} (out, in), A {Shapes.Format(a.Shape)} must be (r, {inF}), B {Shapes.Format(b.Shape)} must be ({outF}, r).");
        }
        a.ThrowUnlessFloat("LoraLinear A");
        b.ThrowUnlessFloat("LoraLinear B");
        Tensor y;
        Tensor h;
        Tensor bs;
        using (GradMode.NoGrad())
        {
            y = Linear(x, weight, bias);                                   // (..., out), validates x and bias
            h = Linear(x, a);                                              // (..., r)
            bs = b.Mul(scaling);                                           // (out, r), s·B
            int rows = x.Numel / Math.Max(inF, 1);
            var (bb, transB, ldb) = GemmOperand(bs.T);
            MatMulDispatch.Gemm(false, transB, rows, outF, r, h.Storage.Floats!, h.Offset, r, bb, bb.Offset, ldb, 1f, y.Storage.Floats!, y.Offset, outF);
        }
        var node = bias is null
            ? Tape.Record(y, "lora_linear", Gradients.LoraLinear, x, weight, a, b)
            : Tape.Record(y, "lora_linear", Gradients.LoraLinear, x, weight, a, b, bias);
        if (node is not null)
        {
            node.Saved = [x.Contiguous(), h, bs];
            node.Floats = [scaling];
        }
        return y;
    }

    /// <summary>Outer product of two vectors: (M) ⊗ (N) → (M, N).</summary>
    public static Tensor Outer(Tensor a, Tensor b)
    {
        if (a.Rank != 1 || b.Rank != 1)
        {
            throw new ArgumentException($"Outer needs two vectors; got {Shapes.Format(a.Shape)} and {Shapes.Format(b.Shape)}.");
        }
        return a.Unsqueeze(1).Mul(b.Unsqueeze(0));
    }

    /// <summary>Kronecker product of two matrices: (m, n) ⊗ (p, q) → (m·p, n·q).</summary>
    public static Tensor Kron(Tensor a, Tensor b)
    {
        if (a.Rank != 2 || b.Rank != 2)
        {
            throw new ArgumentException($"Kron needs two matrices; got {Shapes.Format(a.Shape)} and {Shapes.Format(b.Shape)}.");
        }
        int m = a.Dim(0), n = a.Dim(1), p = b.Dim(0), q = b.Dim(1);
        return a.Reshape(m, 1, n, 1).Mul(b.Reshape(1, p, 1, q)).Reshape(m * p, n * q);
    }
}
