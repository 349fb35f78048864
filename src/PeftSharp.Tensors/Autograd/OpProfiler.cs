using System.Diagnostics;

namespace PeftSharp.Tensors.Autograd;

/// <summary>Wall time attributed to one op name by <see cref="OpProfiler"/>.</summary>
public readonly record struct OpTime(string Op, double ForwardSeconds, double BackwardSeconds, long ForwardCalls, long BackwardCalls);

/// <summary>
/// Opt-in wall-clock accounting of autograd ops, for benchmarks. While a session started by <see cref="Start"/> is
/// open on a thread, the forward time of each recorded op is the time since the previous recorded op (or since
/// <see cref="Mark"/>), so work done by ops that record nothing (frozen inputs, views) and glue code is charged to
/// the next op that records; backward time is the time of each node's rule plus the summing of its gradients.
/// Only the thread that started the session is measured. Off (the default) it costs one static read per op.
/// </summary>
public static class OpProfiler
{
    private static bool s_active;
    private static int s_thread;
    private static long s_last;
    private static readonly Dictionary<string, long[]> s_times = new(StringComparer.Ordinal);

    internal static bool Active => s_active && Environment.CurrentManagedThreadId == s_thread;

    /// <summary>Starts accounting on the calling thread and clears earlier totals.</summary>
    /// <exception cref="InvalidOperationException">A session is already open.</exception>
    public static void Start()
    {
        if (s_active)
        {
            throw new InvalidOperationException("OpProfiler.Start: a session is already open; call Stop first.");
        }
        s_times.Clear();
        s_thread = Environment.CurrentManagedThreadId;
        s_last = Stopwatch.GetTimestamp();
        s_active = true;
    }

    /// <summary>Restarts the forward clock (call before a forward pass, so earlier work is not charged to its first op).</summary>
    public static void Mark() => s_last = Stopwatch.GetTimestamp();

    /// <summary>Ends the session and returns the totals per op name, largest first.</summary>
    public static IReadOnlyList<OpTime> Stop()
    {
        s_active = false;
        double f = Stopwatch.Frequency;
        return s_times
            .Select(p => new OpTime(p.Key, p.Value[0] / f, p.Value[1] / f, p.Value[2], p.Value[3]))
            .OrderByDescending(t => t.ForwardSeconds + t.BackwardSeconds)
            .ToList();
    }

    internal static void Forward(string op)
    {
        long now = Stopwatch.GetTimestamp();
        var t = Slot(op);
        t[0] += now - s_last;
        t[2]++;
        s_last = now;
    }

    internal static long Now() => Stopwatch.GetTimestamp();

    internal static void Backward(string op, long start)
    {
        var t = Slot(op);
        t[1] += Stopwatch.GetTimestamp() - start;
        t[3]++;
    }

    private static long[] Slot(string op)
    {
        if (!s_times.TryGetValue(op, out var t))
        {
            t = new long[4];
            s_times[op] = t;
        }
        return t;
    }
}
