using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Benchmarks.Tensors;

/// <summary>
/// SGEMM on transformer shapes (M = 1024 tokens, hidden 768), LoRA-skinny products, decode (M = 1) and 1024³, at 1 and
/// 2 threads, with OpenBLAS sgemm as the baseline on the same operands (when libopenblas.so.0 is installed; otherwise
/// the baseline reports an error and our rows still run). The readable side-by-side run is <c>peft bench gemm</c>.
/// <code>dotnet run -c Release --project bench/PeftSharp.Benchmarks -- --filter '*GemmBenchmarks*'</code>
/// </summary>
[MemoryDiagnoser]
public class GemmBenchmarks
{
    //            name             M     N     K   transA transB
    private static readonly Dictionary<string, (int M, int N, int K, bool TA, bool TB)> Shapes = new()
    {
        ["square-1024"] = (1024, 1024, 1024, false, false),
        ["fwd-768x3072"] = (1024, 3072, 768, false, true),
        ["dx-768x3072"] = (1024, 768, 3072, false, false),
        ["dw-768x3072"] = (3072, 768, 1024, true, false),
        ["lora-768x16"] = (1024, 16, 768, false, true),
        ["lora-16x768"] = (1024, 768, 16, false, true),
        ["decode-768x3072"] = (1, 3072, 768, false, true),
    };

    private float[] _a = [], _b = [], _c = [];
    private ushort[] _b16 = [];
    private GemmPackedB? _packed;
    private (int M, int N, int K, bool TA, bool TB) _s;
    private OpenBlasInterop? _blas;

    [Params("square-1024", "fwd-768x3072", "dx-768x3072", "dw-768x3072", "lora-768x16", "lora-16x768", "decode-768x3072")]
    public string Shape { get; set; } = "square-1024";

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _s = Shapes[Shape];
        var rng = new Random(42);
        _a = Enumerable.Range(0, _s.M * _s.K).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        _b16 = new ushort[_s.K * _s.N];
        float[] wide = Enumerable.Range(0, _s.K * _s.N).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        LowPrecision.Narrow(DType.BF16, wide, _b16);
        _b = new float[_b16.Length];
        LowPrecision.Widen(DType.BF16, _b16, _b); // float32 and bf16 operands hold the same values
        _c = new float[_s.M * _s.N];
        _packed = Gemm.PackB(_s.TB, _s.K, _s.N, _b, Ldb);
        CpuPool.MaxThreads = Threads;
        _blas = OpenBlasInterop.TryLoad();
        _blas?.SetThreads(Threads);

        // Correctness before timing: every variant against OpenBLAS (or the float64 reference on a slice).
        float[] expected = new float[_c.Length];
        if (_blas is not null)
        {
            _blas.Sgemm(_s.TA, _s.TB, _s.M, _s.N, _s.K, _a, Lda, _b, Ldb, expected);
        }
        else
        {
            Gemm.Reference.Sgemm(_s.TA, _s.TB, _s.M, _s.N, _s.K, 1f, _a, Lda, _b, Ldb, 0f, expected, _s.N);
        }
        foreach (Action run in new Action[] { Ours, OursBf16, OursPrepacked })
        {
            Array.Fill(_c, float.NaN);
            run();
            double worst = 0;
            for (int i = 0; i < _c.Length; i++)
            {
                worst = Math.Max(worst, Math.Abs(_c[i] - expected[i]));
            }
            if (!(worst <= 1e-5 * _s.K))
            {
                throw new InvalidOperationException($"{Shape}: result differs from the baseline by {worst}.");
            }
        }
    }

    private int Lda => _s.TA ? _s.M : _s.K;

    private int Ldb => _s.TB ? _s.K : _s.N;

    [Benchmark(Baseline = true, Description = "OpenBLAS sgemm")]
    public void OpenBlas()
    {
        if (_blas is null)
        {
            throw new InvalidOperationException("OpenBLAS (libopenblas.so.0) is not installed.");
        }
        _blas.Sgemm(_s.TA, _s.TB, _s.M, _s.N, _s.K, _a, Lda, _b, Ldb, _c);
    }

    [Benchmark(Description = "Gemm.Sgemm f32")]
    public void Ours() => Gemm.Sgemm(_s.TA, _s.TB, _s.M, _s.N, _s.K, 1f, _a, Lda, _b, Ldb, 0f, _c, _s.N);

    [Benchmark(Description = "Gemm.Sgemm bf16 B")]
    public void OursBf16() => Gemm.Sgemm(_s.TA, _s.TB, _s.M, _s.N, _s.K, 1f, _a, Lda, _b16, DType.BF16, Ldb, 0f, _c, _s.N);

    [Benchmark(Description = "Gemm.Sgemm pre-packed B")]
    public void OursPrepacked() => Gemm.Sgemm(_s.TA, _s.M, 1f, _a, Lda, _packed!, 0f, _c, _s.N);

    /// <summary>cblas_sgemm from the system OpenBLAS, resolved at run time; benchmark-only.</summary>
    private sealed unsafe class OpenBlasInterop
    {
        private delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;
        private delegate* unmanaged<int, void> _setThreads;

        public static OpenBlasInterop? TryLoad()
        {
            if (!NativeLibrary.TryLoad("libopenblas.so.0", out nint lib)
                || !NativeLibrary.TryGetExport(lib, "cblas_sgemm", out nint sgemm)
                || !NativeLibrary.TryGetExport(lib, "openblas_set_num_threads", out nint threads))
            {
                return null;
            }
            return new OpenBlasInterop
            {
                _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm,
                _setThreads = (delegate* unmanaged<int, void>)threads,
            };
        }

        public void SetThreads(int n) => _setThreads(n);

        public void Sgemm(bool ta, bool tb, int m, int n, int k, float[] a, int lda, float[] b, int ldb, float[] c)
        {
            fixed (float* pa = a)
            fixed (float* pb = b)
            fixed (float* pc = c)
            {
                _sgemm(101, ta ? 112 : 111, tb ? 112 : 111, m, n, k, 1f, pa, lda, pb, ldb, 0f, pc, n);
            }
        }
    }
}
