using System.Runtime.InteropServices;

namespace PeftSharp.Tensors.Serialization;

/// <summary>Tensor-level access to safetensors files: load named tensors, save a dictionary of tensors atomically.</summary>
public static class TensorFile
{
    /// <summary>The metadata Hugging Face PEFT and transformers write into their safetensors files.</summary>
    public static readonly IReadOnlyDictionary<string, string> PyTorchMetadata = new Dictionary<string, string> { ["format"] = "pt" };

    /// <summary>
    /// Reads one tensor. Float types become float32 tensors, unless <paramref name="keepHalf"/> is set and the
    /// stored dtype is BF16/F16 (then the 16-bit storage is kept, for frozen weights). Integer types become int32
    /// index tensors (values outside int32 are an error).
    /// </summary>
    public static Tensor Read(SafetensorsCheckpoint checkpoint, string name, bool keepHalf = false)
    {
        var entry = checkpoint.GetEntry(name);
        var shape = entry.ShapeAsInt32();
        switch (entry.DType)
        {
            case DType.BF16 or DType.F16 when keepHalf:
                return Tensor.FromHalfBits(checkpoint.ReadHalfBits(name), entry.DType, shape);
            case DType.F32 or DType.F16 or DType.BF16 or DType.F64:
                return Tensor.Wrap(checkpoint.ReadSingles(name), shape);
            case DType.I64 or DType.I32 or DType.I16 or DType.I8 or DType.U8 or DType.Bool:
                var longs = checkpoint.ReadInt64s(name);
                var ints = new int[longs.Length];
                for (int i = 0; i < longs.Length; i++)
                {
                    if (longs[i] is < int.MinValue or > int.MaxValue)
                    {
                        throw new InvalidDataException($"Tensor '{name}' holds {longs[i]}, outside the int32 range of index tensors.");
                    }
                    ints[i] = (int)longs[i];
                }
                return Tensor.FromInts(ints, shape);
            default:
                throw new InvalidDataException($"Tensor '{name}' has unsupported dtype {entry.DType}.");
        }
    }

    /// <summary>Reads every tensor of a file or checkpoint folder into a name → tensor dictionary (float32 / int32).</summary>
    public static Dictionary<string, Tensor> Load(string path, bool keepHalf = false)
    {
        using var checkpoint = SafetensorsCheckpoint.Open(path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var entry in checkpoint.Tensors)
        {
            result[entry.Name] = Read(checkpoint, entry.Name, keepHalf);
        }
        return result;
    }

    /// <summary>
    /// Atomically writes tensors to a safetensors file. Float32 tensors are written as <paramref name="floatDType"/>
    /// (F32, BF16 or F16); 16-bit tensors keep their storage; int32 tensors are written as I64 (as PyTorch does).
    /// </summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null, DType floatDType = DType.F32)
    {
        var entries = new List<SafetensorsTensor>();
        foreach (var (name, t) in tensors)
        {
            var shape = t.Shape.ToArray().Select(d => (long)d).ToArray();
            switch (t.DType)
            {
                case DType.F32:
                    entries.Add(SafetensorsTensor.FromSingles(name, t.ToArray(), shape, floatDType));
                    break;
                case DType.BF16 or DType.F16:
                    var bits = t.HalfSpan.ToArray();
                    entries.Add(SafetensorsTensor.FromBytes(name, t.DType, shape, MemoryMarshal.AsBytes(bits.AsSpan()).ToArray()));
                    break;
                case DType.I32:
                    entries.Add(SafetensorsTensor.FromInt64s(name, t.ToIntArray().Select(v => (long)v).ToArray(), shape));
                    break;
                default:
                    throw new InvalidOperationException($"Cannot save tensor '{name}' of dtype {t.DType}.");
            }
        }
        SafetensorsWriter.Write(path, entries, metadata);
    }
}
