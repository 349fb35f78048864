using System.Runtime.InteropServices;

namespace PeftSharp.Cli.Bench;

/// <summary>
/// Optional OpenBLAS binding for benchmark comparisons only: the library and tests never depend on it. The shared
/// library is looked up at run time (Debian: libopenblas0-pthread or libopenblas0); when it is absent,
/// <see cref="TryLoad"/> returns null with the reason.
/// </summary>
internal sealed unsafe class OpenBlas
{
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    private readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;
    private readonly delegate* unmanaged<int, void> _setThreads;

    private OpenBlas(nint sgemm, nint setThreads, string config)
    {
        _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm;
        _setThreads = (delegate* unmanaged<int, void>)setThreads;
        Config = config;
    }

    /// <summary>openblas_get_config(): version, build options and the kernel chosen for this CPU.</summary>
    public string Config { get; }

    public static OpenBlas? TryLoad(out string reason)
    {
        foreach (string name in new[] { "libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "libopenblas.dll" })
        {
            if (!NativeLibrary.TryLoad(name, out nint handle))
            {
                continue;
            }
            if (NativeLibrary.TryGetExport(handle, "cblas_sgemm", out nint sgemm)
                && NativeLibrary.TryGetExport(handle, "openblas_set_num_threads", out nint setThreads))
            {
                string config = "";
                if (NativeLibrary.TryGetExport(handle, "openblas_get_config", out nint getConfig))
                {
                    config = Marshal.PtrToStringAnsi(((delegate* unmanaged<nint>)getConfig)()) ?? "";
                }
                reason = "";
                return new OpenBlas(sgemm, setThreads, config);
            }
            reason = $"{name} was found but does not export cblas_sgemm and openblas_set_num_threads.";
            return null;
        }
        reason = "OpenBLAS is not installed (libopenblas.so.0 not found; on Debian: apt-get install libopenblas0-pthread).";
        return null;
    }

    public void SetThreads(int threads) => _setThreads(threads);

    public void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, float[] a, int lda, float[] b, int ldb, float beta, float[] c, int ldc)
    {
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            _sgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
        }
    }
}
