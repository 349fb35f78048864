using System.Runtime.ExceptionServices;

namespace PeftSharp.Tensors.Kernels;

/// <summary>
/// One unit of parallel work: <see cref="Invoke"/> is called once for every index in <c>[0, count)</c>,
/// possibly from several threads at once. Implement it on a struct so that <see cref="CpuPool.For{TAction}(int, in TAction)"/>
/// dispatches without allocating (the struct is copied once per call and invoked through a generic, not a delegate).
/// Invocations for different indices may run concurrently, so the struct must be safe to share: treat its fields as read-only.
/// </summary>
public interface IParallelAction
{
    /// <summary>Performs the work for one index.</summary>
    void Invoke(int index);
}

/// <summary>
/// A small fork-join pool shared by every kernel of the engine.
/// <list type="bullet">
/// <item>It owns <c>MaxThreads − 1</c> dedicated background threads; the calling thread is the remaining participant, so
/// at most <see cref="MaxThreads"/> threads compute for one call and the machine is never oversubscribed by default.</item>
/// <item>Indices are handed out one at a time from a shared counter (dynamic scheduling), so a participant that the
/// operating system delays does not hold the others back.</item>
/// <item>Idle workers spin briefly before blocking, so back-to-back kernel calls do not pay a full wake-up.</item>
/// <item>A call made from inside a running action (nested parallelism) or while another thread is using the pool runs
/// inline on the calling thread: it never deadlocks and never adds threads.</item>
/// <item>An exception thrown by an action stops the handing out of further indices; once every participant has
/// returned, the first exception is rethrown on the calling thread with its original stack trace.</item>
/// </list>
/// </summary>
public static class CpuPool
{
    /// <summary>Upper bound accepted by <see cref="MaxThreads"/>.</summary>
    public const int ThreadLimit = 64;

    /// <summary>Name of the environment variable read once at start-up to set <see cref="MaxThreads"/>.</summary>
    public const string ThreadsEnvironmentVariable = "PEFTSHARP_THREADS";

    private static readonly Lock s_growLock = new();
    private static Worker[] s_workers = [];
    private static int s_maxThreads = DefaultThreads();
    private static int s_busy;
    private static int s_pending;
    private static readonly ManualResetEventSlim s_done = new(false, spinCount: 200);

    [ThreadStatic] private static bool t_insidePool;

    /// <summary>Name of the environment variable read once at start-up to set <see cref="IdleSpinMicroseconds"/>.</summary>
    public const string SpinEnvironmentVariable = "PEFTSHARP_SPIN_US";

    private static long s_idleSpinTicks = MicrosecondsToTicks(DefaultSpinMicroseconds());

    /// <summary>
    /// How long an idle worker keeps polling for the next call before it blocks, in microseconds (default 1000, or
    /// the <c>PEFTSHARP_SPIN_US</c> environment variable). Polling keeps back-to-back kernels from paying a thread
    /// wake-up each; 0 blocks at once (for processes that share the CPU with other work).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative or above 1,000,000.</exception>
    public static int IdleSpinMicroseconds
    {
        get => (int)(Volatile.Read(ref s_idleSpinTicks) * 1_000_000 / System.Diagnostics.Stopwatch.Frequency);
        set
        {
            if (value < 0 || value > 1_000_000)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "IdleSpinMicroseconds must be between 0 and 1,000,000.");
            }
            Volatile.Write(ref s_idleSpinTicks, MicrosecondsToTicks(value));
        }
    }

    private static long MicrosecondsToTicks(int us) => us * System.Diagnostics.Stopwatch.Frequency / 1_000_000;

    private static int DefaultSpinMicroseconds()
        => int.TryParse(Environment.GetEnvironmentVariable(SpinEnvironmentVariable), out int us) && us >= 0 && us <= 1_000_000 ? us : 1000;

    /// <summary>
    /// Most threads (the caller included) one parallel call uses. Defaults to the value of the
    /// <c>PEFTSHARP_THREADS</c> environment variable when it is a positive integer, otherwise to
    /// <see cref="Environment.ProcessorCount"/>. Setting it takes effect for the next call.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1 or above <see cref="ThreadLimit"/>.</exception>
    public static int MaxThreads
    {
        get => Volatile.Read(ref s_maxThreads);
        set
        {
            if (value < 1 || value > ThreadLimit)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, $"MaxThreads must be between 1 and {ThreadLimit}.");
            }
            Volatile.Write(ref s_maxThreads, value);
        }
    }

    /// <summary>True while the current thread is executing an action dispatched by the pool.</summary>
    public static bool IsInsideParallelCall => t_insidePool;

    /// <summary>Runs <paramref name="action"/> for every index in <c>[0, count)</c> on up to <see cref="MaxThreads"/> threads and returns when all are done.</summary>
    public static void For<TAction>(int count, in TAction action) where TAction : struct, IParallelAction
        => For(count, in action, MaxThreads);

    /// <summary>
    /// Runs <paramref name="action"/> for every index in <c>[0, count)</c> on at most <paramref name="maxThreads"/> threads
    /// (the caller included) and returns when all are done. A <paramref name="count"/> of zero or less does nothing.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxThreads"/> is below 1 or above <see cref="ThreadLimit"/>.</exception>
    public static void For<TAction>(int count, in TAction action, int maxThreads) where TAction : struct, IParallelAction
    {
        if (maxThreads < 1 || maxThreads > ThreadLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(maxThreads), maxThreads, $"maxThreads must be between 1 and {ThreadLimit}.");
        }
        if (count <= 0)
        {
            return;
        }
        int threads = Math.Min(maxThreads, count);
        if (threads == 1 || t_insidePool || Interlocked.CompareExchange(ref s_busy, 1, 0) != 0)
        {
            RunInline(count, in action);
            return;
        }

        Job<TAction> job = Job<TAction>.Rent();
        try
        {
            Worker[] workers = EnsureWorkers(threads - 1);
            job.Reset(in action, count);
            Volatile.Write(ref s_pending, threads - 1);
            s_done.Reset();
            for (int w = 0; w < threads - 1; w++)
            {
                workers[w].Start(job);
            }
            t_insidePool = true;
            try
            {
                job.Run();
            }
            finally
            {
                t_insidePool = false;
            }
            // A worker decrements s_pending before it sets s_done, so a Set can arrive late, after the
            // caller has already seen zero and started the next call. The loop re-checks the counter and
            // treats the event only as a way to block, never as the completion signal itself.
            while (Volatile.Read(ref s_pending) != 0)
            {
                s_done.Wait();
                if (Volatile.Read(ref s_pending) == 0)
                {
                    break;
                }
                s_done.Reset();
            }
        }
        finally
        {
            Volatile.Write(ref s_busy, 0);
        }
        ExceptionDispatchInfo? error = job.Error;
        Job<TAction>.Return(job);
        error?.Throw();
    }

    /// <summary>Convenience overload taking a delegate (allocates the closure; prefer a struct <see cref="IParallelAction"/> on hot paths).</summary>
    public static void For(int count, Action<int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        For(count, new DelegateAction(body), MaxThreads);
    }

    private static void RunInline<TAction>(int count, in TAction action) where TAction : struct, IParallelAction
    {
        bool outer = !t_insidePool;
        t_insidePool = true;
        try
        {
            for (int i = 0; i < count; i++)
            {
                action.Invoke(i);
            }
        }
        finally
        {
            if (outer)
            {
                t_insidePool = false;
            }
        }
    }

    private static int DefaultThreads()
    {
        string? text = Environment.GetEnvironmentVariable(ThreadsEnvironmentVariable);
        if (int.TryParse(text, out int n) && n >= 1)
        {
            return Math.Min(n, ThreadLimit);
        }
        return Math.Clamp(Environment.ProcessorCount, 1, ThreadLimit);
    }

    private static Worker[] EnsureWorkers(int needed)
    {
        Worker[] workers = Volatile.Read(ref s_workers);
        if (workers.Length >= needed)
        {
            return workers;
        }
        lock (s_growLock)
        {
            workers = s_workers;
            if (workers.Length < needed)
            {
                var grown = new Worker[needed];
                Array.Copy(workers, grown, workers.Length);
                for (int i = workers.Length; i < needed; i++)
                {
                    grown[i] = new Worker(i + 1);
                }
                Volatile.Write(ref s_workers, grown);
                workers = grown;
            }
        }
        return workers;
    }

    private static void WorkerFinished()
    {
        if (Interlocked.Decrement(ref s_pending) == 0)
        {
            s_done.Set();
        }
    }

    private readonly struct DelegateAction(Action<int> body) : IParallelAction
    {
        public void Invoke(int index) => body(index);
    }

    private abstract class JobBase
    {
        private int _next;
        private int _count;
        private ExceptionDispatchInfo? _error;

        public ExceptionDispatchInfo? Error => _error;

        protected void ResetCounters(int count)
        {
            _count = count;
            _error = null;
            Volatile.Write(ref _next, 0);
        }

        /// <summary>Claims indices until none are left (or an action failed) and runs them.</summary>
        public void Run()
        {
            int count = _count;
            while (true)
            {
                int i = Interlocked.Increment(ref _next) - 1;
                if (i >= count)
                {
                    return;
                }
                try
                {
                    InvokeAt(i);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null);
                    Volatile.Write(ref _next, count); // no further indices are handed out
                    return;
                }
            }
        }

        protected abstract void InvokeAt(int index);
    }

    private sealed class Job<TAction> : JobBase where TAction : struct, IParallelAction
    {
        private static Job<TAction>? s_cached;
        private TAction _action;

        public static Job<TAction> Rent() => Interlocked.Exchange(ref s_cached, null) ?? new Job<TAction>();

        public static void Return(Job<TAction> job)
        {
            job._action = default; // drop references held by the action
            Volatile.Write(ref s_cached, job);
        }

        public void Reset(in TAction action, int count)
        {
            _action = action;
            ResetCounters(count);
        }

        protected override void InvokeAt(int index) => _action.Invoke(index);
    }

    private sealed class Worker
    {
        private readonly ManualResetEventSlim _wake = new(false, spinCount: 200);
        private JobBase? _job;

        public Worker(int id)
        {
            var thread = new Thread(Loop, maxStackSize: 1 << 20)
            {
                IsBackground = true,
                Name = $"PeftSharp.CpuPool.{id}",
            };
            thread.Start();
        }

        public void Start(JobBase job)
        {
            Volatile.Write(ref _job, job);
            _wake.Set(); // wakes the worker if it has stopped spinning (Set is a full fence)
        }

        private void Loop()
        {
            t_insidePool = true; // anything a worker runs that calls back into the pool runs inline
            while (true)
            {
                // Poll for the next job for up to IdleSpinMicroseconds before blocking: between the kernels of a
                // training step there are often a few hundred microseconds of single-threaded work, and waking a
                // blocked thread costs tens of microseconds (more under a hypervisor), during which the caller
                // runs the product alone.
                JobBase? job = SpinForJob();
                while (job is null)
                {
                    _wake.Wait();
                    // A Set that belonged to a job already taken while spinning can leave the event signalled:
                    // clear it and re-check; Start writes _job before it sets the event, so a real job is seen.
                    _wake.Reset();
                    job = Interlocked.Exchange(ref _job, null);
                }
                job.Run();
                WorkerFinished();
            }
        }

        private JobBase? SpinForJob()
        {
            long budget = Volatile.Read(ref s_idleSpinTicks);
            if (budget <= 0)
            {
                return null;
            }
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            for (int i = 0; ; i++)
            {
                if (Volatile.Read(ref _job) is not null)
                {
                    return Interlocked.Exchange(ref _job, null);
                }
                Thread.SpinWait(8);
                if ((i & 63) == 63 && System.Diagnostics.Stopwatch.GetTimestamp() - start > budget)
                {
                    return null;
                }
            }
        }
    }
}
