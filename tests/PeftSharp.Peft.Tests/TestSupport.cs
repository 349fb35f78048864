using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Formats;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Serialization;

namespace PeftSharp.Peft.Tests;

/// <summary>A GPT-2 Conv1D stand-in: y = x·W + b with W stored (in, out).</summary>
public sealed class TransposedLinear : Module, ILinearLayer
{
    public TransposedLinear(Tensor weightInOut, Tensor? bias)
    {
        RegisterParameter("weight", weightInOut);
        RegisterParameter("bias", bias);
    }

    public TransposedLinear(int inF, int outF, Rng rng)
        : this(Tensor.Uniform([inF, outF], -0.3f, 0.3f, rng), Tensor.Uniform([outF], -0.1f, 0.1f, rng))
    {
    }

    public int InFeatures => Weight.Dim(0);

    public int OutFeatures => Weight.Dim(1);

    public Tensor Weight => Parameter("weight")!;

    public Tensor? Bias => Parameter("bias");

    public bool WeightIsTransposed => true;

    public override Tensor Forward(Tensor input) => Tensor.Linear(input, Weight.T, Bias);
}

/// <summary>A container of parameters and children, built from state-dict keys.</summary>
public sealed class Node : Module
{
    public void Put(string name, Tensor t) => RegisterParameter(name, t);

    public void Add(string name, Module m) => AddChild(name, m);

    public override Tensor Forward(Tensor input)
    {
        foreach (var (_, c) in Children())
        {
            input = c.Forward(input);
        }
        return input;
    }
}

/// <summary>
/// Toy model for contract tests: ids → embed (V=11, 6) → fc1 (6→8) → tanh → fc2 (8→5, stored transposed like
/// Conv1D) → head (5→7). Inputs are int ids (B, T).
/// </summary>
public sealed class ToyModel : Module
{
    public ToyModel(ulong seed = 1)
    {
        var rng = new Rng(seed);
        RegisterModule("embed", new Embedding(Tensor.Normal([11, 6], 0, 1, rng)));
        RegisterModule("fc1", new Linear(6, 8, bias: true, rng));
        RegisterModule("fc2", new TransposedLinear(8, 5, rng));
        RegisterModule("head", new Linear(5, 7, bias: false, rng));
    }

    public override Tensor Forward(Tensor ids)
    {
        var h = Child("embed").Forward(ids);
        h = Child("fc1").Forward(h).Tanh();
        h = Child("fc2").Forward(h);
        return Child("head").Forward(h);
    }

    public static Tensor Ids(int batch, int tokens, ulong seed = 5)
    {
        var rng = new Rng(seed);
        var ids = new int[batch * tokens];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = rng.NextInt(11);
        }
        return Tensor.FromInts(ids, batch, tokens);
    }
}

public static class TestSupport
{
    /// <summary>
    /// Saves <paramref name="model"/> and checks the folder against the fixture's: same tensor names, every tensor
    /// byte for byte, "pt" format metadata, and an equal adapter_config.json.
    /// </summary>
    public static void AssertSavesLikeFixture(PeftModel model, string fixtureFolder)
    {
        var dir = TempDir();
        model.SavePretrained(dir);
        using var original = SafetensorsFile.Open(Path.Combine(fixtureFolder, AdapterFiles.WeightsFileName));
        using var saved = SafetensorsFile.Open(Path.Combine(dir, AdapterFiles.WeightsFileName));
        Assert.Equal("pt", saved.Metadata["format"]);
        Assert.Equal(original.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal), saved.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        foreach (var e in original.Tensors)
        {
            Assert.True(original.GetBytes(e.Name).SequenceEqual(saved.GetBytes(e.Name)), $"{e.Name} differs after save");
        }
        var a = ReadJson(Path.Combine(fixtureFolder, AdapterConfig.FileName));
        var b = ReadJson(Path.Combine(dir, AdapterConfig.FileName));
        Assert.True(JsonNode.DeepEquals(a, b), $"adapter_config.json differs:\n{a.ToJsonString()}\n{b.ToJsonString()}");
    }

    private static readonly string[] EmbeddingNames = ["embed_tokens", "wte", "wpe", "word_embeddings", "position_embeddings", "token_type_embeddings"];
    private static readonly string[] Conv1DNames = ["c_attn", "c_proj", "c_fc"];

    /// <summary>A module tree with the names and shapes of a model.safetensors: rank-2 "weight" → Linear / Embedding / Conv1D stand-in.</summary>
    public static Node TreeFromStateDict(string modelFile)
    {
        var tensors = TensorFile.Load(modelFile);
        var byModule = tensors.GroupBy(kv => kv.Key.Contains('.') ? kv.Key[..kv.Key.LastIndexOf('.')] : "")
            .OrderBy(g => g.Key, StringComparer.Ordinal);
        var root = new Node();
        foreach (var g in byModule)
        {
            var local = g.ToDictionary(kv => kv.Key[(kv.Key.LastIndexOf('.') + 1)..], kv => kv.Value);
            string last = g.Key[(g.Key.LastIndexOf('.') + 1)..];
            Module m;
            if (local.TryGetValue("weight", out var w) && w.Rank == 2 && local.Count <= 2 && local.Keys.All(k => k is "weight" or "bias"))
            {
                local.TryGetValue("bias", out var b);
                m = EmbeddingNames.Contains(last) ? new Embedding(w)
                    : Conv1DNames.Contains(last) && g.Key.StartsWith("transformer.", StringComparison.Ordinal) ? new TransposedLinear(w, b)
                    : new Linear(w, b);
            }
            else
            {
                var n = new Node();
                foreach (var (k, t) in local)
                {
                    n.Put(k, t);
                }
                m = n;
            }
            Attach(root, g.Key, m);
        }
        return root;
    }

    private static void Attach(Node root, string path, Module m)
    {
        var parts = path.Split('.');
        Module cur = root;
        for (int i = 0; i < parts.Length - 1; i++)
        {
            if (!cur.HasChild(parts[i]))
            {
                ((Node)cur).Add(parts[i], new Node());
            }
            cur = cur.Child(parts[i]);
        }
        ((Node)cur).Add(parts[^1], m);
    }

    /// <summary>|a − b| ≤ atol + rtol·|b| everywhere; the message names the worst element.</summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double rtol, double atol, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} values, expected {expected.Length}.");
        double worst = 0;
        int at = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double err = System.Math.Abs((double)actual[i] - expected[i]) - (atol + rtol * System.Math.Abs(expected[i]));
            if (err > worst || double.IsNaN(actual[i]))
            {
                worst = double.IsNaN(actual[i]) ? double.PositiveInfinity : err;
                at = i;
            }
        }
        Assert.True(at < 0, at < 0 ? "" : $"{what}: element {at} is {actual[at]}, expected {expected[at]} (rtol {rtol}, atol {atol}).");
    }

    public static JsonNode ReadJson(string path) => JsonNode.Parse(File.ReadAllText(path))!;

    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "peftsharp-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    /// <summary>Adds seeded noise N(0, std²) to every tensor of an adapter so that it is not the identity.</summary>
    public static void Perturb(Core.PeftModel model, string adapter, float std = 0.3f, ulong seed = 99)
    {
        var rng = new Rng(seed);
        foreach (var (_, layer) in model.AdapterLayers())
        {
            if (!layer.HasAdapter(adapter))
            {
                continue;
            }
            foreach (var p in layer.AdapterParameters(adapter))
            {
                var s = p.Value.Span;
                for (int i = 0; i < s.Length; i++)
                {
                    s[i] += std * rng.NextNormal();
                }
            }
        }
        foreach (var (_, w) in model.SavedModules())
        {
            if (w.HasCopy(adapter))
            {
                foreach (var p in w.CopyParameters(adapter))
                {
                    var s = p.Value.Span;
                    for (int i = 0; i < s.Length; i++)
                    {
                        s[i] += std * rng.NextNormal();
                    }
                }
            }
        }
    }
}

/// <summary>Locates the PEFT fixtures: PEFTSHARP_FIXTURES, else a "shared/fixtures" folder beside the repository or above it.</summary>
public static class FixtureRoot
{
    public static readonly string? Root = Find();

    private static string? Find()
    {
        var env = Environment.GetEnvironmentVariable("PEFTSHARP_FIXTURES");
        if (!string.IsNullOrWhiteSpace(env))
        {
            return Directory.Exists(Path.Combine(env, "peft")) ? Path.Combine(env, "peft") : null;
        }
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PeftSharp.slnx")))
        {
            dir = dir.Parent;
        }
        for (var d = dir?.Parent; d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "shared", "fixtures", "peft");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    public static string Folder(string name) => Path.Combine(Root!, name);

    /// <summary>Theory rows: the given fixture names, or one "(no fixtures)" row that reports the absence.</summary>
    public static TheoryData<string> Rows(params string[] names)
    {
        var data = new TheoryData<string>();
        if (Root is null)
        {
            data.Add(Missing);
            return data;
        }
        foreach (var n in names)
        {
            data.Add(n);
        }
        return data;
    }

    public const string Missing = "(no fixtures: set PEFTSHARP_FIXTURES)";
}
