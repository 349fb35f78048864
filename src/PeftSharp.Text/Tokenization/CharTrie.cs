namespace PeftSharp.Text.Tokenization;

/// <summary>
/// A trie over UTF-16 chars mapping strings to non-negative values: node 0 is the root, an edge is the key
/// (node &lt;&lt; 16 | char) in one hash map, and each node stores its value or -1. Used by the added-token matcher
/// and the Unigram model to walk every vocabulary entry that starts at a position.
/// </summary>
internal sealed class CharTrie
{
    private readonly Dictionary<long, int> _children = new(PairKeyComparer.Instance);
    private readonly List<int> _values = new() { -1 };

    /// <summary>Stores <paramref name="value"/> for <paramref name="key"/> unless the key already has one; true when stored.</summary>
    public bool TryAdd(ReadOnlySpan<char> key, int value)
    {
        int node = 0;
        foreach (char c in key)
        {
            long edge = ((long)node << 16) | c;
            if (!_children.TryGetValue(edge, out int child))
            {
                child = _values.Count;
                _values.Add(-1);
                _children[edge] = child;
            }
            node = child;
        }
        if (_values[node] >= 0)
        {
            return false;
        }
        _values[node] = value;
        return true;
    }

    /// <summary>Follows the edge for <paramref name="c"/> from <paramref name="node"/>; false when there is none.</summary>
    public bool TryStep(int node, char c, out int child) => _children.TryGetValue(((long)node << 16) | c, out child);

    /// <summary>The value stored at <paramref name="node"/>, or -1.</summary>
    public int ValueAt(int node) => _values[node];
}
