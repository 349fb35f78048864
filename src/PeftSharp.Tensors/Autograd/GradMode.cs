namespace PeftSharp.Tensors.Autograd;

/// <summary>
/// Whether ops record themselves for differentiation on this thread. Inside <see cref="NoGrad"/> nothing is
/// recorded and results never require grad (inference, optimizer updates, recomputation).
/// </summary>
public static class GradMode
{
    [ThreadStatic] private static int _disabledDepth;

    /// <summary>True when ops are recorded on this thread.</summary>
    public static bool IsEnabled => _disabledDepth == 0;

    /// <summary>Disables recording until the returned scope is disposed.</summary>
    public static Scope NoGrad()
    {
        _disabledDepth++;
        return new Scope(-1);
    }

    /// <summary>Re-enables recording inside a no-grad region until disposed (used by activation checkpointing).</summary>
    public static Scope EnableGrad()
    {
        int saved = _disabledDepth;
        _disabledDepth = 0;
        return new Scope(saved);
    }

    /// <summary>Restores the previous mode on dispose.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly int _restore;

        internal Scope(int restore) => _restore = restore;

        public void Dispose()
        {
            if (_restore < 0)
            {
                _disabledDepth--;
            }
            else
            {
                _disabledDepth = _restore;
            }
        }
    }
}
