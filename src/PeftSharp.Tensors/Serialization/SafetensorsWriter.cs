using System.Buffers.Binary;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace PeftSharp.Tensors.Serialization;

/// <summary>
/// Writes safetensors files the way the Hugging Face <c>safetensors</c> library does, byte for byte: tensors
/// sorted by descending dtype alignment and then by name (UTF-8 byte order), data packed in that order, header
/// JSON compact with <c>__metadata__</c> first, and the header padded with spaces to a multiple of 8 bytes so
/// the data block starts 8-byte aligned.
/// </summary>
/// <remarks>
/// <see cref="Write(string, IEnumerable{SafetensorsTensor}, IReadOnlyDictionary{string, string}?)"/> is atomic:
/// it writes a temporary file in the target's directory, flushes it to disk, then renames it over the target.
/// If anything fails (full disk, I/O error, bad input) the temporary file is deleted and an existing target is
/// left untouched. The new file gets default permissions, not those of the file it replaces.
/// </remarks>
public static class SafetensorsWriter
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Atomically writes a safetensors file at <paramref name="path"/>, replacing any existing file.
    /// <paramref name="metadata"/> becomes <c>__metadata__</c> (keys in UTF-8 byte order); null writes none.
    /// </summary>
    /// <exception cref="ArgumentException">A name is empty, repeated, reserved (<c>__metadata__</c>) or not valid UTF-16, or the header would exceed 100 MB.</exception>
    /// <exception cref="IOException">Writing or renaming failed; the target is unchanged.</exception>
    public static void Write(string path, IEnumerable<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        Write(path, tensors, metadata, wrap: null);

    /// <summary>Writes a safetensors file to <paramref name="stream"/> (not atomic: the stream receives bytes as they are produced).</summary>
    public static void WriteTo(Stream stream, IEnumerable<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var (header, ordered) = Prepare(tensors, metadata);
        WriteBody(stream, header, ordered);
    }

    /// <summary>The serialized file as a byte array (for small files and tests).</summary>
    public static byte[] Serialize(IEnumerable<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var stream = new MemoryStream();
        WriteTo(stream, tensors, metadata);
        return stream.ToArray();
    }

    /// <summary>
    /// Writes a checkpoint split into shards the way transformers does: tensors are taken in the given order and a
    /// new shard starts when adding the next tensor would push the current one past <paramref name="maxShardBytes"/>
    /// of data (a tensor larger than the limit gets a shard of its own). Shards are named
    /// <c>{baseName}-00001-of-0000N.safetensors</c> and listed by <c>{baseName}.safetensors.index.json</c>
    /// (<c>metadata.total_size</c> and a sorted <c>weight_map</c>), which is written last. When everything fits in
    /// one shard, only <c>{baseName}.safetensors</c> is written and a stale index of that name is deleted.
    /// Every file is written atomically; the set as a whole is not, and shards of an earlier, larger checkpoint
    /// with other names are left in place.
    /// </summary>
    /// <returns>The paths written, shards first and the index last.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxShardBytes"/> is not positive.</exception>
    public static IReadOnlyList<string> WriteSharded(string directory, IEnumerable<SafetensorsTensor> tensors, long maxShardBytes,
        IReadOnlyDictionary<string, string>? metadata = null, string baseName = "model")
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentException.ThrowIfNullOrEmpty(baseName);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShardBytes);
        ArgumentNullException.ThrowIfNull(tensors);
        var all = tensors.ToList();
        Prepare(all, metadata); // validates names and sizes before any file is touched
        var shards = new List<List<SafetensorsTensor>> { new() };
        long current = 0, total = 0;
        foreach (var t in all)
        {
            if (shards[^1].Count > 0 && current + t.ByteLength > maxShardBytes)
            {
                shards.Add([]);
                current = 0;
            }
            shards[^1].Add(t);
            current += t.ByteLength;
            total += t.ByteLength;
        }
        string indexPath = Path.Combine(directory, baseName + ".safetensors.index.json");
        if (shards.Count == 1)
        {
            string single = Path.Combine(directory, baseName + ".safetensors");
            Write(single, shards[0], metadata);
            File.Delete(indexPath);
            return [single];
        }
        var written = new List<string>();
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < shards.Count; i++)
        {
            string name = $"{baseName}-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            string path = Path.Combine(directory, name);
            Write(path, shards[i], metadata);
            written.Add(path);
            foreach (var t in shards[i])
            {
                weightMap.Add(t.Name, name);
            }
        }
        var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("metadata");
            writer.WriteNumber("total_size", total);
            writer.WriteEndObject();
            writer.WriteStartObject("weight_map");
            foreach (var (tensor, shard) in weightMap)
            {
                writer.WriteString(tensor, shard);
            }
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
        json.WriteByte((byte)'\n');
        AtomicFile.Write(indexPath, json.Length, null, stream => json.WriteTo(stream));
        written.Add(indexPath);
        return written;
    }

    /// <summary><paramref name="wrap"/> lets tests put a failing stream between the writer and the temporary file.</summary>
    internal static void Write(string path, IEnumerable<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata, Func<Stream, Stream>? wrap)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var (header, ordered) = Prepare(tensors, metadata);
        long total = header.Length;
        foreach (var t in ordered)
        {
            total += t.ByteLength;
        }
        AtomicFile.Write(path, total, wrap, stream => WriteBody(stream, header, ordered));
    }

    /// <summary>Orders the tensors as the reference writer does and builds the length prefix + padded header.</summary>
    internal static (byte[] PrefixAndHeader, SafetensorsTensor[] Ordered) Prepare(IEnumerable<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = new List<(SafetensorsTensor Tensor, byte[] Name)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            ArgumentNullException.ThrowIfNull(t, nameof(tensors));
            if (t.Name.Length == 0 || t.Name == SafetensorsHeader.MetadataKey)
            {
                throw new ArgumentException($"'{t.Name}' cannot be used as a tensor name.", nameof(tensors));
            }
            if (!seen.Add(t.Name))
            {
                throw new ArgumentException($"Tensor '{t.Name}' appears more than once.", nameof(tensors));
            }
            list.Add((t, Utf8(t.Name, "tensor name")));
        }
        list.Sort((a, b) =>
        {
            int c = AlignmentRank(b.Tensor.DType).CompareTo(AlignmentRank(a.Tensor.DType));
            return c != 0 ? c : a.Name.AsSpan().SequenceCompareTo(b.Name);
        });

        var json = new MemoryStream();
        json.WriteByte((byte)'{');
        bool first = true;
        if (metadata is not null)
        {
            var pairs = metadata.Select(kv => (Key: Utf8(kv.Key, "metadata key"), Value: Utf8(kv.Value ?? throw new ArgumentException($"Metadata value for '{kv.Key}' is null.", nameof(metadata)), "metadata value")))
                .OrderBy(kv => kv.Key, Utf8Comparer.Instance).ToList();
            WriteString(json, Encoding.UTF8.GetBytes(SafetensorsHeader.MetadataKey));
            json.Write(":{"u8);
            for (int i = 0; i < pairs.Count; i++)
            {
                if (i > 0) { json.WriteByte((byte)','); }
                WriteString(json, pairs[i].Key);
                json.WriteByte((byte)':');
                WriteString(json, pairs[i].Value);
            }
            json.WriteByte((byte)'}');
            first = false;
        }
        long offset = 0;
        foreach (var (t, name) in list)
        {
            if (!first) { json.WriteByte((byte)','); }
            first = false;
            WriteString(json, name);
            json.Write(":{\"dtype\":\""u8);
            json.Write(Encoding.ASCII.GetBytes(t.DType.ToSafetensorsName()));
            json.Write("\",\"shape\":["u8);
            for (int i = 0; i < t.Shape.Length; i++)
            {
                if (i > 0) { json.WriteByte((byte)','); }
                WriteNumber(json, t.Shape[i]);
            }
            json.Write("],\"data_offsets\":["u8);
            WriteNumber(json, offset);
            json.WriteByte((byte)',');
            offset = checked(offset + t.ByteLength);
            WriteNumber(json, offset);
            json.Write("]}"u8);
        }
        json.WriteByte((byte)'}');

        long padded = (json.Length + 7) / 8 * 8;
        if (padded > SafetensorsHeader.MaxHeaderLength)
        {
            throw new ArgumentException($"The header would take {padded} bytes, more than the {SafetensorsHeader.MaxHeaderLength}-byte limit readers enforce.", nameof(tensors));
        }
        var result = new byte[SafetensorsHeader.PrefixLength + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)padded);
        json.GetBuffer().AsSpan(0, (int)json.Length).CopyTo(result.AsSpan(SafetensorsHeader.PrefixLength));
        result.AsSpan(SafetensorsHeader.PrefixLength + (int)json.Length).Fill((byte)' ');
        return (result, list.Select(x => x.Tensor).ToArray());
    }

    private static void WriteBody(Stream stream, byte[] header, SafetensorsTensor[] ordered)
    {
        stream.Write(header);
        foreach (var t in ordered)
        {
            t.WriteData(stream);
        }
        stream.Flush();
    }

    /// <summary>
    /// Position of the dtype in the reference implementation's <c>Dtype</c> enum, which is declared in increasing
    /// alignment order (BOOL &lt; U8 &lt; I8 &lt; I16 &lt; F16 &lt; BF16 &lt; I32 &lt; F32 &lt; F64 &lt; I64); the writer sorts by it, descending.
    /// </summary>
    internal static int AlignmentRank(DType dtype) => dtype switch
    {
        DType.Bool => 0,
        DType.U8 => 4,
        DType.I8 => 5,
        DType.I16 => 9,
        DType.F16 => 11,
        DType.BF16 => 12,
        DType.I32 => 13,
        DType.F32 => 15,
        DType.F64 => 17,
        DType.I64 => 18,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    private static byte[] Utf8(string text, string what)
    {
        try
        {
            return StrictUtf8.GetBytes(text);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException($"The {what} \"{text}\" is not valid UTF-16 (unpaired surrogate) and cannot be written as UTF-8.", e);
        }
    }

    /// <summary>JSON string escaping as serde_json does it: quote, backslash and control characters only; everything else raw UTF-8.</summary>
    private static void WriteString(MemoryStream json, ReadOnlySpan<byte> utf8)
    {
        json.WriteByte((byte)'"');
        foreach (byte b in utf8)
        {
            switch (b)
            {
                case (byte)'"': json.Write("\\\""u8); break;
                case (byte)'\\': json.Write("\\\\"u8); break;
                case (byte)'\b': json.Write("\\b"u8); break;
                case (byte)'\f': json.Write("\\f"u8); break;
                case (byte)'\n': json.Write("\\n"u8); break;
                case (byte)'\r': json.Write("\\r"u8); break;
                case (byte)'\t': json.Write("\\t"u8); break;
                case < 0x20:
                    json.Write("\\u00"u8);
                    json.WriteByte((byte)"0123456789abcdef"[b >> 4]);
                    json.WriteByte((byte)"0123456789abcdef"[b & 0xF]);
                    break;
                default: json.WriteByte(b); break;
            }
        }
        json.WriteByte((byte)'"');
    }

    private static void WriteNumber(MemoryStream json, long value)
    {
        Span<byte> digits = stackalloc byte[20];
        value.TryFormat(digits, out int written, provider: System.Globalization.CultureInfo.InvariantCulture);
        json.Write(digits[..written]);
    }

    private sealed class Utf8Comparer : IComparer<byte[]>
    {
        public static readonly Utf8Comparer Instance = new();
        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
