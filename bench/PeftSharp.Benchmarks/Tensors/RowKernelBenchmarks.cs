using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Benchmarks.Tensors;

/// <summary>Softmax over vocabulary-sized rows (8 × 32000): composed TensorPrimitives calls (baseline) vs the fused kernel.</summary>
[MemoryDiagnoser]
public class SoftmaxBenchmarks
{
    private const int Rows = 8, V = 32000;
    private float[] _x = [];
    private float[] _y = [];
    private float[] _dy = [];
    private float[] _losses = new float[Rows];
    private float[] _lse = new float[Rows];
    private int[] _targets = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(3);
        _x = Enumerable.Range(0, Rows * V).Select(_ => (float)(rng.NextDouble() * 20 - 10)).ToArray();
        _dy = Enumerable.Range(0, Rows * V).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        _y = new float[Rows * V];
        _targets = Enumerable.Range(0, Rows).Select(_ => rng.Next(V)).ToArray();
        float[] check = new float[Rows * V];
        Composed();
        _y.CopyTo(check, 0);
        Fused();
        for (int i = 0; i < check.Length; i++)
        {
            if (Math.Abs(check[i] - _y[i]) > 1e-6f * check[i] + 1e-12f)
            {
                throw new InvalidOperationException($"softmax mismatch at {i}");
            }
        }
    }

    [Benchmark(Baseline = true)]
    public void Composed()
    {
        for (int r = 0; r < Rows; r++)
        {
            ReadOnlySpan<float> x = _x.AsSpan(r * V, V);
            Span<float> y = _y.AsSpan(r * V, V);
            float max = TensorPrimitives.Max(x);
            TensorPrimitives.Subtract(x, max, y);
            TensorPrimitives.Exp(y, y);
            TensorPrimitives.Divide(y, TensorPrimitives.Sum(y), y);
        }
    }

    [Benchmark]
    public void Fused() => Softmax.Forward(_x, _y, Rows, V);

    [Benchmark]
    public void FusedBackward() => Softmax.Backward(_x, _dy, _y, Rows, V);

    [Benchmark]
    public int CrossEntropyForward() => CrossEntropy.Forward(_x, _targets, _losses, _lse, Rows, V);

    [Benchmark]
    public void CrossEntropyBackward() => CrossEntropy.Backward(_x, _targets, _lse, _y, Rows, V, 1f / Rows);
}

/// <summary>RMSNorm 1024 × 768: TensorPrimitives composition (baseline) vs the fused kernel; plus the backward.</summary>
[MemoryDiagnoser]
public class RmsNormBenchmarks
{
    private const int Rows = 1024, C = 768;
    private const float Eps = 1e-6f;
    private float[] _x = [];
    private float[] _w = [];
    private float[] _y = [];
    private float[] _dy = [];
    private float[] _dx = [];
    private float[] _dw = new float[C];
    private float[] _rstd = new float[Rows];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(4);
        _x = Enumerable.Range(0, Rows * C).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        _dy = Enumerable.Range(0, Rows * C).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        _w = Enumerable.Range(0, C).Select(_ => (float)(rng.NextDouble() + 0.5)).ToArray();
        _y = new float[Rows * C];
        _dx = new float[Rows * C];
        Composed();
        float[] check = (float[])_y.Clone();
        Fused();
        for (int i = 0; i < check.Length; i++)
        {
            if (Math.Abs(check[i] - _y[i]) > 1e-5f * (1 + Math.Abs(check[i])))
            {
                throw new InvalidOperationException($"rmsnorm mismatch at {i}");
            }
        }
    }

    [Benchmark(Baseline = true)]
    public void Composed()
    {
        for (int r = 0; r < Rows; r++)
        {
            ReadOnlySpan<float> x = _x.AsSpan(r * C, C);
            Span<float> y = _y.AsSpan(r * C, C);
            float s = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(x) / C + Eps);
            _rstd[r] = s;
            TensorPrimitives.Multiply(x, s, y);
            TensorPrimitives.Multiply(y, _w, y);
        }
    }

    [Benchmark]
    public void Fused() => Norms.RmsNormForward(_x, _w, _y, _rstd, Rows, C, Eps);

    [Benchmark]
    public void FusedBackward() => Norms.RmsNormBackward(_x, _w, _rstd, _dy, _dx, _dw, Rows, C);
}
