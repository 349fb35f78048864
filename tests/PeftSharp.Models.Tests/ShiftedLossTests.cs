using PeftSharp.Models;
using PeftSharp.Tensors;

namespace PeftSharp.Models.Tests;

public class ShiftedLossTests
{
    [Fact]
    public void ShiftedLoss_EqualsCrossEntropyOverTheNarrowedLogits_InValueAndGradient()
    {
        // The transformers definition, spelled out: logits at 0..T−2 against labels at 1..T−1, −100 ignored.
        const int b = 3, t = 6, v = 13;
        var data = Tensor.Uniform([b, t, v], -3f, 3f, new Rng(5)).ToArray();
        var labels = new[] { 1, 2, 3, 4, 5, 6, 7, -100, 8, 9, -100, 10, 11, 12, 0, 1, 2, -100 };

        var x1 = Tensor.FromArray(data, b, t, v);
        x1.RequiresGrad = true;
        var loss = CausalLanguageModel.ShiftedLoss(x1, Tensor.FromInts(labels, b, t));
        loss.Backward();

        var x2 = Tensor.FromArray(data, b, t, v);
        x2.RequiresGrad = true;
        var targets = new List<int>();
        for (int i = 0; i < b; i++)
        {
            targets.AddRange(labels.Skip(i * t + 1).Take(t - 1));
        }
        var expected = Tensor.CrossEntropy(x2.Narrow(1, 0, t - 1).Reshape(b * (t - 1), v), Tensor.FromInts(targets.ToArray(), targets.Count));
        expected.Backward();

        Assert.Equal(expected.Item(), loss.Item());
        Assert.Equal(x2.Grad!.ToArray(), x1.Grad!.ToArray());
        var grad = x1.Grad!.ToArray();
        for (int i = 0; i < b; i++)
        {
            Assert.All(grad.AsSpan(((i * t) + t - 1) * v, v).ToArray(), g => Assert.Equal(0f, g));   // the last position predicts nothing
        }
    }
}
