namespace PeftSharp.Training.Data;

/// <summary>Holds out a validation set deterministically.</summary>
public static class DataSplit
{
    /// <summary>
    /// Splits <paramref name="items"/> into train and validation: the validation set is the first k indices of a
    /// permutation seeded by <paramref name="seed"/> (a stream separate from the epoch shuffles), k =
    /// <paramref name="count"/>, or round(<paramref name="fraction"/> × n) but at least 1 when the fraction is positive.
    /// Both parts keep the original order. The same seed and data always give the same split.
    /// </summary>
    /// <exception cref="ArgumentException">Both or neither of fraction and count, a fraction outside (0, 1), or a split that leaves the training part empty.</exception>
    public static (List<T> Train, List<T> Validation) Split<T>(IReadOnlyList<T> items, double? fraction, int? count, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (fraction.HasValue == count.HasValue)
        {
            throw new ArgumentException("Give either a validation fraction or a validation count.");
        }
        int n = items.Count;
        int k;
        if (fraction is { } f)
        {
            if (!(f > 0 && f < 1))
            {
                throw new ArgumentException($"The validation fraction must be in (0, 1); got {f}.", nameof(fraction));
            }
            k = Math.Max(1, (int)Math.Round(f * n, MidpointRounding.AwayFromZero));
        }
        else
        {
            k = count!.Value;
            ArgumentOutOfRangeException.ThrowIfLessThan(k, 1, nameof(count));
        }
        if (k >= n)
        {
            throw new ArgumentException($"Holding out {k} of {n} records for validation leaves none to train on.");
        }
        // A distinct epoch number keeps this permutation independent of the epoch shuffles with the same seed.
        var order = EpochSampler.Permutation(n, seed, epoch: -2, shuffle: true);
        var held = new bool[n];
        for (int i = 0; i < k; i++)
        {
            held[order[i]] = true;
        }
        var train = new List<T>(n - k);
        var validation = new List<T>(k);
        for (int i = 0; i < n; i++)
        {
            (held[i] ? validation : train).Add(items[i]);
        }
        return (train, validation);
    }
}
