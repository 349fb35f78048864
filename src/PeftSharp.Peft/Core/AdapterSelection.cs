namespace PeftSharp.Peft.Core;

/// <summary>
/// Which adapters take part in a forward pass, shared by every adapted layer of one model: the active set (in
/// order), whether adapters are disabled, and optionally one adapter name per batch row (mixed batches).
/// </summary>
public sealed class AdapterSelection
{
    /// <summary>The row name that means "no adapter" in a mixed batch (Hugging Face's spelling).</summary>
    public const string BaseRow = "__base__";

    private string[] _active = [];

    /// <summary>The active adapters, in the order their outputs are added.</summary>
    public IReadOnlyList<string> Active
    {
        get => _active;
        set => _active = value.ToArray();
    }

    /// <summary>True inside a disable scope: every adapted layer runs its base module only.</summary>
    public bool Disabled { get; set; }

    /// <summary>One adapter name (or <see cref="BaseRow"/>) per row of the batch dimension; null for normal batches.</summary>
    public IReadOnlyList<string>? RowAdapters { get; set; }
}
