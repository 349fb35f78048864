using PeftSharp.Training.Data;

namespace PeftSharp.Training.Quickstart;

/// <summary>
/// The quickstart's epoch orders, fed to the shared <see cref="EpochSampler"/> in place of its own permutation. They
/// come from <see cref="Random.Shuffle{T}(T[])"/> (Fisher–Yates with <see cref="Random"/>) rather than
/// <see cref="EpochSampler.Permutation"/> because the shipped quickstart model was pretrained on this order: keeping it
/// lets <c>peft pretrain</c> reproduce that model and the quickstart reproduce its scores.
/// </summary>
internal static class QuickstartShuffle
{
    /// <summary>A permutation of 0..n-1 drawn from <see cref="Random"/> with this seed.</summary>
    public static int[] Order(int n, int seed)
    {
        var order = Enumerable.Range(0, n).ToArray();
        new Random(seed).Shuffle(order);
        return order;
    }

    /// <summary>Full batches of <paramref name="batch"/> over <paramref name="count"/> items, epoch e ordered by <c>Order(count, seedOf(e))</c>.</summary>
    public static EpochSampler Sampler(int count, int batch, Func<long, int> seedOf) =>
        new(count, batch, dropLast: true, epoch => Order(count, seedOf(epoch)));
}
