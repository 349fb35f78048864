using PeftSharp.Models;
using PeftSharp.Tensors;
using PeftSharp.Text.Tokenization;
using PeftSharp.Training.Optimizers;
using PeftSharp.Training.Quickstart;
using Xunit.Abstractions;
namespace PeftSharp.Training.Tests;
public class ScratchQa(ITestOutputHelper output)
{
    [Theory]
    [InlineData("/work/qs/model2")]
    [InlineData("fresh")]
    public void FullFineTune(string dir)
    {
        var tok = Tokenizer.FromDirectory("/work/qs/model2");
        var model = dir == "fresh" ? (CausalLanguageModel)Pretraining.NewModel(new PretrainOptions()) : (CausalLanguageModel)AutoModel.FromPretrained(dir);
        model.RequiresGrad(true);
        var train = QuickstartRunner.Encode(tok, SyntheticWorld.Questions(7, 2000));
        var test = QuickstartRunner.Encode(tok, SyntheticWorld.Questions(9, 200));
        var named = model.NamedParameters().Where(p => p.Name != "lm_head.weight").ToArray();
        var opt = new AdamW(named, 1e-3, 0.9, 0.999, weightDecay: 0);
        var rng = new Rng(1);
        for (int step = 0; step < 300; step++)
        {
            using var scope = TensorScope.Begin();
            var rows = Enumerable.Range(0, 32).Select(_ => train[rng.NextInt(train.Count)]).ToArray();
            int len = rows[0].Ids.Length;
            var ids = Tensor.FromInts(rows.SelectMany(r => r.Ids).ToArray(), 32, len);
            var labels = Tensor.FromInts(rows.SelectMany(r => r.Labels).ToArray(), 32, len);
            var loss = model.Forward(new ModelInput { InputIds = ids, Labels = labels }).Loss!;
            loss.Backward();
            opt.Step();
            opt.ZeroGrad();
            if (step % 100 == 99) output.WriteLine($"{dir} step {step}: loss {loss.Item():F3}, test acc {QuickstartRunner.Score(model, test).Accuracy:P1}");
        }
    }
}
