using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Benchmarks.Tensors;

/// <summary>
/// Causal attention B=4, H=12, T=S=256, D=64, single thread: the naive materialised version (full T×S
/// scores per head, TensorPrimitives dot products and softmax) as baseline vs the flash-style kernel,
/// forward and forward+backward.
/// </summary>
[MemoryDiagnoser]
public class AttentionBenchmarks
{
    private const int B = 4, H = 12, T = 256, D = 64;
    private readonly AttentionShape _shape = new(B, H, H, T, T, D);
    private readonly HeadStrides _st = HeadStrides.Bhtd(H, T, D);
    private float[] _q = [], _k = [], _v = [], _o = [], _do = [], _dq = [], _dk = [], _dv = [];
    private float[] _lse = new float[B * H * T];
    private float[] _scratch = [];
    private float[] _p = new float[T * T], _dp = new float[T * T];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(5);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        int n = B * H * T * D;
        _q = R(n); _k = R(n); _v = R(n); _do = R(n);
        _o = new float[n]; _dq = new float[n]; _dk = new float[n]; _dv = new float[n];
        _scratch = new float[Math.Max(Attention.ForwardScratchLength(D, T), Attention.BackwardScratchLength(D))];
        NaiveForwardBackward();
        float[] o = (float[])_o.Clone(), dq = (float[])_dq.Clone(), dk = (float[])_dk.Clone(), dv = (float[])_dv.Clone();
        FlashForwardBackward();
        Check(o, _o, "O");
        Check(dq, _dq, "dQ");
        Check(dk, _dk, "dK");
        Check(dv, _dv, "dV");
    }

    private static void Check(float[] expected, float[] actual, string name)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            if (Math.Abs(expected[i] - actual[i]) > 1e-4f * (1 + Math.Abs(expected[i])))
            {
                throw new InvalidOperationException($"{name} mismatch at {i}: {actual[i]} vs {expected[i]}");
            }
        }
    }

    private AttentionMask Causal => new() { IsCausal = true };

    [Benchmark(Baseline = true)]
    public void NaiveForward()
    {
        for (int bh = 0; bh < B * H; bh++)
        {
            NaiveHeadForward(bh * T * D);
        }
    }

    [Benchmark]
    public void FlashForward()
        => Attention.Forward(_shape, _q, _st, _k, _st, _v, _st, _o, _st, _lse, Causal, _scratch);

    [Benchmark]
    public void NaiveForwardBackward()
    {
        for (int bh = 0; bh < B * H; bh++)
        {
            int o = bh * T * D;
            NaiveHeadForward(o);
            NaiveHeadBackward(o);
        }
    }

    [Benchmark]
    public void FlashForwardBackward()
    {
        Attention.Forward(_shape, _q, _st, _k, _st, _v, _st, _o, _st, _lse, Causal, _scratch);
        Attention.Backward(_shape, _q, _st, _k, _st, _v, _st, _o, _st, _lse, _do, _st, _dq, _st, _dk, _st, _dv, _st, Causal, _scratch);
    }

    /// <summary>Materialised P = softmax(QKᵀ·scale + causal) (T×T), O = P·V for one head at element offset o.</summary>
    private void NaiveHeadForward(int o)
    {
        float scale = 1f / MathF.Sqrt(D);
        Span<float> q = _q.AsSpan(o, T * D), k = _k.AsSpan(o, T * D), v = _v.AsSpan(o, T * D), outp = _o.AsSpan(o, T * D);
        for (int i = 0; i < T; i++)
        {
            Span<float> row = _p.AsSpan(i * T, T);
            for (int j = 0; j < T; j++)
            {
                row[j] = j <= i ? TensorPrimitives.Dot(q.Slice(i * D, D), k.Slice(j * D, D)) * scale : float.NegativeInfinity;
            }
            TensorPrimitives.SoftMax(row, row);
            Span<float> orow = outp.Slice(i * D, D);
            orow.Clear();
            for (int j = 0; j <= i; j++)
            {
                TensorPrimitives.MultiplyAdd(v.Slice(j * D, D), row[j], orow, orow);
            }
        }
    }

    /// <summary>dV = PᵀdO, dP = dO·Vᵀ, dS = P⊙(dP − rowsum(dP⊙P)), dQ = dS·K·scale, dK = dSᵀ·Q·scale.</summary>
    private void NaiveHeadBackward(int o)
    {
        float scale = 1f / MathF.Sqrt(D);
        Span<float> q = _q.AsSpan(o, T * D), k = _k.AsSpan(o, T * D), v = _v.AsSpan(o, T * D), dO = _do.AsSpan(o, T * D);
        Span<float> dq = _dq.AsSpan(o, T * D), dk = _dk.AsSpan(o, T * D), dv = _dv.AsSpan(o, T * D);
        dq.Clear(); dk.Clear(); dv.Clear();
        for (int i = 0; i < T; i++)
        {
            Span<float> p = _p.AsSpan(i * T, T), dp = _dp.AsSpan(i * T, T);
            for (int j = 0; j < T; j++)
            {
                dp[j] = TensorPrimitives.Dot(dO.Slice(i * D, D), v.Slice(j * D, D));
            }
            float delta = TensorPrimitives.Dot(p, dp);
            TensorPrimitives.Subtract(dp, delta, dp);
            TensorPrimitives.Multiply(dp, p, dp);
            for (int j = 0; j <= i; j++)
            {
                TensorPrimitives.MultiplyAdd(dO.Slice(i * D, D), p[j], dv.Slice(j * D, D), dv.Slice(j * D, D));
                TensorPrimitives.MultiplyAdd(k.Slice(j * D, D), dp[j] * scale, dq.Slice(i * D, D), dq.Slice(i * D, D));
                TensorPrimitives.MultiplyAdd(q.Slice(i * D, D), dp[j] * scale, dk.Slice(j * D, D), dk.Slice(j * D, D));
            }
        }
    }
}
