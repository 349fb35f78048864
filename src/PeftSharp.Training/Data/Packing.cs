namespace PeftSharp.Training.Data;

/// <summary>
/// Packing: examples are joined end to end (in the order given) and the stream is cut into rows of exactly
/// <c>rowLength</c> tokens; only the last row may be shorter (it is padded when batched). Each token keeps its label,
/// so prompt and non-assistant tokens stay -100 inside a row. An example may start in one row and end in the next.
/// As in standard packing, attention spans the whole row (an example can attend to the tail of the one before it);
/// no -100 is put at example boundaries, so the first token of an example is predicted from the previous one.
/// </summary>
public static class Packing
{
    /// <summary>Packs <paramref name="examples"/> into rows of <paramref name="rowLength"/> tokens.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rowLength"/> is less than 1.</exception>
    public static List<TokenizedExample> Pack(IEnumerable<TokenizedExample> examples, int rowLength)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentOutOfRangeException.ThrowIfLessThan(rowLength, 1);
        var rows = new List<TokenizedExample>();
        var ids = new int[rowLength];
        var labels = new int[rowLength];
        int fill = 0;
        string? source = null;
        long line = 0;
        foreach (var e in examples)
        {
            int taken = 0;
            while (taken < e.Length)
            {
                if (fill == 0)
                {
                    (source, line) = (e.Source, e.Line);
                }
                int n = Math.Min(rowLength - fill, e.Length - taken);
                Array.Copy(e.InputIds, taken, ids, fill, n);
                Array.Copy(e.Labels, taken, labels, fill, n);
                fill += n;
                taken += n;
                if (fill == rowLength)
                {
                    rows.Add(new TokenizedExample((int[])ids.Clone(), (int[])labels.Clone(), source!, line));
                    fill = 0;
                }
            }
        }
        if (fill > 0)
        {
            rows.Add(new TokenizedExample(ids[..fill], labels[..fill], source!, line));
        }
        return rows;
    }
}
