namespace PeftSharp.Training.Benchmarks;

/// <summary>Summaries of repeated timings.</summary>
internal static class Statistics
{
    /// <summary>The median of <paramref name="values"/> (the mean of the two middle values for an even count); the list is left unchanged.</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        var v = values.Order().ToList();
        int n = v.Count;
        return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    }
}
