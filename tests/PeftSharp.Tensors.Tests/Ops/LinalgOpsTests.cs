using PeftSharp.Tensors;

namespace PeftSharp.Tensors.Tests.Ops;

public class LinalgOpsTests
{
    /// <summary>A well-conditioned batch: I·c + small random entries (diagonally dominant, so no pivot is tiny).</summary>
    private static Tensor WellConditioned(int batch, int n, ulong seed, float diagonal = 3f)
    {
        var t = GradCheck.Rand(new Rng(seed), batch, n, n);
        var s = t.Span;
        for (int b = 0; b < batch; b++)
        {
            for (int i = 0; i < n; i++)
            {
                s[b * n * n + i * n + i] += diagonal;
            }
        }
        return t;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 2)]
    [InlineData(2, 7)]
    [InlineData(1, 16)]
    public void Inverse_TimesMatrixIsIdentity(int batch, int n)
    {
        var a = WellConditioned(batch, n, (ulong)(batch * 100 + n));
        var prod = Tensor.MatMul(a, a.Inverse()).ToArray();
        // float64 elimination rounded once to float32; the float32 product adds ~n ulps of |A|·|A⁻¹| ≈ 1.
        for (int b = 0; b < batch; b++)
        {
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    float expected = i == j ? 1f : 0f;
                    Assert.True(Math.Abs(prod[b * n * n + i * n + j] - expected) < 1e-5, $"batch {b} ({i},{j}) = {prod[b * n * n + i * n + j]}");
                }
            }
        }
    }

    [Fact]
    public void Inverse_NeedsPivoting_WhenTheLeadingEntryIsZero()
    {
        var a = Tensor.FromArray([0f, 2f, 1f, 0f], 2, 2);
        Assert.Equal([0f, 1f, 0.5f, 0f], a.Inverse().ToArray());
    }

    [Fact]
    public void Inverse_Gradient_MatchesFiniteDifferences()
    {
        GradCheck.Check(x => x[0].Inverse(), [WellConditioned(2, 4, 5)]);
        GradCheck.Check(x => Tensor.MatMul(x[1], x[0].Inverse()), [WellConditioned(3, 3, 6), GradCheck.Rand(new Rng(8), 3, 2, 3)]);
    }

    [Fact]
    public void Inverse_SingularMatrix_NamesTheBatchIndex()
    {
        var a = Tensor.FromArray([1f, 0f, 0f, 1f, 1f, 2f, 2f, 4f], 2, 2, 2);
        var ex = Assert.Throws<InvalidOperationException>(() => a.Inverse());
        Assert.Contains("matrix 1", ex.Message);
    }

    [Fact]
    public void Inverse_NonSquare_IsRejected()
    {
        Assert.Throws<ArgumentException>(() => Tensor.Zeros(2, 3).Inverse());
        Assert.Throws<ArgumentException>(() => Tensor.Zeros(4).Inverse());
    }
}
