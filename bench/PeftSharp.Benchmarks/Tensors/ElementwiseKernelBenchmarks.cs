using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Benchmarks.Tensors;

/// <summary>Our AVX2 exp / SiLU / GELU against TensorPrimitives (the baseline) on 1M cached-ish floats.</summary>
[MemoryDiagnoser]
public class ExpBenchmarks
{
    private float[] _x = [];
    private float[] _y = [];

    [Params(4096, 1 << 20)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _x = Enumerable.Range(0, N).Select(_ => (float)(rng.NextDouble() * 40 - 30)).ToArray();
        _y = new float[N];
        float[] check = new float[N];
        TensorPrimitives.Exp(_x, check);
        FastMath.Exp(_x, _y);
        for (int i = 0; i < N; i++)
        {
            if (Math.Abs(check[i] - _y[i]) > 1e-6f * Math.Abs(check[i]) + 1e-30f)
            {
                throw new InvalidOperationException($"exp mismatch at {i}: {_y[i]} vs {check[i]}");
            }
        }
    }

    [Benchmark(Baseline = true)]
    public void TensorPrimitivesExp() => TensorPrimitives.Exp(_x, _y);

    [Benchmark]
    public void FastMathExp() => FastMath.Exp(_x, _y);
}

/// <summary>SiLU: TensorPrimitives (sigmoid then multiply) as baseline vs the fused kernel; GELU (erf) and tanh-GELU for scale.</summary>
[MemoryDiagnoser]
public class ActivationBenchmarks
{
    private float[] _x = [];
    private float[] _y = [];
    private float[] _dy = [];

    [Params(1 << 20)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(2);
        _x = Enumerable.Range(0, N).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        _dy = Enumerable.Range(0, N).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        _y = new float[N];
        float[] check = new float[N];
        TensorPrimitives.Sigmoid(_x, check);
        TensorPrimitives.Multiply(check, _x, check);
        Activations.Forward(Activation.Silu, _x, _y);
        for (int i = 0; i < N; i++)
        {
            if (Math.Abs(check[i] - _y[i]) > 1e-5f)
            {
                throw new InvalidOperationException($"silu mismatch at {i}");
            }
        }
    }

    [Benchmark(Baseline = true)]
    public void SiluTensorPrimitives()
    {
        TensorPrimitives.Sigmoid(_x, _y);
        TensorPrimitives.Multiply(_y, _x, _y);
    }

    [Benchmark]
    public void SiluFused() => Activations.Forward(Activation.Silu, _x, _y);

    [Benchmark]
    public void SiluBackward() => Activations.Backward(Activation.Silu, _x, _dy, _y);

    [Benchmark]
    public void GeluErf() => Activations.Forward(Activation.Gelu, _x, _y);

    [Benchmark]
    public void GeluTanh() => Activations.Forward(Activation.GeluTanh, _x, _y);
}
