using PeftSharp.Tensors;

namespace PeftSharp.Training.Benchmarks;

/// <summary>Peak resident memory from /proc (Linux; NaN elsewhere), and returning freed memory before a measurement.</summary>
public static class ProcessMemory
{
    /// <summary>VmHWM of this process in MiB.</summary>
    public static double PeakRssMib()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    var kb = long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
                    return kb / 1024.0;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return double.NaN;
    }

    /// <summary>Resets VmHWM to the current RSS (writing 5 to /proc/self/clear_refs); false when not possible.</summary>
    public static bool TryResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Returns freed memory (the float32 weights a 16-bit build replaced, an earlier run's model and pool) to the
    /// operating system, so the peak that follows belongs to the next run.
    /// </summary>
    public static void ReleaseGarbage()
    {
        TensorScope.TrimPool();
        System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
    }
}
