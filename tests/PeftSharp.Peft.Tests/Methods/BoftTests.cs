using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.Boft;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Peft.Tests.Methods;

public class BoftTests
{
    private sealed class One : Module
    {
        public One(Module m) => RegisterModule("proj", m);

        public override Tensor Forward(Tensor input) => Child("proj").Forward(input);
    }

    /// <summary>
    /// The forward pass equals PEFT's formula computed densely and independently: T = M_2·M_1·M_0 with
    /// M_i = P_i·B_i·P_iᵀ (P_i[k, perm_i[k]] = 1), y = x·T·Wᵀ ⊙ s + b. Float32 products of 8-term sums: atol 1e-5.
    /// </summary>
    [Fact]
    public void Forward_EqualsDenseButterflyProduct()
    {
        var rng = new Rng(4);
        var model = PeftModel.Create(new One(new Linear(8, 3, bias: true, rng)), new BoftConfig { TargetModules = ModuleSelector.List("proj"), BoftBlockSize = 2, BoftNButterflyFactor = 3 });
        TestSupport.Perturb(model, "default", std: 0.5f);
        var layer = (BoftLayer)model.AdapterLayers().Single().Layer;
        var a = layer.Adapter("default");
        using var _ = GradMode.NoGrad();
        var q = layer.Blocks("default");   // (3·4, 2, 2)
        Tensor t = Tensor.FromArray(Enumerable.Range(0, 64).Select(i => i / 8 == i % 8 ? 1f : 0f).ToArray(), 8, 8);
        for (int f = 0; f < 3; f++)
        {
            var p = new float[64];
            for (int k = 0; k < 8; k++)
            {
                p[k * 8 + a.Permutations[f][k]] = 1f;
            }
            var pm = Tensor.FromArray(p, 8, 8);
            var b = new float[64];
            var qf = q.Narrow(0, f * 4, 4).ToArray();
            for (int d = 0; d < 4; d++)
            {
                for (int i = 0; i < 2; i++)
                {
                    for (int j = 0; j < 2; j++)
                    {
                        b[(d * 2 + i) * 8 + d * 2 + j] = qf[d * 4 + i * 2 + j];
                    }
                }
            }
            var m = Tensor.MatMul(pm, Tensor.MatMul(Tensor.FromArray(b, 8, 8), pm.T));
            t = Tensor.MatMul(m, t);   // T = M_f · (previous product)
        }
        TestSupport.AssertClose(t.ToArray(), layer.DenseRotation("default"), 0, 1e-5, "T");
        Assert.Contains(a.Permutations, p => !p.SequenceEqual(Enumerable.Range(0, 8)));

        var x = Tensor.Uniform([5, 8], -1f, 1f, new Rng(9));
        var lin = (Linear)layer.BaseLayer;
        var expected = Tensor.MatMul(Tensor.MatMul(x, t), lin.Weight.T).Mul(a.S.Reshape(3)).Add(lin.Bias!);
        TestSupport.AssertClose(expected.ToArray(), model.Forward(x).ToArray(), 1e-5, 1e-5, "forward");
    }
}
