using System.Numerics.Tensors;

namespace PeftSharp.Tensors.Autograd;

/// <summary>
/// Every backward rule of the engine, in one place. A rule receives the node (inputs, saved tensors and
/// arguments) and dLoss/dOutput, and returns dLoss/dInput for each input (null where the input needs none).
/// Rules run with grad mode off, so they may use ordinary tensor ops. A rule never computes a gradient nobody
/// asked for: in particular the GEMM for a frozen weight's gradient is never run.
/// </summary>
internal static partial class Gradients
{
    // ---- helpers ----

    /// <summary>Sums a broadcast gradient back down to <paramref name="shape"/>.</summary>
    public static Tensor SumToShape(Tensor g, ReadOnlySpan<int> shape)
    {
        if (g.Shape.SequenceEqual(shape))
        {
            return g;
        }
        int lead = g.Rank - shape.Length;
        var dims = new List<int>();
        for (int i = 0; i < g.Rank; i++)
        {
            if (i < lead || (shape[i - lead] == 1 && g.Shape[i] != 1))
            {
                dims.Add(i);
            }
        }
        var summed = dims.Count == 0 ? g : g.Sum(dims.ToArray(), keepDim: true);
        return summed.Reshape(shape.ToArray());
    }

    private static Tensor?[] One(Tensor? g) => [g];

    // ---- views and copies ----

    public static Tensor?[] Identity(Node n, Tensor g) => One(g);

    public static Tensor?[] Reshape(Node n, Tensor g) => One(g.Reshape(n.Inputs[0].ShapeArray));

    public static Tensor?[] Permute(Node n, Tensor g)
    {
        var inverse = new int[n.Ints.Length];
        for (int i = 0; i < inverse.Length; i++)
        {
            inverse[n.Ints[i]] = i;
        }
        return One(g.Permute(inverse));
    }

    public static Tensor?[] Narrow(Node n, Tensor g)
    {
        var input = n.Inputs[0];
        var full = Tensor.Zeros(input.ShapeArray);
        Tensor.CopyInto(full.Narrow(n.Ints[0], n.Ints[1], g.Dim(n.Ints[0])), g);
        return One(full);
    }

    public static Tensor?[] SumToInputShape(Node n, Tensor g) => One(SumToShape(g, n.Inputs[0].Shape));

    // ---- arithmetic ----

    public static Tensor?[] Add(Node n, Tensor g) =>
        [n.NeedsGrad(0) ? SumToShape(g, n.Inputs[0].Shape) : null, n.NeedsGrad(1) ? SumToShape(g, n.Inputs[1].Shape) : null];

    public static Tensor?[] Sub(Node n, Tensor g) =>
        [n.NeedsGrad(0) ? SumToShape(g, n.Inputs[0].Shape) : null, n.NeedsGrad(1) ? SumToShape(g.Neg(), n.Inputs[1].Shape) : null];

    public static Tensor?[] Mul(Node n, Tensor g)
    {
        var (a, b) = (n.Inputs[0], n.Inputs[1]);
        return [n.NeedsGrad(0) ? SumToShape(g.Mul(b), a.Shape) : null, n.NeedsGrad(1) ? SumToShape(g.Mul(a), b.Shape) : null];
    }

    public static Tensor?[] Div(Node n, Tensor g)
    {
        var (a, b) = (n.Inputs[0], n.Inputs[1]);
        Tensor? ga = n.NeedsGrad(0) ? SumToShape(g.Div(b), a.Shape) : null;
        Tensor? gb = n.NeedsGrad(1) ? SumToShape(g.Mul(a).Div(b.Mul(b)).Neg(), b.Shape) : null;
        return [ga, gb];
    }

    public static Tensor?[] Maximum(Node n, Tensor g) => MinMax(n, g, takeFirstWhen: (a, b) => a >= b);

    public static Tensor?[] Minimum(Node n, Tensor g) => MinMax(n, g, takeFirstWhen: (a, b) => a <= b);

    private static Tensor?[] MinMax(Node n, Tensor g, Func<float, float, bool> takeFirstWhen)
    {
        var shape = g.ShapeArray;
        var a = n.Inputs[0].Expand(shape).Contiguous().Span;
        var b = n.Inputs[1].Expand(shape).Contiguous().Span;
        var gs = g.Contiguous().Span;
        var ga = Tensor.Zeros(shape);
        var gb = Tensor.Zeros(shape);
        var gas = ga.Span;
        var gbs = gb.Span;
        for (int i = 0; i < gs.Length; i++)
        {
            if (takeFirstWhen(a[i], b[i])) gas[i] = gs[i]; else gbs[i] = gs[i];
        }
        return [n.NeedsGrad(0) ? SumToShape(ga, n.Inputs[0].Shape) : null, n.NeedsGrad(1) ? SumToShape(gb, n.Inputs[1].Shape) : null];
    }

    public static Tensor?[] MulScalar(Node n, Tensor g) => One(g.Mul(n.Floats[0]));

    // ---- pointwise math (saved: input x or output y) ----

    public static Tensor?[] Exp(Node n, Tensor g) => One(g.Mul(n.Saved[0]));

    public static Tensor?[] Log(Node n, Tensor g) => One(g.Div(n.Saved[0]));

    public static Tensor?[] Sqrt(Node n, Tensor g) => One(g.Div(n.Saved[0].Mul(2f)));

    public static Tensor?[] Abs(Node n, Tensor g) => Pointwise(n, g, static (x, gy) => x > 0 ? gy : x < 0 ? -gy : 0f);

    public static Tensor?[] Pow(Node n, Tensor g)
    {
        float p = n.Floats[0];
        return One(g.Mul(n.Saved[0].Pow(p - 1f)).Mul(p));
    }

    public static Tensor?[] Clamp(Node n, Tensor g)
    {
        float lo = n.Floats[0], hi = n.Floats[1];
        var x = n.Saved[0].Span;
        var gs = g.Contiguous().Span;
        var r = Tensor.Empty(g.ShapeArray);
        var d = r.Span;
        for (int i = 0; i < d.Length; i++)
        {
            d[i] = x[i] >= lo && x[i] <= hi ? gs[i] : 0f;
        }
        return One(r);
    }

    public static Tensor?[] Sigmoid(Node n, Tensor g)
    {
        var y = n.Saved[0];
        return One(g.Mul(y.Mul(y.Neg().Add(1f))));
    }

    public static Tensor?[] Tanh(Node n, Tensor g)
    {
        var y = n.Saved[0];
        return One(g.Mul(y.Mul(y).Neg().Add(1f)));
    }

    public static Tensor?[] Relu(Node n, Tensor g) => Pointwise(n, g, static (x, gy) => x > 0 ? gy : 0f);

    /// <summary>dx[i] = f(x[i], dy[i]) for rules that saved their contiguous input.</summary>
    private static Tensor?[] Pointwise(Node n, Tensor g, Func<float, float, float> f)
    {
        var x = n.Saved[0].Span;
        var gs = g.Contiguous().Span;
        var r = Tensor.Empty(g.ShapeArray);
        var d = r.Span;
        for (int i = 0; i < d.Length; i++)
        {
            d[i] = f(x[i], gs[i]);
        }
        return One(r);
    }

    public static Tensor?[] Where(Node n, Tensor g)
    {
        var mask = (Tensor)n.State!;
        var zero = Tensor.Zeros([]);
        return
        [
            n.NeedsGrad(0) ? SumToShape(Tensor.Where(mask, g, zero), n.Inputs[0].Shape) : null,
            n.NeedsGrad(1) ? SumToShape(Tensor.Where(mask, zero, g), n.Inputs[1].Shape) : null,
        ];
    }
}

internal static partial class Gradients
{
    // ---- reductions ----

    public static Tensor?[] SumAll(Node n, Tensor g)
    {
        var input = n.Inputs[0];
        return [Tensor.Full(input.ShapeArray, g.Item())];
    }

    public static Tensor?[] Sum(Node n, Tensor g)
    {
        // Re-insert the reduced dims as size 1, then broadcast back to the input shape.
        var input = n.Inputs[0];
        var keep = input.ShapeArray.ToArray();
        foreach (int d in n.Ints)
        {
            keep[d] = 1;
        }
        var full = Tensor.Empty(input.ShapeArray);
        Tensor.CopyInto(full, g.Reshape(keep));
        return [full];
    }

    public static Tensor?[] MaxDim(Node n, Tensor g)
    {
        var input = n.Inputs[0];
        int d = n.Ints[0];
        var idx = ((Tensor)n.State!).IntSpan;
        var (outer, len, inner) = Tensor.Split3(input.Shape, d);
        var r = Tensor.Zeros(input.ShapeArray);
        var dst = r.Span;
        var gs = g.Contiguous().Span;
        for (int o = 0; o < outer; o++)
        {
            for (int i = 0; i < inner; i++)
            {
                dst[(o * len + idx[o * inner + i]) * inner + i] = gs[o * inner + i];
            }
        }
        return [r];
    }
}

internal static partial class Gradients
{
    // ---- products ----

    public static Tensor?[] MatMul(Node n, Tensor g)
    {
        var (a, b) = (n.Inputs[0], n.Inputs[1]);
        Tensor? ga = n.NeedsGrad(0) ? SumToShape(Tensor.MatMul(g, b.T), a.Shape) : null;
        Tensor? gb = n.NeedsGrad(1) ? SumToShape(Tensor.MatMul(a.T, g), b.Shape) : null;
        return [ga, gb];
    }

    public static Tensor?[] LoraLinear(Node n, Tensor g)
    {
        var (x, h, bs) = (n.Saved[0], n.Saved[1], n.Saved[2]);
        float scaling = n.Floats[0];
        var weight = n.Inputs[1];
        var a = n.Inputs[2];
        int outF = weight.Dim(0), inF = weight.Dim(1), r = a.Dim(0);
        var g2 = g.Contiguous().Reshape(-1, outF);                         // (rows, out)
        int rows = g2.Dim(0);
        bool needX = n.NeedsGrad(0), needA = n.NeedsGrad(2);
        Tensor? u = needX || needA ? Tensor.MatMul(g2, bs) : null;         // (rows, r) = s·g·B
        Tensor? gx = null;
        if (needX)
        {
            gx = Tensor.MatMul(g2, weight);                                // (rows, in) = g·W
            // gx += u·A: K = r, accumulated into the frozen-weight product's buffer.
            var ac = a.Contiguous();
            MatMulDispatch.Gemm(false, false, rows, inF, r, u!.Storage.Floats!, u.Offset, r, ac, ac.Offset, inF, 1f, gx.Storage.Floats!, gx.Offset, inF);
            gx = gx.Reshape(n.Inputs[0].ShapeArray);
        }
        var x2 = x.Reshape(-1, inF);
        Tensor? ga = needA ? Tensor.MatMul(u!.T, x2) : null;              // (r, in)
        Tensor? gb = n.NeedsGrad(3) ? Tensor.MatMul(g2.T, h.Reshape(-1, r)).Mul(scaling) : null; // (out, r)
        Tensor? gw = n.NeedsGrad(1) ? Tensor.MatMul(g2.T, x2) : null;
        Tensor? gbias = n.Inputs.Length > 4 && n.NeedsGrad(4) ? g2.Sum(0) : null;
        return n.Inputs.Length > 4 ? [gx, gw, ga, gb, gbias] : [gx, gw, ga, gb];
    }

    public static Tensor?[] Linear(Node n, Tensor g)
    {
        var x = n.Saved[0];
        var weight = n.Inputs[1];
        int outF = weight.Dim(0), inF = weight.Dim(1);
        var g2 = g.Contiguous().Reshape(-1, outF);
        Tensor? gx = n.NeedsGrad(0) ? Tensor.MatMul(g2, weight).Reshape(n.Inputs[0].ShapeArray) : null;
        Tensor? gw = n.NeedsGrad(1) ? Tensor.MatMul(g2.T, x.Reshape(-1, inF)) : null;
        Tensor? gb = n.Inputs.Length > 2 && n.NeedsGrad(2) ? g2.Sum(0) : null;
        return n.Inputs.Length > 2 ? [gx, gw, gb] : [gx, gw];
    }
}

internal static partial class Gradients
{
    // ---- indexing, joining, dropout ----

    public static Tensor?[] Embedding(Node n, Tensor g)
    {
        var weight = n.Inputs[0];
        var ids = ((Tensor)n.State!).IntSpan;
        int c = weight.Dim(1);
        var gw = Tensor.Zeros(weight.ShapeArray);
        var dst = gw.Span;
        var gs = g.Contiguous().Span;
        for (int i = 0; i < ids.Length; i++)
        {
            var row = dst.Slice(ids[i] * c, c);
            TensorPrimitives.Add(row, gs.Slice(i * c, c), row);
        }
        return [gw];
    }

    public static Tensor?[] IndexSelect(Node n, Tensor g)
    {
        var input = n.Inputs[0];
        int d = n.Ints[0];
        var idx = ((Tensor)n.State!).IntSpan;
        var (outer, len, inner) = Tensor.Split3(input.Shape, d);
        var gi = Tensor.Zeros(input.ShapeArray);
        var dst = gi.Span;
        var gs = g.Contiguous().Span;
        for (int o = 0; o < outer; o++)
        {
            for (int j = 0; j < idx.Length; j++)
            {
                var row = dst.Slice((o * len + idx[j]) * inner, inner);
                TensorPrimitives.Add(row, gs.Slice((o * idx.Length + j) * inner, inner), row);
            }
        }
        return [gi];
    }

    public static Tensor?[] Gather(Node n, Tensor g)
    {
        var input = n.Inputs[0];
        int d = n.Ints[0];
        var index = (Tensor)n.State!;
        var idx = index.IntSpan;
        var gi = Tensor.Zeros(input.ShapeArray);
        var dst = gi.Span;
        var strides = Shapes.ContiguousStrides(input.Shape);
        var gs = g.Contiguous().Span;
        var ishape = index.ShapeArray;
        var counter = new int[input.Rank];
        for (int flat = 0; flat < idx.Length; flat++)
        {
            int off = 0;
            for (int i = 0; i < input.Rank; i++)
            {
                off += (i == d ? idx[flat] : counter[i]) * strides[i];
            }
            dst[off] += gs[flat];
            for (int i = input.Rank - 1; i >= 0; i--)
            {
                if (++counter[i] < ishape[i]) break;
                counter[i] = 0;
            }
        }
        return [gi];
    }

    public static Tensor?[] Cat(Node n, Tensor g)
    {
        int d = n.Ints[0];
        var grads = new Tensor?[n.Inputs.Length];
        int start = 0;
        for (int i = 0; i < grads.Length; i++)
        {
            int len = n.Inputs[i].Shape[d];
            if (n.NeedsGrad(i))
            {
                grads[i] = g.Narrow(d, start, len).Contiguous();
            }
            start += len;
        }
        return grads;
    }

    public static Tensor?[] Dropout(Node n, Tensor g) => [g.Mul(n.Saved[0])];
}

internal static partial class Gradients
{
    // ---- fused neural-network ops ----

    public static Tensor?[] Activation(Node n, Tensor g)
    {
        var x = n.Saved[0];
        var gc = g.Contiguous();
        var dx = Tensor.Empty(x.ShapeArray.ToArray());
        Kernels.Activations.Backward((Kernels.Activation)n.Ints[0], x.Span, gc.Span, dx.Span);
        return [dx];
    }

    public static Tensor?[] SwiGlu(Node n, Tensor g)
    {
        var (gate, up) = (n.Saved[0], n.Saved[1]);
        var gc = g.Contiguous();
        var dGate = Tensor.Empty(gate.ShapeArray.ToArray());
        var dUp = Tensor.Empty(up.ShapeArray.ToArray());
        SwiGluChunks.Backward(gate, up, gc, dGate, dUp);
        return [n.NeedsGrad(0) ? dGate : null, n.NeedsGrad(1) ? dUp : null];
    }

    public static Tensor?[] Softmax(Node n, Tensor g)
    {
        var y = n.Saved[0];
        int cols = y.Rank == 0 ? 1 : y.Dim(-1);
        int rows = cols == 0 ? 0 : y.Numel / cols;
        var gc = g.Contiguous();
        var dx = Tensor.Empty(y.ShapeArray.ToArray());
        Kernels.Softmax.Backward(y.Span, gc.Span, dx.Span, rows, cols);
        return [dx];
    }

    public static Tensor?[] LogSoftmax(Node n, Tensor g)
    {
        var y = n.Saved[0];
        int cols = y.Rank == 0 ? 1 : y.Dim(-1);
        int rows = cols == 0 ? 0 : y.Numel / cols;
        var gc = g.Contiguous();
        var dx = Tensor.Empty(y.ShapeArray.ToArray());
        Kernels.Softmax.LogBackward(y.Span, gc.Span, dx.Span, rows, cols);
        return [dx];
    }

    public static Tensor?[] CrossEntropy(Node n, Tensor g)
    {
        var (x, t, lse) = (n.Saved[0], n.Saved[1], n.Saved[2]);
        int counted = n.Ints[0];
        int rows = x.Dim(0), v = x.Dim(1);
        var dx = Tensor.Empty([rows, v]);
        float scale = counted == 0 ? 0f : g.Item() / counted;
        CrossEntropyRows.Backward(x, t, lse, dx, scale, n.Floats[0], n.Ints[1]);
        return [dx];
    }
}

internal static partial class Gradients
{
    public static Tensor?[] LayerNorm(Node n, Tensor g)
    {
        var (x, w, mean, rstd) = (n.Saved[0], n.Saved[1], n.Saved[2], n.Saved[3]);
        int c = x.Dim(-1), rows = c == 0 ? 0 : x.Numel / c;
        var gc = g.Contiguous();
        var dx = Tensor.Empty(x.ShapeArray.ToArray());
        bool hasW = n.Inputs.Length > 1, hasB = n.Inputs.Length > 2;
        var dw = Tensor.Zeros(c);
        var db = Tensor.Zeros(c);
        Kernels.Norms.LayerNormBackward(x.Span, w.Span, mean.Span, rstd.Span, gc.Span, dx.Span, dw.Span, hasB ? db.Span : default, rows, c);
        return
        [
            n.NeedsGrad(0) ? dx : null,
            hasW && n.NeedsGrad(1) ? dw : null,
            hasB && n.NeedsGrad(2) ? db : null,
        ];
    }

    public static Tensor?[] RmsNorm(Node n, Tensor g)
    {
        var (x, w, rstd) = (n.Saved[0], n.Saved[1], n.Saved[2]);
        int c = x.Dim(-1), rows = c == 0 ? 0 : x.Numel / c;
        var gc = g.Contiguous();
        var dx = Tensor.Empty(x.ShapeArray.ToArray());
        var dw = Tensor.Zeros(c);
        Kernels.Norms.RmsNormBackward(x.Span, w.Span, rstd.Span, gc.Span, dx.Span, dw.Span, rows, c);
        return [n.NeedsGrad(0) ? dx : null, n.Inputs.Length > 1 && n.NeedsGrad(1) ? dw : null];
    }

    public static Tensor?[] Rope(Node n, Tensor g)
    {
        var pos = n.Saved[0];
        var table = (Kernels.RopeTable)n.State!;
        // Read dy in place when it is a dense permutation (attention hands back dq/dk laid out (B, T, H, D)) and
        // write dx in that same layout: the transpose and reshape that led into the rope then become views in
        // backward too, instead of two transposing copies.
        var gc = Tensor.IsDensePermutation(g) && g.Strides[3] == 1 ? g : g.Contiguous();
        int b = gc.Dim(0), h = gc.Dim(1), t = gc.Dim(2), d = gc.Dim(3);
        var dx = new Tensor(TensorScope.AllocateFloats(gc.Numel, zero: false), gc.ShapeArray.ToArray(), gc.StridesArray.ToArray(), 0);
        var strides = new Kernels.HeadStrides(gc.Strides[0], gc.Strides[1], gc.Strides[2]);
        Kernels.Rope.Backward(gc.Storage.Floats.AsSpan(gc.Offset, gc.Numel), dx.Storage.Floats.AsSpan(0, gc.Numel), strides, pos.IntSpan, table, b, h, t, d);
        return [dx];
    }
}

internal static partial class Gradients
{
    public static Tensor?[] Attention(Node n, Tensor g)
    {
        var job = (AttentionJob)n.State!;
        var s = job.Shape;
        int b = s.Batch, h = s.Heads, hkv = s.KvHeads, t = s.QueryLength, len = s.KeyLength, d = s.HeadDim;
        var go = g.Strides[3] == 1 ? g : g.Contiguous();
        var dq = new Tensor(TensorScope.AllocateFloats(b * h * t * d, zero: false), [b, h, t, d], [t * h * d, d, h * d, 1], 0);
        var dk = new Tensor(TensorScope.AllocateFloats(b * hkv * len * d, zero: false), [b, hkv, len, d], [len * hkv * d, d, hkv * d, 1], 0);
        var dv = new Tensor(TensorScope.AllocateFloats(b * hkv * len * d, zero: false), [b, hkv, len, d], [len * hkv * d, d, hkv * d, 1], 0);
        var back = new AttentionBackwardJob
        {
            Forward = job,
            DOut = new HeadOperand(go.Storage.Floats!, go.Offset, new Kernels.HeadStrides(go.Strides[0], go.Strides[1], go.Strides[2]), go),
            DQ = dq.Storage.Floats!, DK = dk.Storage.Floats!, DV = dv.Storage.Floats!,
            DQStrides = Kernels.HeadStrides.Bthd(h, t, d), DKvStrides = Kernels.HeadStrides.Bthd(hkv, len, d),
        };
        Kernels.CpuPool.For(b * hkv, in back);
        return [n.NeedsGrad(0) ? dq : null, n.NeedsGrad(1) ? dk : null, n.NeedsGrad(2) ? dv : null];
    }
}
