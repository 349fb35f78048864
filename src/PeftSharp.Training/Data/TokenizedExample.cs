namespace PeftSharp.Training.Data;

/// <summary>
/// One causal-LM training sequence. <see cref="Labels"/> is aligned with <see cref="InputIds"/> (the Hugging Face
/// convention: the loss shifts by one, so position t's label is the token the model should produce after reading
/// positions ..t-1) and holds <see cref="ExampleTokenizer.IgnoreIndex"/> (-100) where no loss is taken.
/// </summary>
/// <param name="InputIds">Token ids.</param>
/// <param name="Labels">Same length as <paramref name="InputIds"/>: the id, or -100.</param>
/// <param name="Source">File the record came from (the first one, for a packed row).</param>
/// <param name="Line">Line of the record (the first one, for a packed row).</param>
public sealed record TokenizedExample(int[] InputIds, int[] Labels, string Source, long Line)
{
    /// <summary>Number of tokens.</summary>
    public int Length => InputIds.Length;

    /// <summary>Whether <see cref="TokenizationOptions.MaxLength"/> cut this example.</summary>
    public bool Truncated { get; init; }

    /// <summary>Number of positions with a label (not -100).</summary>
    public int SupervisedTokens => Labels.Count(l => l != ExampleTokenizer.IgnoreIndex);
}

/// <summary>One sequence-classification example.</summary>
/// <param name="InputIds">Token ids (with the post-processor's special tokens, e.g. [CLS] … [SEP]).</param>
/// <param name="Label">Class id.</param>
/// <param name="Source">File the record came from.</param>
/// <param name="Line">Line of the record.</param>
public sealed record ClassificationExample(int[] InputIds, int Label, string Source, long Line)
{
    /// <summary>Whether <see cref="TokenizationOptions.MaxLength"/> cut this example.</summary>
    public bool Truncated { get; init; }

    /// <summary>Number of tokens.</summary>
    public int Length => InputIds.Length;
}
