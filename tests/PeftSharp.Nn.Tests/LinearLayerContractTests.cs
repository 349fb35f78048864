using PeftSharp.Nn;
using PeftSharp.Tensors;

namespace PeftSharp.Nn.Tests;

public class LinearLayerContractTests
{
    [Fact]
    public void Linear_ExposesOutInWeightThroughILinearLayer()
    {
        var lin = new Linear(3, 5, bias: true, new Rng(2));
        ILinearLayer view = lin;
        Assert.False(view.WeightIsTransposed);
        Assert.Equal(3, view.InFeatures);
        Assert.Equal(5, view.OutFeatures);
        Assert.Equal([5, 3], view.Weight.Shape.ToArray());
        Assert.Same(lin.Parameter(Linear.WeightName), view.Weight);
        Assert.Same(lin.Parameter(Linear.BiasName), view.Bias);
    }
}
