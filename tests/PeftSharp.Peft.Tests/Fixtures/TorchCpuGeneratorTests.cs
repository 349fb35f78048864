using PeftSharp.Peft.Math;

namespace PeftSharp.Peft.Tests.Fixtures;

/// <summary>
/// The torch CPU generator against independent references: MT19937's published 10000th output for the reference
/// seed 5489 (C++ std::mt19937 requires 4123659995), a full Fisher–Yates shuffle written out plainly (the prefix
/// shortcut must agree with it, the last entry included), and hostile arguments.
/// </summary>
public sealed class TorchCpuGeneratorTests
{
    [Fact]
    public void Mt19937_TenThousandthOutputOfDefaultSeed()
    {
        var g = new TorchCpuGenerator(5489);
        uint last = 0;
        for (int i = 0; i < 10000; i++)
        {
            last = g.NextUInt32();
        }
        Assert.Equal(4123659995u, last);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(7, 3)]
    [InlineData(7, 7)]
    [InlineData(4096, 64)]
    [InlineData(1000, 1000)]
    public void RandpermPrefix_EqualsFullShuffle(int n, int count)
    {
        var full = new long[n];
        for (int i = 0; i < n; i++)
        {
            full[i] = i;
        }
        var g = new TorchCpuGenerator(777);
        for (int i = 0; i < n - 1; i++)
        {
            long z = g.NextUInt32() % (n - i);
            (full[i], full[i + z]) = (full[i + z], full[i]);
        }
        Assert.Equal(full.Take(count).ToArray(), new TorchCpuGenerator(777).RandpermPrefix(n, count));
    }

    [Fact]
    public void RandpermPrefix_RejectsBadArguments()
    {
        var g = new TorchCpuGenerator(1);
        Assert.Throws<ArgumentOutOfRangeException>(() => g.RandpermPrefix(5, 6));
        Assert.Throws<ArgumentOutOfRangeException>(() => g.RandpermPrefix(5, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => g.RandpermPrefix(TorchCpuGenerator.RandpermLimit, 1));
    }
}
