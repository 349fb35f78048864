using PeftSharp.Models;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;
using PeftSharp.Text.Tokenization;
using PeftSharp.Training.Quickstart;
using Xunit.Abstractions;

namespace PeftSharp.Training.Tests;

public class ScratchProbe(ITestOutputHelper output)
{
    [Fact]
    public void Probe()
    {
        var dir = "/work/qs/model2";
        var model = (CausalLanguageModel)AutoModel.FromPretrained(dir);
        var tok = Tokenizer.FromDirectory(dir);
        model.Eval();
        var names = new HashSet<int>(SyntheticWorld.Names.Select(n => tok.TokenToId(n)!.Value));
        double seenSum = 0, unseenSum = 0; int seen = 0, unseen = 0;
        using var ng = GradMode.NoGrad();
        foreach (var story in SyntheticWorld.Corpus(99, 100))
        {
            var ids = tok.Encode(story, false).Ids.ToArray();
            if (ids.Length > 120) ids = ids[..120];
            var logits = model.Forward(new ModelInput { InputIds = Tensor.FromInts(ids, 1, ids.Length) }).Logits;
            var lp = logits.Reshape(ids.Length, -1).LogSoftmax().ToArray();
            int v = logits.Dim(2);
            for (int i = 1; i < ids.Length; i++)
            {
                if (!names.Contains(ids[i])) continue;
                double l = -lp[(i - 1) * v + ids[i]];
                if (ids[..i].Contains(ids[i])) { seenSum += l; seen++; } else { unseenSum += l; unseen++; }
            }
        }
        output.WriteLine($"name already in story: loss {seenSum / seen:F3} over {seen}; new name: {unseenSum / unseen:F3} over {unseen}; ln12 = {Math.Log(12):F3}");
    }
}
