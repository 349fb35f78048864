using PeftSharp.Nn;
using PeftSharp.Tensors;

namespace PeftSharp.Nn.Tests;

public class ModuleTests
{
    private sealed class Block : Module
    {
        public Block()
        {
            RegisterModule("fc1", new Linear(4, 8, rng: new Rng(1)));
            RegisterModule("act", Activation.Relu());
            RegisterModule("fc2", new Linear(8, 3, bias: false, rng: new Rng(2)));
            RegisterBuffer("scale", Tensor.Full([3], 2f));
        }

        public override Tensor Forward(Tensor x) => Child("fc2").Forward(Child("act").Forward(Child("fc1").Forward(x))).Mul(Buffer("scale"));
    }

    private sealed class Model : Module
    {
        public Model()
        {
            RegisterModule("layers", new Sequential(new Block(), new Block()));
        }
    }

    [Fact]
    public void NamedParameters_UseDottedHuggingFacePaths_InRegistrationOrder()
    {
        var names = new Model().NamedParameters().Select(p => p.Name).ToArray();
        Assert.Equal(
            ["layers.0.fc1.weight", "layers.0.fc1.bias", "layers.0.fc2.weight", "layers.1.fc1.weight", "layers.1.fc1.bias", "layers.1.fc2.weight"],
            names);
        Assert.Equal(["layers.0.scale", "layers.1.scale"], new Model().NamedBuffers().Select(b => b.Name).ToArray());
    }

    [Fact]
    public void Get_And_ReplaceChild_SwapModulesByPath()
    {
        var m = new Model();
        var block = (Block)m.Get("layers.1");
        var fc1 = (Linear)m.Get("layers.1.fc1");
        Assert.Equal(8, fc1.OutFeatures);
        block.ReplaceChild("fc1", new Linear(4, 8, rng: new Rng(9)));
        Assert.NotSame(fc1, m.Get("layers.1.fc1"));
        var ex = Assert.Throws<KeyNotFoundException>(() => m.Get("layers.1.fc9"));
        Assert.Contains("fc9", ex.Message);
    }

    [Fact]
    public void TrainEval_PropagatesToDescendants_AndDropoutFollows()
    {
        var d = new Dropout(0.5f, new Rng(1));
        var seq = new Sequential(d);
        var x = Tensor.Ones(64);
        seq.Eval();
        Assert.False(d.Training);
        Assert.Equal(x.ToArray(), seq.Forward(x).ToArray());
        seq.Train();
        Assert.Contains(0f, seq.Forward(x).ToArray());
    }

    [Fact]
    public void Linear_DefaultInit_IsWithinTorchBounds()
    {
        var l = new Linear(16, 4, rng: new Rng(3));
        Assert.All(l.Weight.ToArray(), v => Assert.InRange(v, -0.25f, 0.25f));
        Assert.True(l.Weight.RequiresGrad);
    }

    [Fact]
    public void Linear_RejectsMismatchedInput_NamingShapes()
    {
        var l = new Linear(4, 2);
        var ex = Assert.Throws<ArgumentException>(() => l.Forward(Tensor.Zeros(3, 5)));
        Assert.Contains("[3, 5]", ex.Message);
        Assert.Contains("[2, 4]", ex.Message);
    }
}
