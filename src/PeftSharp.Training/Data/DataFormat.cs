namespace PeftSharp.Training.Data;

/// <summary>The shape of the records in a data file.</summary>
public enum DataFormat
{
    /// <summary>Decided by the first valid record: <c>messages</c> → <see cref="Messages"/>; <c>prompt</c> and
    /// <c>completion</c> → <see cref="PromptCompletion"/>; <c>text</c> and <c>label</c> → <see cref="Classification"/>;
    /// <c>text</c> → <see cref="Text"/>. CSV files are always <see cref="Classification"/>.</summary>
    Auto,

    /// <summary><c>{"text": ...}</c>: causal language modelling on every token.</summary>
    Text,

    /// <summary><c>{"prompt": ..., "completion": ...}</c>: loss on the completion only.</summary>
    PromptCompletion,

    /// <summary><c>{"messages": [{"role": ..., "content": ...}, ...]}</c>: rendered with the chat template; loss on assistant turns only.</summary>
    Messages,

    /// <summary><c>{"text": ..., "label": ...}</c> (or CSV): one label per text.</summary>
    Classification,
}

/// <summary>How string class labels are numbered when no explicit label list is given.</summary>
public enum LabelOrder
{
    /// <summary>Ordinal (culture-independent) sort of the distinct label strings: stable whatever the file order.</summary>
    Sorted,

    /// <summary>In the order the labels first appear in the file.</summary>
    FirstSeen,
}
