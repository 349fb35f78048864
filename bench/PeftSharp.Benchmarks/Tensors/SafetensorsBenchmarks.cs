using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Kernels;
using PeftSharp.Tensors.Serialization;

namespace PeftSharp.Benchmarks.Tensors;

/// <summary>
/// Loading a 400 MB F32 checkpoint and touching every value: open + zero-copy span over the mapping versus
/// reading the whole file into an array. Page cache is warm after the first iteration in both cases.
/// </summary>
[MemoryDiagnoser]
public class SafetensorsLoadBenchmarks
{
    private const int Elements = 100_000_000; // 400 MB of F32
    private string _path = "";

    [GlobalSetup]
    public void Setup()
    {
        _path = Path.Combine(Path.GetTempPath(), "peftsharp-bench-400mb.safetensors");
        var values = new float[Elements];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (i % 1000) * 0.001f;
        }
        SafetensorsWriter.Write(_path, [SafetensorsTensor.FromSingles("w", values, [10_000, 10_000])]);
        float expected = TensorPrimitives.Sum<float>(values);
        if (ReadAllBytesThenSum() != expected || MappedSum() != expected)
        {
            throw new InvalidOperationException("Setup check failed: sums differ.");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => File.Delete(_path);

    [Benchmark(Baseline = true)]
    public float ReadAllBytesThenSum()
    {
        byte[] bytes = File.ReadAllBytes(_path);
        long dataStart = 8 + BitConverter.ToInt64(bytes, 0);
        return TensorPrimitives.Sum(MemoryMarshal.Cast<byte, float>(bytes.AsSpan((int)dataStart)));
    }

    [Benchmark]
    public float MappedSum()
    {
        using var file = SafetensorsFile.Open(_path);
        return TensorPrimitives.Sum(file.GetSingles("w"));
    }
}

/// <summary>BF16 → F32 widening of a 16 Mi-element tensor from a mapped file: the scalar specification versus <see cref="SafetensorsFile.CopySingles(string, Span{float})"/>.</summary>
[MemoryDiagnoser]
public class SafetensorsWidenBenchmarks
{
    private const int Elements = 16 << 20;
    private string _path = "";
    private SafetensorsFile? _file;
    private float[] _destination = [];

    [GlobalSetup]
    public void Setup()
    {
        _path = Path.Combine(Path.GetTempPath(), "peftsharp-bench-bf16.safetensors");
        var values = new float[Elements];
        var rng = new Random(1);
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        SafetensorsWriter.Write(_path, [SafetensorsTensor.FromSingles("w", values, [Elements], DType.BF16)]);
        _file = SafetensorsFile.Open(_path);
        _destination = new float[Elements];
        var reference = new float[Elements];
        ScalarInto(reference);
        _file.CopySingles("w", _destination);
        if (!reference.AsSpan().SequenceEqual(_destination))
        {
            throw new InvalidOperationException("Setup check failed: vectorised widening differs from the scalar reference.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _file?.Dispose();
        File.Delete(_path);
    }

    [Benchmark(Baseline = true)]
    public void Scalar() => ScalarInto(_destination);

    [Benchmark]
    public void CopySingles() => _file!.CopySingles("w", _destination);

    private void ScalarInto(float[] destination)
    {
        var bits = _file!.GetHalfBits("w");
        for (int i = 0; i < bits.Length; i++)
        {
            destination[i] = LowPrecision.BF16ToSingle(bits[i]);
        }
    }
}
