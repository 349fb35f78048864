using PeftSharp.Tensors;

namespace PeftSharp.Peft.Core;

/// <summary>
/// Runs a mixed batch: rows are grouped by the adapter they name, each group runs once, and the results are put
/// back in row order (concatenate, then an index-select by the inverse permutation, so gradients flow too).
/// </summary>
internal static class RowGroups
{
    public static Tensor Run(Tensor input, IReadOnlyList<string> rows, Func<Tensor, string, Tensor> run)
    {
        if (input.Rank == 0 || input.Dim(0) != rows.Count)
        {
            throw new ArgumentException($"The batch has {(input.Rank == 0 ? 0 : input.Dim(0))} rows (input {Shapes.Format(input.Shape)}) but {rows.Count} per-row adapter names were given.");
        }
        var groups = new List<(string Name, List<int> Rows)>();
        for (int i = 0; i < rows.Count; i++)
        {
            var g = groups.FindIndex(t => t.Name == rows[i]);
            if (g < 0)
            {
                groups.Add((rows[i], new List<int> { i }));
            }
            else
            {
                groups[g].Rows.Add(i);
            }
        }
        if (groups.Count == 1)
        {
            return run(input, groups[0].Name);
        }
        var parts = new List<Tensor>(groups.Count);
        var order = new List<int>(rows.Count);
        foreach (var (name, idx) in groups)
        {
            parts.Add(run(SelectRows(input, idx), name));
            order.AddRange(idx);
        }
        var inverse = new int[order.Count];
        for (int k = 0; k < order.Count; k++)
        {
            inverse[order[k]] = k;
        }
        return Tensor.Cat(parts, 0).IndexSelect(0, Tensor.FromInts(inverse, inverse.Length));
    }

    private static Tensor SelectRows(Tensor x, List<int> rows)
    {
        if (x.DType != DType.I32)
        {
            return x.IndexSelect(0, Tensor.FromInts(rows.ToArray(), rows.Count));
        }
        var all = x.ToIntArray();
        int width = x.Numel / x.Dim(0);
        var picked = new int[rows.Count * width];
        for (int i = 0; i < rows.Count; i++)
        {
            Array.Copy(all, rows[i] * width, picked, i * width, width);
        }
        var shape = x.Shape.ToArray();
        shape[0] = rows.Count;
        return Tensor.FromInts(picked, shape);
    }
}
