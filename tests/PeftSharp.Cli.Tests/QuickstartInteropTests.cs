using System.Buffers.Binary;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PeftSharp.Conformance.Tests;
using Xunit.Abstractions;

namespace PeftSharp.Cli.Tests;

/// <summary>One reduced <c>peft quickstart</c> run (few LoRA steps) shared by the interop tests, deleted afterwards.</summary>
public sealed class QuickstartOutput : IDisposable
{
    public string Directory { get; }
    public string BaseModel => Path.Combine(Directory, "base-model");
    public string Adapter => Path.Combine(Directory, "adapter");
    public CliRun Run { get; }

    public QuickstartOutput()
    {
        Directory = CliHarness.TempDir("quickstart-interop");
        Run = CliHarness.Run("quickstart", "--output", Directory, "--steps", "6");
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}

/// <summary>
/// The quickstart's files against files Hugging Face itself wrote (the PEFT fixtures: a tiny Llama saved by
/// transformers 4.44.2, a LoRA adapter saved by PEFT 0.14.0, and a tied-head GPT-2). Every naming rule is first
/// checked on the fixture, then applied to the quickstart output, so the rules are Hugging Face's, not ours.
/// </summary>
public class QuickstartInteropTests(QuickstartOutput quickstart, ITestOutputHelper log) : IClassFixture<QuickstartOutput>
{
    private const string PeftPrefix = "base_model.model.";
    private static readonly Regex LayerKey = new(@"^model\.layers\.(\d+)\.(.+)$", RegexOptions.CultureInvariant);

    private static string Fixture(string name)
    {
        var dir = FixtureRoot.FolderPath("peft", name);
        Assert.True(File.Exists(Path.Combine(dir, "config.json")), $"fixture {name} not found under {FixtureRoot.Source}");
        return dir;
    }

    private static JsonObject Json(string path) => (JsonObject)JsonNode.Parse(File.ReadAllText(path))!;

    /// <summary>The JSON type of a value, with true and false as one type ("Boolean").</summary>
    private static string Kind(JsonNode? node) => node?.GetValueKind() switch
    {
        null or System.Text.Json.JsonValueKind.Null => "null",
        System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False => "Boolean",
        var k => k.ToString()!,
    };

    private void AssertQuickstartRan() =>
        Assert.True(quickstart.Run.ExitCode == 0, $"peft quickstart exited {quickstart.Run.ExitCode}: {quickstart.Run.All}");

    [Fact]
    public void ModelSafetensors_HasTheKeysDtypesAndShapesTransformersWritesForLlama()
    {
        AssertQuickstartRan();
        var hfDir = Fixture("llama-lora");
        var hfConfig = Json(Path.Combine(hfDir, "config.json"));
        var hf = SafetensorsHeader.Read(Path.Combine(hfDir, "model.safetensors"));
        var ourConfig = Json(Path.Combine(quickstart.BaseModel, "config.json"));
        var ours = SafetensorsHeader.Read(Path.Combine(quickstart.BaseModel, "model.safetensors"));

        // The key pattern transformers writes: the same suffix set in every layer, plus top-level names.
        var (hfLayers, hfTop) = SplitLayers(hf, (int)hfConfig["num_hidden_layers"]!);
        var hfSuffixes = hfLayers[0];
        Assert.All(hfLayers, s => Assert.Equal(hfSuffixes, s));
        Assert.False((bool)hfConfig["tie_word_embeddings"]!);
        Assert.Contains("lm_head.weight", hfTop);

        // With tied embeddings transformers writes the shared matrix once, under the input embedding's name. The
        // GPT-2 fixture (tie_word_embeddings left at its default, true) shows it: no lm_head.weight in its file.
        var gptConfig = Json(Path.Combine(Fixture("gpt2-lora"), "config.json"));
        Assert.True(gptConfig["tie_word_embeddings"] is null || (bool)gptConfig["tie_word_embeddings"]!);
        Assert.Equal("GPT2LMHeadModel", (string)gptConfig["architectures"]![0]!);
        var gpt = SafetensorsHeader.Read(Path.Combine(Fixture("gpt2-lora"), "model.safetensors"));
        Assert.DoesNotContain(gpt.Tensors.Keys, k => k.Contains("lm_head", StringComparison.Ordinal));
        Assert.Contains("transformer.wte.weight", gpt.Tensors.Keys);

        bool tied = (bool)ourConfig["tie_word_embeddings"]!;
        Assert.Equal((bool)hfConfig["attention_bias"]!, (bool)ourConfig["attention_bias"]!);
        Assert.Equal((bool)hfConfig["mlp_bias"]!, (bool)ourConfig["mlp_bias"]!);
        var (ourLayers, ourTop) = SplitLayers(ours, (int)ourConfig["num_hidden_layers"]!);
        for (int i = 0; i < ourLayers.Length; i++)
        {
            Assert.True(hfSuffixes.SetEquals(ourLayers[i]),
                $"layer {i}: suffixes [{string.Join(", ", ourLayers[i].Order())}], transformers writes [{string.Join(", ", hfSuffixes.Order())}]");
        }
        var expectedTop = hfTop.Where(k => !(tied && k == "lm_head.weight")).ToHashSet();
        Assert.True(expectedTop.SetEquals(ourTop), $"top-level keys [{string.Join(", ", ourTop.Order())}], expected [{string.Join(", ", expectedTop.Order())}] (tied: {tied})");

        // Dtypes follow torch_dtype and shapes follow config.json: checked on the fixture, then on ours.
        foreach (var (config, file, name) in new[] { (hfConfig, hf, "fixture"), (ourConfig, ours, "quickstart") })
        {
            string dtype = (string)config["torch_dtype"]! switch { "float32" => "F32", "float16" => "F16", "bfloat16" => "BF16", var d => d };
            var shapes = LlamaShapes(config);
            Assert.True(shapes.Keys.ToHashSet().SetEquals(file.Tensors.Keys), $"{name}: keys differ from the config's shape table");
            foreach (var (key, t) in file.Tensors)
            {
                Assert.True(t.DType == dtype, $"{name}: {key} is {t.DType}, torch_dtype says {dtype}");
                Assert.True(shapes[key].SequenceEqual(t.Shape), $"{name}: {key} has shape [{string.Join(", ", t.Shape)}], config.json implies [{string.Join(", ", shapes[key])}]");
            }
        }
        Assert.Equal(hf.Metadata, ours.Metadata);
        log.WriteLine($"model.safetensors: {ours.Tensors.Count} tensors, {ourLayers.Length} layers x {hfSuffixes.Count} suffixes + [{string.Join(", ", ourTop.Order())}]");
    }

    [Fact]
    public void AdapterSafetensors_FollowsPeftNaming_WithShapesFromTheAdapterConfig()
    {
        AssertQuickstartRan();
        var hfDir = Fixture("llama-lora");
        var hfSuffixes = CheckAdapter(hfDir, hfDir, "fixture");
        Assert.Equal(["lora_A.weight", "lora_B.weight"], hfSuffixes.Order(StringComparer.Ordinal));
        var ourSuffixes = CheckAdapter(quickstart.BaseModel, quickstart.Adapter, "quickstart");
        Assert.Equal(hfSuffixes.Order(StringComparer.Ordinal), ourSuffixes.Order(StringComparer.Ordinal));
        Assert.Equal(SafetensorsHeader.Read(Path.Combine(hfDir, "adapter_model.safetensors")).Metadata,
            SafetensorsHeader.Read(Path.Combine(quickstart.Adapter, "adapter_model.safetensors")).Metadata);
    }

    /// <summary>
    /// Checks an adapter file against its base model and config with PEFT's rules: keys are
    /// "base_model.model.&lt;module&gt;.&lt;suffix&gt;" without the adapter name, exactly the Linear modules the
    /// target_modules list selects (a name equal to an entry or ending in "." + entry) each have lora_A [r, in] and
    /// lora_B [out, r]. Returns the suffixes seen.
    /// </summary>
    private HashSet<string> CheckAdapter(string baseDir, string adapterDir, string name)
    {
        var config = Json(Path.Combine(adapterDir, "adapter_config.json"));
        var baseConfig = Json(Path.Combine(baseDir, "config.json"));
        var model = SafetensorsHeader.Read(Path.Combine(baseDir, "model.safetensors"));
        var adapter = SafetensorsHeader.Read(Path.Combine(adapterDir, "adapter_model.safetensors"));
        int r = (int)config["r"]!;
        Assert.True(config["rank_pattern"] is JsonObject { Count: 0 }, $"{name}: rank_pattern is not empty; this check assumes one rank");
        var targets = config["target_modules"]!.AsArray().Select(t => (string)t!).ToArray();

        // Linear modules of the base model: rank-2 weights other than the embedding, plus a tied lm_head.
        var linear = model.Tensors.Where(kv => kv.Value.Shape.Length == 2 && kv.Key.EndsWith(".weight", StringComparison.Ordinal) && kv.Key != "model.embed_tokens.weight")
            .ToDictionary(kv => kv.Key[..^".weight".Length], kv => kv.Value.Shape);
        if ((bool?)baseConfig["tie_word_embeddings"] == true)
        {
            linear["lm_head"] = model.Tensors["model.embed_tokens.weight"].Shape;
        }
        var targeted = linear.Keys.Where(m => targets.Any(t => m == t || m.EndsWith("." + t, StringComparison.Ordinal))).ToHashSet();
        Assert.NotEmpty(targeted);

        var suffixes = new HashSet<string>(StringComparer.Ordinal);
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var module in targeted)
        {
            long outF = linear[module][0], inF = linear[module][1];
            foreach (var (suffix, shape) in new[] { ("lora_A.weight", new[] { r, inF }), ("lora_B.weight", new[] { outF, r }) })
            {
                var key = PeftPrefix + module + "." + suffix;
                expected.Add(key);
                Assert.True(adapter.Tensors.TryGetValue(key, out var t), $"{name}: {key} is missing");
                Assert.True(shape.SequenceEqual(t!.Shape), $"{name}: {key} has shape [{string.Join(", ", t.Shape)}], expected [{string.Join(", ", shape)}] (r={r})");
                Assert.Equal(model.Tensors.Values.First().DType, t.DType);
                suffixes.Add(suffix);
            }
        }
        var unexpected = adapter.Tensors.Keys.Where(k => !expected.Contains(k)).ToArray();
        Assert.True(unexpected.Length == 0, $"{name}: unexpected adapter keys: {string.Join(", ", unexpected)}");
        Assert.DoesNotContain(adapter.Tensors.Keys, k => k.Contains(".default.", StringComparison.Ordinal));
        log.WriteLine($"{name}: {adapter.Tensors.Count} adapter tensors on {targeted.Count} modules, r={r}");
        return suffixes;
    }

    [Fact]
    public void AdapterConfig_WritesOnlyFieldsPeftWrites_WithTheSameJsonKinds()
    {
        AssertQuickstartRan();
        // PEFT serialises every LoraConfig dataclass field, so the fixture's key set is that version's field list.
        var hf = Json(Path.Combine(Fixture("llama-lora"), "adapter_config.json"));
        var ours = Json(Path.Combine(quickstart.Adapter, "adapter_config.json"));
        var unknown = ours.Select(kv => kv.Key).Where(k => !hf.ContainsKey(k)).ToArray();
        Assert.True(unknown.Length == 0, $"keys PEFT does not write: {string.Join(", ", unknown)}");
        foreach (var required in new[] { "peft_type", "task_type", "r", "lora_alpha", "target_modules", "base_model_name_or_path", "lora_dropout", "bias", "inference_mode", "use_rslora", "use_dora" })
        {
            Assert.True(ours.ContainsKey(required), $"adapter_config.json lacks {required}");
        }
        foreach (var (key, value) in ours)
        {
            var want = Kind(hf[key]);
            if (want != "null")
            {
                Assert.True(want == Kind(value), $"{key}: {value?.ToJsonString() ?? "null"} is a {Kind(value)}, PEFT writes a {want}");
            }
        }
        Assert.Equal("LORA", (string)ours["peft_type"]!);
        Assert.Equal((string)hf["task_type"]!, (string)ours["task_type"]!);
        Assert.Equal(Path.GetFullPath(quickstart.BaseModel), (string)ours["base_model_name_or_path"]!);
        Assert.True((bool)ours["inference_mode"]!);
        log.WriteLine($"adapter_config.json: {ours.Count} of PEFT's {hf.Count} fields; left to PEFT's defaults: {string.Join(", ", hf.Select(kv => kv.Key).Where(k => !ours.ContainsKey(k)))}");
    }

    [Fact]
    public void ConfigJson_HasTheFieldsTransformersWritesForLlamaConfig()
    {
        AssertQuickstartRan();
        // transformers writes every LlamaConfig argument plus the PretrainedConfig fields that differ from their
        // defaults; pad_token_id (default null) is one of those, set here but not in the fixture.
        var hf = Json(Path.Combine(Fixture("llama-lora"), "config.json"));
        var ours = Json(Path.Combine(quickstart.BaseModel, "config.json"));
        string[] generalFields = ["pad_token_id"];
        var missing = hf.Select(kv => kv.Key).Where(k => !ours.ContainsKey(k)).ToArray();
        var extra = ours.Select(kv => kv.Key).Where(k => !hf.ContainsKey(k) && !generalFields.Contains(k)).ToArray();
        Assert.True(missing.Length == 0, $"config.json lacks fields transformers writes: {string.Join(", ", missing)}");
        Assert.True(extra.Length == 0, $"config.json has fields transformers does not write for Llama: {string.Join(", ", extra)}");
        foreach (var (key, value) in hf)
        {
            Assert.True(Kind(value) == Kind(ours[key]), $"{key}: {ours[key]?.ToJsonString() ?? "null"}, transformers writes {value?.ToJsonString() ?? "null"}");
        }
        Assert.Equal("llama", (string)ours["model_type"]!);
        Assert.Equal(["LlamaForCausalLM"], ours["architectures"]!.AsArray().Select(a => (string)a!));
        Assert.Equal("float32", (string)ours["torch_dtype"]!);
        Assert.Equal(0, (int)ours["num_attention_heads"]! % (int)ours["num_key_value_heads"]!);
        Assert.Equal(0, (int)ours["hidden_size"]! % (int)ours["num_attention_heads"]!);
    }

    private static (HashSet<string>[] Layers, HashSet<string> TopLevel) SplitLayers(SafetensorsHeader file, int layers)
    {
        var perLayer = Enumerable.Range(0, layers).Select(_ => new HashSet<string>(StringComparer.Ordinal)).ToArray();
        var top = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in file.Tensors.Keys)
        {
            var m = LayerKey.Match(key);
            if (!m.Success)
            {
                top.Add(key);
                continue;
            }
            int i = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(i < layers, $"{key}: layer {i} but num_hidden_layers is {layers}");
            perLayer[i].Add(m.Groups[2].Value);
        }
        return (perLayer, top);
    }

    /// <summary>The shape of every tensor transformers' LlamaForCausalLM saves for this config.json (no biases).</summary>
    private static Dictionary<string, long[]> LlamaShapes(JsonObject c)
    {
        long v = (long)c["vocab_size"]!, h = (long)c["hidden_size"]!, inter = (long)c["intermediate_size"]!;
        long heads = (long)c["num_attention_heads"]!, kv = (long)(c["num_key_value_heads"] ?? c["num_attention_heads"])!;
        long d = (long?)c["head_dim"] ?? h / heads;
        var s = new Dictionary<string, long[]>(StringComparer.Ordinal) { ["model.embed_tokens.weight"] = [v, h], ["model.norm.weight"] = [h] };
        if (!(bool)c["tie_word_embeddings"]!)
        {
            s["lm_head.weight"] = [v, h];
        }
        for (int i = 0; i < (int)c["num_hidden_layers"]!; i++)
        {
            var p = $"model.layers.{i}.";
            s[p + "self_attn.q_proj.weight"] = [heads * d, h];
            s[p + "self_attn.k_proj.weight"] = [kv * d, h];
            s[p + "self_attn.v_proj.weight"] = [kv * d, h];
            s[p + "self_attn.o_proj.weight"] = [h, heads * d];
            s[p + "mlp.gate_proj.weight"] = [inter, h];
            s[p + "mlp.up_proj.weight"] = [inter, h];
            s[p + "mlp.down_proj.weight"] = [h, inter];
            s[p + "input_layernorm.weight"] = [h];
            s[p + "post_attention_layernorm.weight"] = [h];
        }
        return s;
    }
}

/// <summary>
/// The header of a .safetensors file, read directly (8-byte little-endian length, JSON header), independent of the
/// library's own reader. Also checks what safetensors' loader checks: offsets that match dtype × shape and cover the
/// data block exactly, without gaps or overlap.
/// </summary>
public sealed record SafetensorsHeader(string? Metadata, IReadOnlyDictionary<string, SafetensorsHeader.Entry> Tensors)
{
    public sealed record Entry(string DType, long[] Shape, long Start, long End);

    public static SafetensorsHeader Read(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> lengthBytes = stackalloc byte[8];
        file.ReadExactly(lengthBytes);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        Assert.True(n <= (ulong)(file.Length - 8) && n < 100_000_000, $"{path}: header length {n} does not fit the file ({file.Length} bytes)");
        var header = new byte[n];
        file.ReadExactly(header);
        var json = (JsonObject)JsonNode.Parse(header)!;
        var tensors = new Dictionary<string, Entry>(StringComparer.Ordinal);
        string? metadata = null;
        foreach (var (key, value) in json)
        {
            if (key == "__metadata__")
            {
                metadata = value!.ToJsonString();
                continue;
            }
            var o = value!.AsObject();
            var shape = o["shape"]!.AsArray().Select(x => (long)x!).ToArray();
            var offsets = o["data_offsets"]!.AsArray().Select(x => (long)x!).ToArray();
            var entry = new Entry((string)o["dtype"]!, shape, offsets[0], offsets[1]);
            long size = entry.DType switch { "F32" or "I32" => 4, "F16" or "BF16" or "I16" => 2, "F64" or "I64" => 8, "U8" or "I8" or "BOOL" => 1, var d => throw new InvalidDataException($"{path}: {key} has dtype {d}") };
            Assert.True(entry.End - entry.Start == size * shape.Aggregate(1L, (a, b) => a * b), $"{path}: {key} spans {entry.End - entry.Start} bytes for shape [{string.Join(", ", shape)}] {entry.DType}");
            tensors[key] = entry;
        }
        long cursor = 0;
        foreach (var e in tensors.Values.OrderBy(e => e.Start))
        {
            Assert.True(e.Start == cursor, $"{path}: tensor data has a gap or overlap at byte {cursor}");
            cursor = e.End;
        }
        Assert.True(cursor == file.Length - 8 - (long)n, $"{path}: tensors cover {cursor} bytes of a {file.Length - 8 - (long)n}-byte data block");
        return new SafetensorsHeader(metadata, tensors);
    }
}
