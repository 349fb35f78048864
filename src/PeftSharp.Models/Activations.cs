using PeftSharp.Tensors;

namespace PeftSharp.Models;

/// <summary>Hugging Face activation names (ACT2FN) mapped to tensor ops.</summary>
public static class Activations
{
    public static readonly IReadOnlyList<string> Supported = ["silu", "swish", "gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "tanh", "sigmoid"];

    public static Tensor Apply(string name, Tensor x) => name switch
    {
        "silu" or "swish" => x.Silu(),
        "gelu" => x.Gelu(),
        "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => x.Gelu(tanhApproximation: true),
        "relu" => x.Relu(),
        "tanh" => x.Tanh(),
        "sigmoid" => x.Sigmoid(),
        _ => throw new NotSupportedException($"Activation \"{name}\" is not supported; supported: {string.Join(", ", Supported)}."),
    };
}
