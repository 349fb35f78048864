using System.Text.Json;
using System.Text.Json.Nodes;

namespace PeftSharp.Training.Quickstart;

/// <summary>
/// Writes the quickstart model's tokenizer: a Hugging Face tokenizer.json with a WordLevel model over
/// <see cref="SyntheticWorld.Vocabulary"/>, a whitespace-split pre-tokenizer and the special tokens
/// &lt;pad&gt; (0), &lt;unk&gt; (1), &lt;s&gt; (2) and &lt;/s&gt; (3), plus a tokenizer_config.json that
/// transformers loads as PreTrainedTokenizerFast.
/// </summary>
public static class TinyTokenizer
{
    public const string Pad = "<pad>", Unk = "<unk>", Bos = "<s>", Eos = "</s>";
    public const int PadId = 0, UnkId = 1, BosId = 2, EosId = 3;

    /// <summary>Vocabulary size: the four special tokens and the world's words.</summary>
    public static int VocabSize => 4 + SyntheticWorld.Vocabulary.Count;

    public static string TokenizerJson()
    {
        var vocab = new JsonObject { [Pad] = PadId, [Unk] = UnkId, [Bos] = BosId, [Eos] = EosId };
        int id = 4;
        foreach (var w in SyntheticWorld.Vocabulary)
        {
            vocab[w] = id++;
        }
        JsonObject Special(int i, string content) => new()
        {
            ["id"] = i, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = false, ["special"] = true,
        };
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray(Special(PadId, Pad), Special(UnkId, Unk), Special(BosId, Bos), Special(EosId, Eos)),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "WhitespaceSplit" },
            ["post_processor"] = null,
            ["decoder"] = null,
            ["model"] = new JsonObject { ["type"] = "WordLevel", ["vocab"] = vocab, ["unk_token"] = Unk },
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    public static string TokenizerConfigJson() => new JsonObject
    {
        ["tokenizer_class"] = "PreTrainedTokenizerFast",
        ["bos_token"] = Bos,
        ["eos_token"] = Eos,
        ["unk_token"] = Unk,
        ["pad_token"] = Pad,
        ["model_max_length"] = 128,
        ["clean_up_tokenization_spaces"] = false,
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    /// <summary>Writes tokenizer.json and tokenizer_config.json into a folder.</summary>
    public static void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), TokenizerJson() + "\n");
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), TokenizerConfigJson() + "\n");
    }
}
