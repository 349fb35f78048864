using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Tensors;

/// <summary>
/// A region in which float32 tensors are allocated from a reusable pool. When the scope is disposed every
/// buffer it handed out returns to the pool, so a steady-state training step allocates (almost) no managed
/// memory. Tensors created in a scope must not be used after it ends (doing so throws). Scopes nest; the
/// innermost owns new allocations. <see cref="Persistent"/> suspends pooling, for state that must outlive the
/// step (gradients of leaves, optimizer moments). Scopes are per thread.
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] private static TensorScope? _current;

    private static readonly object PoolLock = new();
    private static readonly Dictionary<int, Stack<float[]>> Pool = new();
    private static long _pooledBytes;

    /// <summary>Upper bound on idle pooled memory; buffers returned beyond it are dropped for the GC.</summary>
    public static long MaxPooledBytes { get; set; } = 8L << 30;

    private readonly TensorScope? _parent;
    private readonly bool _persistent;
    private readonly List<Storage> _owned = new();
    private bool _disposed;

    private TensorScope(bool persistent)
    {
        _parent = _current;
        _persistent = persistent;
        _current = this;
    }

    /// <summary>Starts a pooled scope on this thread.</summary>
    public static TensorScope Begin() => new(persistent: false);

    /// <summary>Starts a region where allocations are ordinary (not pooled) even inside a pooled scope.</summary>
    public static TensorScope Persistent() => new(persistent: true);

    /// <summary>Bytes currently idle in the pool (for diagnostics and benchmarks).</summary>
    public static long PooledBytes => Interlocked.Read(ref _pooledBytes);

    internal static Storage AllocateFloats(int length, bool zero)
    {
        var scope = _current;
        if (scope is null || scope._persistent || length == 0)
        {
            return new Storage(new float[length], length, pooled: false);
        }
        float[]? array = null;
        lock (PoolLock)
        {
            if (Pool.TryGetValue(length, out var stack) && stack.Count > 0)
            {
                array = stack.Pop();
                _pooledBytes -= (long)array.Length * sizeof(float);
            }
        }
        if (array is null)
        {
            array = GC.AllocateUninitializedArray<float>(length);
            zero = true;
        }
        if (zero)
        {
            Array.Clear(array);
        }
        var storage = new Storage(array, length, pooled: true);
        scope._owned.Add(storage);
        return storage;
    }

    /// <summary>Returns every buffer this scope handed out to the pool and invalidates their tensors.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (_current != this)
        {
            throw new InvalidOperationException("TensorScopes must be disposed in the reverse order of creation.");
        }
        _current = _parent;
        if (_owned.Count == 0)
        {
            return;
        }
        lock (PoolLock)
        {
            foreach (var s in _owned)
            {
                if (s.Released)
                {
                    continue;   // already returned early (ReleaseEarly)
                }
                s.Released = true;
                long bytes = (long)s.Floats!.Length * sizeof(float);
                if (_pooledBytes + bytes > MaxPooledBytes)
                {
                    continue;
                }
                if (!Pool.TryGetValue(s.Length, out var stack))
                {
                    Pool[s.Length] = stack = new Stack<float[]>();
                }
                stack.Push(s.Floats);
                _pooledBytes += bytes;
            }
        }
        _owned.Clear();
    }

    /// <summary>The innermost pooled scope on this thread (null outside scopes or inside a persistent one).</summary>
    internal static TensorScope? CurrentPooled => _current is { _persistent: false } s ? s : null;

    /// <summary>How many buffers this scope has handed out so far (an index for <see cref="OwnedSince"/>).</summary>
    internal int OwnedCount => _owned.Count;

    /// <summary>The buffers handed out since <paramref name="start"/> that have not been released yet.</summary>
    internal IEnumerable<Storage> OwnedSince(int start)
    {
        for (int i = start; i < _owned.Count; i++)
        {
            if (!_owned[i].Released)
            {
                yield return _owned[i];
            }
        }
    }

    /// <summary>
    /// Returns one of this scope's buffers to the pool before the scope ends, for a caller that knows no tensor
    /// will read it again (backward frees gradients it has consumed). Any later access through a tensor throws.
    /// </summary>
    internal static void ReleaseEarly(Storage s)
    {
        if (!s.Pooled || s.Released || s.Floats is null)
        {
            return;
        }
        lock (PoolLock)
        {
            s.Released = true;
            long bytes = (long)s.Floats.Length * sizeof(float);
            if (_pooledBytes + bytes > MaxPooledBytes)
            {
                return;
            }
            if (!Pool.TryGetValue(s.Length, out var stack))
            {
                Pool[s.Length] = stack = new Stack<float[]>();
            }
            stack.Push(s.Floats);
            _pooledBytes += bytes;
        }
    }

    /// <summary>
    /// A point in the current pooled scope's allocations. Pass it to <see cref="ReleaseSince"/> after a stage of a
    /// forward pass (a transformer layer) to hand the stage's intermediates back to the pool.
    /// </summary>
    public static ScopeMark Mark() => CurrentPooled is { } s ? new ScopeMark(s, s.OwnedCount) : default;

    /// <summary>
    /// While no gradient is being recorded (<see cref="GradMode.IsEnabled"/> false), returns to the pool every buffer
    /// the current scope handed out since <paramref name="mark"/> except the one backing <paramref name="keep"/>,
    /// so a no-grad forward holds one layer's intermediates at a time instead of all of them. Any later access
    /// through a tensor over a released buffer throws. Does nothing while gradients are recorded (backward needs
    /// the intermediates), outside a pooled scope, or when <paramref name="mark"/> belongs to another scope. Only for
    /// stages whose other results nobody keeps (a growing KV cache keeps what a layer concatenates: the models skip the
    /// release then).
    /// </summary>
    public static void ReleaseSince(ScopeMark mark, Tensor keep)
    {
        ArgumentNullException.ThrowIfNull(keep);
        var scope = CurrentPooled;
        if (GradMode.IsEnabled || scope is null || !ReferenceEquals(scope, mark.Scope))
        {
            return;
        }
        var kept = keep.Storage;
        for (int i = mark.Index; i < scope._owned.Count; i++)
        {
            var s = scope._owned[i];
            if (!ReferenceEquals(s, kept))
            {
                ReleaseEarly(s);
            }
        }
    }

    /// <summary>Drops every idle pooled buffer.</summary>
    public static void TrimPool()
    {
        lock (PoolLock)
        {
            Pool.Clear();
            _pooledBytes = 0;
        }
    }
}

/// <summary>A position in a <see cref="TensorScope"/>'s allocations (see <see cref="TensorScope.Mark"/>); default = no pooled scope.</summary>
public readonly struct ScopeMark
{
    internal ScopeMark(TensorScope scope, int index)
    {
        Scope = scope;
        Index = index;
    }

    internal TensorScope? Scope { get; }

    internal int Index { get; }
}
