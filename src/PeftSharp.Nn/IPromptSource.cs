namespace PeftSharp.Nn;

/// <summary>Supplies the virtual tokens of one forward pass.</summary>
public interface IPromptSource
{
    /// <summary>The virtual tokens for a batch of <paramref name="batch"/> rows, or null for none.</summary>
    VirtualPrompt? For(int batch);
}
