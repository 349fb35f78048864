using PeftSharp.Models.Generation;
using PeftSharp.Tensors;

namespace PeftSharp.Models.Tests.Generation;

// The processors against their definitions, on hand-made rows of logits.
public sealed class SamplingTests
{
    private static float[] RandomLogits(int n, ulong seed)
    {
        var rng = new Rng(seed);
        return Enumerable.Range(0, n).Select(_ => rng.NextNormal() * 3f).ToArray();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(63)]
    [InlineData(64)]
    public void TopK_KeepsExactlyTheKLargest(int k)
    {
        var logits = RandomLogits(64, (ulong)k);   // continuous values: no ties
        var original = (float[])logits.Clone();
        Sampling.ApplyTopK(logits, k);
        var expectedKept = original.Select((x, i) => (x, i)).OrderByDescending(p => p.x).Take(k).Select(p => p.i).ToHashSet();
        for (int i = 0; i < logits.Length; i++)
        {
            Assert.Equal(expectedKept.Contains(i) ? original[i] : float.NegativeInfinity, logits[i]);
        }
    }

    [Fact]
    public void TopK_KeepsTiesWithTheKthValue_AsTransformersDoes()
    {
        var logits = new[] { 1f, 3f, 2f, 2f, 0f };
        Sampling.ApplyTopK(logits, 2);
        Assert.Equal([float.NegativeInfinity, 3f, 2f, 2f, float.NegativeInfinity], logits);
    }

    [Theory]
    [InlineData(0.05f)]
    [InlineData(0.3f)]
    [InlineData(0.5f)]
    [InlineData(0.9f)]
    [InlineData(0.999f)]
    public void TopP_KeepsTheSmallestPrefixReachingP(float p)
    {
        var logits = RandomLogits(50, 99);
        var original = (float[])logits.Clone();
        Sampling.ApplyTopP(logits, p);
        // Definition in float64: probabilities sorted descending; the kept set is the shortest prefix with sum ≥ p.
        double max = original.Max();
        var probs = original.Select(x => Math.Exp(x - max)).ToArray();
        double z = probs.Sum();
        var order = Enumerable.Range(0, probs.Length).OrderByDescending(i => probs[i]).ToArray();
        int n = 0;
        double sum = 0;
        while (sum < p)
        {
            sum += probs[order[n++]] / z;
        }
        var kept = order.Take(n).ToHashSet();
        for (int i = 0; i < logits.Length; i++)
        {
            Assert.Equal(kept.Contains(i) ? original[i] : float.NegativeInfinity, logits[i]);
        }
        // Minimality: dropping the last kept token falls below p.
        Assert.True(order.Take(n - 1).Sum(i => probs[i] / z) < p);
    }

    [Fact]
    public void TopP_AlwaysKeepsTheMostLikelyToken()
    {
        var logits = new[] { 0f, 10f, 0f };
        Sampling.ApplyTopP(logits, 1e-6f);
        Assert.Equal([float.NegativeInfinity, 10f, float.NegativeInfinity], logits);
    }

    [Fact]
    public void Temperature_DividesLogits_SoProbabilitiesArePowersOfTheOriginal()
    {
        var logits = new[] { 1f, 2f, -0.5f, 0.25f };
        var scaled = (float[])logits.Clone();
        Sampling.ApplyTemperature(scaled, 0.5f);
        Assert.Equal([2f, 4f, -1f, 0.5f], scaled);
        // softmax(x / T) ∝ softmax(x)^(1/T)
        var p = Sampling.Softmax(logits);
        var q = Sampling.Softmax(scaled);
        double norm = p.Sum(x => x * x);
        for (int i = 0; i < p.Length; i++)
        {
            Assert.Equal(p[i] * p[i] / norm, q[i], 12);
        }
    }

    [Fact]
    public void RepetitionPenalty_DividesPositiveMultipliesNegative_OncePerToken()
    {
        var logits = new[] { 2f, -2f, 4f, 0f };
        Sampling.ApplyRepetitionPenalty(logits, [0, 1, 0, 0, 3], 2f);
        Assert.Equal([1f, -4f, 4f, 0f], logits);
        Assert.Throws<ArgumentOutOfRangeException>(() => Sampling.ApplyRepetitionPenalty(logits, [4], 2f));
    }

    [Fact]
    public void Sample_FrequenciesMatchSoftmax_AndNeverDrawRemovedTokens()
    {
        var logits = new[] { 0f, 1f, float.NegativeInfinity, 2f, -1f };
        var p = Sampling.Softmax(logits);
        var rng = new Rng(2024);
        var counts = new int[logits.Length];
        const int n = 40_000;
        for (int i = 0; i < n; i++)
        {
            counts[Sampling.Sample(logits, rng)]++;
        }
        Assert.Equal(0, counts[2]);
        for (int i = 0; i < logits.Length; i++)
        {
            // Binomial standard deviation √(n p (1 − p)); 5σ keeps this seeded check far from the noise.
            double sigma = Math.Sqrt(n * p[i] * (1 - p[i]));
            Assert.True(Math.Abs(counts[i] - n * p[i]) <= 5 * sigma + 1, $"token {i}: {counts[i]} draws, expected {n * p[i]:F0}");
        }
    }

    [Fact]
    public void ArgMax_TakesTheFirstOnTies()
    {
        Assert.Equal(1, Sampling.ArgMax([0f, 5f, 5f, 1f]));
        Assert.Throws<ArgumentException>(() => Sampling.ArgMax([]));
    }

    [Fact]
    public void Softmax_RejectsRowsWithNothingToDraw()
    {
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => Sampling.Softmax([0f, float.NaN])).Message);
        Assert.Throws<ArgumentException>(() => Sampling.Softmax([float.NegativeInfinity, float.NegativeInfinity]));
    }
}
