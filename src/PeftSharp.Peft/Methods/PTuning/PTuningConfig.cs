using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.PromptLearning;

namespace PeftSharp.Peft.Methods.PTuning;

/// <summary>P-tuning configuration with Hugging Face PEFT's field names (PromptEncoderConfig, peft_type "P_TUNING").</summary>
public sealed record PTuningConfig : PromptLearningConfig
{
    internal const string ReparameterizationField = "encoder_reparameterization_type";
    internal const string EncoderHiddenSizeField = "encoder_hidden_size";
    internal const string EncoderNumLayersField = "encoder_num_layers";
    internal const string EncoderDropoutField = "encoder_dropout";

    /// <summary>The MLP reparameterisation (the only one supported).</summary>
    public const string Mlp = "MLP";

    public override string PeftType => PTuningMethod.Type;

    /// <summary>encoder_reparameterization_type: "MLP" ("LSTM" is not supported).</summary>
    public string EncoderReparameterizationType { get; init; } = Mlp;

    /// <summary>encoder_hidden_size: the MLP's hidden width (default: token_dim).</summary>
    public int? EncoderHiddenSize { get; init; }

    /// <summary>encoder_num_layers: used by the LSTM only; the MLP always has three linear layers, as in PEFT.</summary>
    public int EncoderNumLayers { get; init; } = 2;

    /// <summary>encoder_dropout: used by the LSTM only.</summary>
    public double EncoderDropout { get; init; }

    public override void Validate()
    {
        base.Validate();
        if (EncoderReparameterizationType != Mlp)
        {
            throw new AdapterConfigException(ReparameterizationField, $"\"{EncoderReparameterizationType}\" is not supported; only \"{Mlp}\".");
        }
        Positive(EncoderHiddenSizeField, EncoderHiddenSize);
        if (EncoderDropout is < 0 or >= 1)
        {
            throw new AdapterConfigException(EncoderDropoutField, $"must be in [0, 1); got {EncoderDropout}.");
        }
    }

    protected override PromptLearningConfig ResolveMethod(PromptModelShape model) => this with { EncoderHiddenSize = EncoderHiddenSize ?? TokenDim };

    protected override void CheckAgainst(PromptModelShape model)
    {
        base.CheckAgainst(model);
        CheckSize((long)EncoderHiddenSize!.Value * System.Math.Max(EncoderHiddenSize.Value, TokenDim!.Value));
    }

    internal static PTuningConfig Read(JsonObject json)
    {
        var r = new ConfigReader(json);
        var c = ReadPrompt(new PTuningConfig(), r);
        return c with
        {
            EncoderReparameterizationType = r.String(ReparameterizationField, Mlp)!,
            EncoderHiddenSize = OptionalInt(r, EncoderHiddenSizeField),
            EncoderNumLayers = r.Int(EncoderNumLayersField, 2),
            EncoderDropout = r.Number(EncoderDropoutField, 0.0),
            Preserved = r.Remaining(),
        };
    }

    public override JsonObject ToJson() => WritePrompt()
        .Set(ReparameterizationField, EncoderReparameterizationType)
        .Set(EncoderHiddenSizeField, Json(EncoderHiddenSize))
        .Set(EncoderNumLayersField, EncoderNumLayers)
        .SetFloat(EncoderDropoutField, EncoderDropout)
        .ToJsonObject();
}
