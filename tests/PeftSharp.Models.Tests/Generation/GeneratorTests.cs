using PeftSharp.Models;
using PeftSharp.Models.Generation;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Models.Tests.Generation;

// Generation on the tiny Llama (vocab 128, GQA 4/2 heads) and GPT-2 fixtures. The reference is the model itself run
// WITHOUT a cache on the whole sequence every step (full recomputation), so the cache, the padding, the positions and
// the step loop are each checked against the plain forward pass.
public sealed class GeneratorTests
{
    public static TheoryData<string> CausalFixtures => new() { "llama-lora", "gpt2-lora" };

    private static readonly int[][] Prompts = [[5, 17, 42, 9, 100], [3, 77, 12, 64, 1, 2, 8, 90, 31], [44]];

    /// <summary>Greedy decoding by full recomputation, with transformers' repetition penalty over the whole row.</summary>
    private static List<int> ReferenceGreedy(CausalLanguageModel model, int[] prompt, int steps, float penalty = 1f, ISet<int>? eos = null)
    {
        var ids = new List<int>(prompt);
        var generated = new List<int>();
        using var noGrad = GradMode.NoGrad();
        for (int s = 0; s < steps; s++)
        {
            var logits = model.Forward(new ModelInput { InputIds = Tensor.FromInts(ids.ToArray(), 1, ids.Count) }).Logits;
            var last = logits.ToArray().AsSpan((ids.Count - 1) * model.VocabSize, model.VocabSize).ToArray();
            foreach (int id in ids.Distinct())
            {
                last[id] = last[id] > 0 ? last[id] / penalty : last[id] * penalty;
            }
            int best = 0;
            for (int i = 1; i < last.Length; i++)
            {
                if (last[i] > last[best])
                {
                    best = i;
                }
            }
            ids.Add(best);
            generated.Add(best);
            if (eos is not null && eos.Contains(best))
            {
                break;
            }
        }
        return generated;
    }

    private static GenerationOptions Greedy(int n) => new() { MaxNewTokens = n, EosTokenIds = [] };

    [Theory]
    [MemberData(nameof(CausalFixtures))]
    public void GreedyWithCache_EqualsFullRecomputation(string fixture)
    {
        var model = Fixtures.Model(fixture);
        foreach (var prompt in Prompts)
        {
            var result = Generator.Generate(model, [prompt], Greedy(16));
            Assert.Equal(ReferenceGreedy(model, prompt, 16), result[0].Tokens);
            Assert.Equal(StopReason.MaxNewTokens, result[0].Reason);
        }
    }

    [Theory]
    [MemberData(nameof(CausalFixtures))]
    public void LeftPaddedBatch_EachRowEqualsGeneratingItAlone(string fixture)
    {
        var model = Fixtures.Model(fixture);
        var batch = Generator.Generate(model, Prompts, Greedy(12) with { PadTokenId = 7 });
        Assert.Equal(Prompts.Length, batch.Count);
        for (int r = 0; r < Prompts.Length; r++)
        {
            var alone = Generator.Generate(model, [Prompts[r]], Greedy(12));
            Assert.Equal(alone[0].Tokens, batch[r].Tokens);
            // And both equal the cache-free reference.
            Assert.Equal(ReferenceGreedy(model, Prompts[r], 12), batch[r].Tokens);
        }
    }

    [Theory]
    [MemberData(nameof(CausalFixtures))]
    public void LeftPaddedBatch_StepLogitsEqualSingleRowLogits(string fixture)
    {
        // Tokens can hide a small error (an arg-max rarely flips); the logits of every step cannot.
        var model = Fixtures.Model(fixture);
        int v = model.VocabSize;
        var batched = new List<float[]>();
        Generator.Generate(model, Prompts, Greedy(6), null, (_, logits) => batched.Add((float[])logits.Clone()));
        for (int r = 0; r < Prompts.Length; r++)
        {
            var alone = new List<float[]>();
            Generator.Generate(model, [Prompts[r]], Greedy(6), null, (_, logits) => alone.Add((float[])logits.Clone()));
            Assert.Equal(alone.Count, batched.Count);
            for (int step = 0; step < alone.Count; step++)
            {
                for (int i = 0; i < v; i++)
                {
                    float e = alone[step][i], a = batched[step][r * v + i];
                    // Padding only adds exact zeros to the attention sums; what remains is GEMM blocking (M = 1 vs M = 3).
                    Assert.True(Math.Abs(e - a) <= 1e-4f * (1 + Math.Abs(e)), $"row {r} step {step} logit {i}: {a} vs {e}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(CausalFixtures))]
    public void RepetitionPenalty_MatchesReferenceDefinition(string fixture)
    {
        var model = Fixtures.Model(fixture);
        var options = Greedy(12) with { RepetitionPenalty = 1.8f };
        var batch = Generator.Generate(model, Prompts, options);
        for (int r = 0; r < Prompts.Length; r++)
        {
            Assert.Equal(ReferenceGreedy(model, Prompts[r], 12, penalty: 1.8f), batch[r].Tokens);
        }
        // A strong penalty must change a plain greedy run that repeats itself, otherwise this test proves nothing.
        var plain = Generator.Generate(model, Prompts, Greedy(12));
        Assert.Contains(Enumerable.Range(0, Prompts.Length), r => !plain[r].Tokens.SequenceEqual(batch[r].Tokens));
    }

    [Fact]
    public void PrefillLastPositionLogits_EqualLastRowOfFullLogits()
    {
        foreach (var fixture in new[] { "llama-lora", "gpt2-lora" })
        {
            var model = Fixtures.Model(fixture);
            using var noGrad = GradMode.NoGrad();
            var ids = Tensor.FromInts(Prompts[1], 1, Prompts[1].Length);
            var full = model.Forward(new ModelInput { InputIds = ids }).Logits;
            var last = model.Forward(new ModelInput { InputIds = ids, LastPositionLogitsOnly = true }).Logits;
            Assert.Equal([1, 1, model.VocabSize], last.Shape.ToArray());
            var expected = full.ToArray().AsSpan((Prompts[1].Length - 1) * model.VocabSize).ToArray();
            var actual = last.ToArray();
            // Same rows through the same head; only the GEMM path (M = T vs M = 1) changes the summation order.
            for (int i = 0; i < expected.Length; i++)
            {
                Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4f * (1 + Math.Abs(expected[i])), $"{fixture} logit {i}: {actual[i]} vs {expected[i]}");
            }
        }
    }

    [Fact]
    public void PreallocatedCache_ChunkedForwardEqualsFullForward()
    {
        var model = Fixtures.Model("llama-lora");
        var ids = Prompts[1];
        using var noGrad = GradMode.NoGrad();
        var full = model.Forward(new ModelInput { InputIds = Tensor.FromInts(ids, 1, ids.Length) }).Logits.ToArray();
        var (kvHeads, headDim) = model.KvShape;
        var cache = KvCache.Preallocated(model.NumLayers, 1, kvHeads, headDim, ids.Length);
        AssertChunkedForwardEqualsFull(model, ids, cache, full, "preallocated");
        var overflow = Assert.Throws<InvalidOperationException>(() =>
            model.Forward(new ModelInput { InputIds = Tensor.FromInts([1], 1, 1), Cache = cache }));
        Assert.Contains("9 positions", overflow.Message);
    }

    /// <summary>
    /// No-grad forwards in one pooled scope return each layer's temporaries to the pool; a growing cache's concatenated
    /// keys/values must survive that, and the preallocated cache's outputs must be unaffected by it.
    /// </summary>
    [Theory]
    [MemberData(nameof(CausalFixtures))]
    public void OnePooledScope_ManyForwards_GrowingAndPreallocatedCaches_EqualFullForward(string fixture)
    {
        var model = Fixtures.Model(fixture);
        var ids = Prompts[1];
        using var noGrad = GradMode.NoGrad();
        var full = model.Forward(new ModelInput { InputIds = Tensor.FromInts(ids, 1, ids.Length) }).Logits.ToArray();
        var (kvHeads, headDim) = model.KvShape;
        foreach (var cache in new[] { new KvCache(model.NumLayers), KvCache.Preallocated(model.NumLayers, 1, kvHeads, headDim, ids.Length) })
        {
            using var scope = TensorScope.Begin();
            AssertChunkedForwardEqualsFull(model, ids, cache, full, $"{fixture} capacity {cache.Capacity}");
        }
    }

    /// <summary>Feeds <paramref name="ids"/> through the cache in chunks of 4, 1, 3, 1 and compares each chunk's logits with the full forward's.</summary>
    private static void AssertChunkedForwardEqualsFull(CausalLanguageModel model, int[] ids, KvCache cache, float[] full, string label)
    {
        int v = model.VocabSize, done = 0;
        foreach (int chunk in new[] { 4, 1, 3, 1 })
        {
            var part = model.Forward(new ModelInput { InputIds = Tensor.FromInts(ids.AsSpan(done, chunk), 1, chunk), Cache = cache }).Logits.ToArray();
            for (int i = 0; i < chunk * v; i++)
            {
                float e = full[done * v + i];
                // float32 products of a 64-wide model in a different blocking: 1e-4 relative is far above rounding.
                Assert.True(Math.Abs(e - part[i]) <= 1e-4f * (1 + Math.Abs(e)), $"{label}, position {done + i / v}, logit {i % v}: {part[i]} vs {e}");
            }
            done += chunk;
            Assert.Equal(done, cache.Length);
        }
    }

    [Fact]
    public void PreallocatedCache_RejectsBadSizesShapesAndGradients()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => KvCache.Preallocated(2, 1, 2, 16, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => KvCache.Preallocated(2, 1 << 16, 1 << 8, 1 << 8, 1 << 8));
        var cache = KvCache.Preallocated(1, 1, 2, 4, 8);
        var wrong = Assert.Throws<ArgumentException>(() => cache.Append(0, Tensor.Zeros(1, 3, 2, 4), Tensor.Zeros(1, 3, 2, 4)));
        Assert.Contains("[1, 2, 8, 4]", wrong.Message);
        var k = Tensor.Zeros(1, 2, 1, 4);
        k.RequiresGrad = true;
        Assert.Contains("NoGrad", Assert.Throws<InvalidOperationException>(() => cache.Append(0, k, Tensor.Zeros(1, 2, 1, 4))).Message);
    }

    [Fact]
    public void LastPositionLogits_WithLabels_IsRejected()
    {
        var model = Fixtures.Model("llama-lora");
        var ids = Tensor.FromInts(Prompts[0], 1, Prompts[0].Length);
        var e = Assert.Throws<ArgumentException>(() => model.Forward(new ModelInput { InputIds = ids, Labels = ids, LastPositionLogitsOnly = true }));
        Assert.Contains("labels", e.Message);
    }

    [Fact]
    public void EosToken_EndsOnlyItsRow_AndIsKept()
    {
        var model = Fixtures.Model("llama-lora");
        var free = Generator.Generate(model, Prompts, Greedy(10));
        int eos = free[0].Tokens[3];                 // row 0 produces it at step 4
        var eosSet = new HashSet<int> { eos };
        var result = Generator.Generate(model, Prompts, Greedy(10) with { EosTokenIds = [eos] });
        for (int r = 0; r < Prompts.Length; r++)
        {
            var expected = ReferenceGreedy(model, Prompts[r], 10, eos: eosSet);
            Assert.Equal(expected, result[r].Tokens);
            Assert.Equal(expected[^1] == eos ? StopReason.EosToken : StopReason.MaxNewTokens, result[r].Reason);
        }
        Assert.Equal(StopReason.EosToken, result[0].Reason);
        Assert.True(result[0].Tokens.Length <= 4);
    }

    [Fact]
    public void EosFromConfig_IsUsedWhenOptionsGiveNone()
    {
        var model = Fixtures.Model("llama-lora");
        Assert.Equal([2], model.EosTokenIds);
        var result = Generator.Generate(model, Prompts, new GenerationOptions { MaxNewTokens = 40 });
        for (int r = 0; r < Prompts.Length; r++)
        {
            var expected = ReferenceGreedy(model, Prompts[r], 40, eos: new HashSet<int> { 2 });
            Assert.Equal(expected, result[r].Tokens);
        }
    }

    [Fact]
    public void StopString_EndsTheRow_AndIsCutFromTheText()
    {
        var model = Fixtures.Model("gpt2-lora");
        static string Decode(IReadOnlyList<int> ids) => string.Concat(ids.Select(i => $"<{i}>"));
        var free = Generator.Generate(model, [Prompts[0]], Greedy(10));
        // Stop on the text of tokens 3 and 4 together: the row must end right after token 4.
        string stop = $"<{free[0].Tokens[2]}><{free[0].Tokens[3]}>";
        int firstAt = Decode(free[0].Tokens).IndexOf(stop, StringComparison.Ordinal);
        var result = Generator.Generate(model, [Prompts[0]], Greedy(10) with { StopStrings = ["never-produced", stop], Decode = Decode });
        Assert.Equal(StopReason.StopString, result[0].Reason);
        var expectedTokens = free[0].Tokens.Take(result[0].Tokens.Length).ToArray();
        Assert.Equal(expectedTokens, result[0].Tokens);
        Assert.Contains(stop, Decode(result[0].Tokens));
        Assert.DoesNotContain(stop, Decode(result[0].Tokens[..^1]));
        Assert.Equal(Decode(free[0].Tokens)[..firstAt], result[0].Text);
    }

    [Fact]
    public void StreamingCallback_SeesEveryTokenInOrder()
    {
        var model = Fixtures.Model("llama-lora");
        var seen = Enumerable.Range(0, Prompts.Length).Select(_ => new List<int>()).ToArray();
        var result = Generator.Generate(model, Prompts, Greedy(6), (row, token) => seen[row].Add(token));
        for (int r = 0; r < Prompts.Length; r++)
        {
            Assert.Equal(result[r].Tokens, seen[r]);
        }
    }

    [Theory]
    [MemberData(nameof(CausalFixtures))]
    public void SeededSampling_IsReproducible_AndDependsOnTheSeed(string fixture)
    {
        var model = Fixtures.Model(fixture);
        var options = new GenerationOptions { MaxNewTokens = 12, Greedy = false, Temperature = 1.5f, TopK = 50, TopP = 0.95f, Seed = 11, EosTokenIds = [] };
        var a = Generator.Generate(model, Prompts, options);
        var b = Generator.Generate(model, Prompts, options);
        var c = Generator.Generate(model, Prompts, options with { Seed = 12 });
        for (int r = 0; r < Prompts.Length; r++)
        {
            Assert.Equal(a[r].Tokens, b[r].Tokens);
        }
        Assert.Contains(Enumerable.Range(0, Prompts.Length), r => !a[r].Tokens.SequenceEqual(c[r].Tokens));
        var greedy = Generator.Generate(model, Prompts, Greedy(12));
        Assert.Contains(Enumerable.Range(0, Prompts.Length), r => !a[r].Tokens.SequenceEqual(greedy[r].Tokens));
    }

    [Fact]
    public void ZeroNewTokens_ReturnsEmptySequences()
    {
        var result = Generator.Generate(Fixtures.Model("llama-lora"), Prompts, Greedy(0));
        Assert.All(result, s => Assert.Empty(s.Tokens));
    }

    [Fact]
    public void BadInput_IsRejectedWithASpecificMessage()
    {
        var model = Fixtures.Model("llama-lora");
        Assert.Contains("at least one prompt", Assert.Throws<ArgumentException>(() => Generator.Generate(model, [], Greedy(4))).Message);
        Assert.Contains("Prompt 1 is empty", Assert.Throws<ArgumentException>(() => Generator.Generate(model, [[1], []], Greedy(4))).Message);
        Assert.Contains("Prompt 0 position 1: token id 128", Assert.Throws<ArgumentException>(() => Generator.Generate(model, [[1, 128]], Greedy(4))).Message);
        Assert.Contains("MaxNewTokens", Assert.Throws<ArgumentException>(() => Generator.Generate(model, [[1]], Greedy(-1))).Message);
        Assert.Contains("Temperature", Assert.Throws<ArgumentException>(() => Generator.Generate(model, [[1]], Greedy(4) with { Greedy = false, Temperature = 0 })).Message);
        Assert.Contains("TopP", Assert.Throws<ArgumentException>(() => Generator.Generate(model, [[1]], Greedy(4) with { TopP = 0 })).Message);
        Assert.Contains("Decode", Assert.Throws<ArgumentException>(() => Generator.Generate(model, [[1]], Greedy(4) with { StopStrings = ["x"] })).Message);
        Assert.Contains("EOS token id 500", Assert.Throws<ArgumentException>(() => Generator.Generate(model, [[1]], Greedy(4) with { EosTokenIds = [500] })).Message);
    }
}
