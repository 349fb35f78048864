namespace PeftSharp.Models.Llama;

/// <summary>
/// The fields of a Llama-family config.json (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM) that the
/// model uses. Qwen2 has q/k/v biases and no o_proj bias; Llama's attention_bias applies to all four.
/// </summary>
public sealed record LlamaConfig
{
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required float RmsNormEps { get; init; }
    public required float RopeTheta { get; init; }
    public required int MaxPositions { get; init; }
    public required bool TieWordEmbeddings { get; init; }
    public required bool QkvBias { get; init; }
    public required bool OutputBias { get; init; }
    public required bool MlpBias { get; init; }
    public required string HiddenAct { get; init; }
    public RopeScaling? RopeScaling { get; init; }

    public static LlamaConfig From(HfConfig c)
    {
        string type = c.ModelType ?? "llama";
        int hidden = c.GetInt("hidden_size");
        int heads = c.GetInt("num_attention_heads");
        if (heads <= 0 || hidden <= 0)
        {
            throw new InvalidDataException($"{c.Source}: hidden_size and num_attention_heads must be positive.");
        }
        int kv = c.GetIntOrNull("num_key_value_heads") ?? heads;
        if (kv <= 0 || heads % kv != 0)
        {
            throw new InvalidDataException($"{c.Source}: num_attention_heads ({heads}) must be a multiple of num_key_value_heads ({kv}).");
        }
        int headDim = c.GetIntOrNull("head_dim") ?? hidden / heads;
        bool attnBias = c.GetBool("attention_bias", false);
        bool qwen = type == "qwen2";
        return new LlamaConfig
        {
            VocabSize = c.GetInt("vocab_size"),
            HiddenSize = hidden,
            IntermediateSize = c.GetInt("intermediate_size"),
            NumLayers = c.GetInt("num_hidden_layers"),
            NumHeads = heads,
            NumKvHeads = kv,
            HeadDim = headDim,
            RmsNormEps = c.GetFloat("rms_norm_eps", 1e-6f),
            RopeTheta = c.GetFloat("rope_theta", 10000f),
            MaxPositions = c.GetInt("max_position_embeddings", 2048),
            TieWordEmbeddings = c.GetBool("tie_word_embeddings", false),
            QkvBias = qwen || attnBias,
            OutputBias = !qwen && attnBias,
            MlpBias = c.GetBool("mlp_bias", false),
            HiddenAct = c.GetString("hidden_act") ?? "silu",
            RopeScaling = RopeScaling.From(c),
        };
    }
}

/// <summary>config.json's rope_scaling: "linear" and "llama3" are supported (as transformers computes them).</summary>
public sealed record RopeScaling(string Type, float Factor, float LowFreqFactor, float HighFreqFactor, int OriginalMaxPositions)
{
    public static RopeScaling? From(HfConfig c)
    {
        if (c.Json["rope_scaling"] is not System.Text.Json.Nodes.JsonObject o)
        {
            return null;
        }
        string type = (o["rope_type"] ?? o["type"])?.GetValue<string>() ?? "default";
        float Get(string k, float d) => o[k] is { } n ? (float)n.GetValue<double>() : d;
        return type switch
        {
            "default" => null,
            "linear" => new RopeScaling(type, Get("factor", 1f), 0, 0, 0),
            "llama3" => new RopeScaling(type, Get("factor", 8f), Get("low_freq_factor", 1f), Get("high_freq_factor", 4f),
                (int)Get("original_max_position_embeddings", 8192)),
            _ => throw new NotSupportedException($"{c.Source}: rope_scaling type \"{type}\" is not supported; supported: default, linear, llama3."),
        };
    }

    /// <summary>Adjusts inverse frequencies in place (transformers' _compute_linear/_compute_llama3_parameters).</summary>
    public void Apply(float[] invFreq)
    {
        if (Type == "linear")
        {
            for (int i = 0; i < invFreq.Length; i++)
            {
                invFreq[i] /= Factor;
            }
            return;
        }
        float lowWavelen = OriginalMaxPositions / LowFreqFactor;
        float highWavelen = OriginalMaxPositions / HighFreqFactor;
        for (int i = 0; i < invFreq.Length; i++)
        {
            float wavelen = 2f * MathF.PI / invFreq[i];
            if (wavelen < highWavelen)
            {
                continue;
            }
            if (wavelen > lowWavelen)
            {
                invFreq[i] /= Factor;
                continue;
            }
            float smooth = (OriginalMaxPositions / wavelen - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
            invFreq[i] = (1 - smooth) * invFreq[i] / Factor + smooth * invFreq[i];
        }
    }
}
