using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace PeftSharp.Tensors.Serialization;

/// <summary>
/// Parses and validates a safetensors header. Layout: 8-byte little-endian header length N, N bytes of UTF-8
/// JSON (an object that starts with '{' and may be padded with whitespace), then the data block. Every check
/// the reference implementation makes is made here, before any offset is used:
/// length bounds, UTF-8, JSON syntax, no duplicate keys, known dtypes, non-negative integer dimensions and
/// offsets without overflow, end − begin = element count × element size, and ranges that tile the data block
/// exactly (sorted by offset they start at 0, touch without gap or overlap, and end at the block's end).
/// Allocation is bounded by the header length, itself bounded by <see cref="MaxHeaderLength"/>.
/// </summary>
internal static class SafetensorsHeader
{
    /// <summary>Largest accepted header, as in the reference implementation (100 MB).</summary>
    public const long MaxHeaderLength = 100_000_000;

    /// <summary>Size of the length prefix.</summary>
    public const int PrefixLength = 8;

    /// <summary>The header key reserved for string-to-string metadata.</summary>
    public const string MetadataKey = "__metadata__";

    public const string DTypeKey = "dtype";
    public const string ShapeKey = "shape";
    public const string DataOffsetsKey = "data_offsets";

    public sealed record Parsed(IReadOnlyList<SafetensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata);

    /// <summary>Checks the length prefix against the file length and returns the header length.</summary>
    public static long CheckLength(string file, ulong headerLength, long fileLength)
    {
        if (headerLength > MaxHeaderLength)
        {
            throw new SafetensorsFormatException(file, null,
                $"header length {headerLength} exceeds the limit of {MaxHeaderLength} bytes.");
        }
        long available = fileLength - PrefixLength;
        if ((long)headerLength > available)
        {
            throw new SafetensorsFormatException(file, null,
                $"header length {headerLength} exceeds the {available} bytes that follow the length prefix.");
        }
        return (long)headerLength;
    }

    /// <summary>Parses <paramref name="header"/> and validates every entry against a data block of <paramref name="dataLength"/> bytes.</summary>
    public static Parsed Parse(string file, ReadOnlySpan<byte> header, long dataLength)
    {
        if (header.IsEmpty || header[0] != (byte)'{')
        {
            throw new SafetensorsFormatException(file, null, header.IsEmpty
                ? "header is empty; it must be a JSON object starting with '{'."
                : $"header must start with '{{' but starts with byte 0x{header[0]:X2}.");
        }
        if (!Utf8.IsValid(header))
        {
            throw new SafetensorsFormatException(file, null, $"header is not valid UTF-8 (first invalid byte at header offset {FirstInvalidUtf8(header)}).");
        }

        var entries = new List<SafetensorsEntry>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        Dictionary<string, string>? metadata = null;
        bool sawMetadata = false;
        var reader = new Utf8JsonReader(header, new JsonReaderOptions { MaxDepth = 8, CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            reader.Read(); // StartObject: header[0] is '{'
            while (true)
            {
                Next(ref reader, file, null);
                if (reader.TokenType == JsonTokenType.EndObject)
                {
                    break;
                }
                string key = GetString(ref reader, file, null);
                if (key == MetadataKey)
                {
                    if (sawMetadata)
                    {
                        throw new SafetensorsFormatException(file, null, $"duplicate key '{MetadataKey}'.");
                    }
                    sawMetadata = true;
                    metadata = ReadMetadata(ref reader, file);
                    continue;
                }
                if (!names.Add(key))
                {
                    throw new SafetensorsFormatException(file, key, "duplicate key in header.");
                }
                entries.Add(ReadEntry(ref reader, file, key, dataLength));
            }
            // Anything but whitespace after the object makes Read throw; whitespace is the allowed padding.
            if (reader.Read())
            {
                throw new SafetensorsFormatException(file, null, $"unexpected {reader.TokenType} after the header object at header offset {reader.TokenStartIndex}.");
            }
        }
        catch (JsonException e)
        {
            throw new SafetensorsFormatException(file, null,
                $"header is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1} of that line): {e.Message}", e);
        }

        CheckCoverage(file, entries, dataLength);
        return new Parsed(entries, (IReadOnlyDictionary<string, string>?)metadata ?? new Dictionary<string, string>());
    }

    private static void Next(ref Utf8JsonReader reader, string file, string? tensor)
    {
        if (!reader.Read())
        {
            throw new SafetensorsFormatException(file, tensor, "header JSON ends before the object is closed.");
        }
    }

    /// <summary>Unescapes a string token; an escaped lone surrogate cannot become a .NET string and is a format error.</summary>
    private static string GetString(ref Utf8JsonReader reader, string file, string? tensor)
    {
        try
        {
            return reader.GetString()!;
        }
        catch (InvalidOperationException e)
        {
            throw new SafetensorsFormatException(file, tensor, $"header string at offset {reader.TokenStartIndex} cannot be decoded: {e.Message}", e);
        }
    }

    private static Dictionary<string, string>? ReadMetadata(ref Utf8JsonReader reader, string file)
    {
        Next(ref reader, file, null);
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new SafetensorsFormatException(file, null, $"'{MetadataKey}' must be an object of strings, found {Describe(reader.TokenType)}.");
        }
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            Next(ref reader, file, null);
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                return result;
            }
            string key = GetString(ref reader, file, null);
            Next(ref reader, file, null);
            if (reader.TokenType != JsonTokenType.String)
            {
                throw new SafetensorsFormatException(file, null, $"'{MetadataKey}' value for key '{key}' must be a string, found {Describe(reader.TokenType)}.");
            }
            if (!result.TryAdd(key, GetString(ref reader, file, null)))
            {
                throw new SafetensorsFormatException(file, null, $"duplicate key '{key}' in '{MetadataKey}'.");
            }
        }
    }

    private static SafetensorsEntry ReadEntry(ref Utf8JsonReader reader, string file, string name, long dataLength)
    {
        Next(ref reader, file, name);
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new SafetensorsFormatException(file, name, $"entry must be an object with dtype, shape and data_offsets, found {Describe(reader.TokenType)}.");
        }
        DType? dtype = null;
        long[]? shape = null;
        (ulong Begin, ulong End)? offsets = null;
        while (true)
        {
            Next(ref reader, file, name);
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                break;
            }
            string field = GetString(ref reader, file, name);
            switch (field)
            {
                case DTypeKey:
                    if (dtype is not null) { throw Duplicate(file, name, field); }
                    Next(ref reader, file, name);
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        throw new SafetensorsFormatException(file, name, $"dtype must be a string, found {Describe(reader.TokenType)}.");
                    }
                    string dtypeName = GetString(ref reader, file, name);
                    dtype = DTypes.TryParseSafetensorsName(dtypeName, out var parsed)
                        ? parsed
                        : throw new SafetensorsFormatException(file, name, $"unknown dtype \"{dtypeName}\" (supported: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL).");
                    break;
                case ShapeKey:
                    if (shape is not null) { throw Duplicate(file, name, field); }
                    shape = ReadShape(ref reader, file, name);
                    break;
                case DataOffsetsKey:
                    if (offsets is not null) { throw Duplicate(file, name, field); }
                    offsets = ReadOffsets(ref reader, file, name);
                    break;
                default:
                    throw new SafetensorsFormatException(file, name, $"unexpected field \"{field}\" (an entry holds only dtype, shape and data_offsets).");
            }
        }
        if (dtype is null || shape is null || offsets is null)
        {
            string missing = dtype is null ? DTypeKey : shape is null ? ShapeKey : DataOffsetsKey;
            throw new SafetensorsFormatException(file, name, $"entry has no \"{missing}\".");
        }

        var (begin, end) = offsets.Value;
        if (end < begin)
        {
            throw new SafetensorsFormatException(file, name, $"data_offsets [{begin}, {end}] end before they begin.");
        }
        if (end > (ulong)dataLength)
        {
            throw new SafetensorsFormatException(file, name, $"data_offsets [{begin}, {end}] reach beyond the data block of {dataLength} bytes.");
        }
        int size = dtype.Value.SizeOf();
        ulong elements = 1;
        foreach (long d in shape)
        {
            if (!TryMultiply(elements, (ulong)d, out elements))
            {
                throw new SafetensorsFormatException(file, name, $"shape [{string.Join(", ", shape)}] has more elements than fit in 64 bits.");
            }
        }
        if (!TryMultiply(elements, (ulong)size, out ulong bytes))
        {
            throw new SafetensorsFormatException(file, name, $"shape [{string.Join(", ", shape)}] of {dtype.Value.ToSafetensorsName()} needs more bytes than fit in 64 bits.");
        }
        if (end - begin != bytes)
        {
            throw new SafetensorsFormatException(file, name,
                $"shape [{string.Join(", ", shape)}] of {dtype.Value.ToSafetensorsName()} needs {bytes} bytes but data_offsets [{begin}, {end}] span {end - begin}.");
        }
        // end ≤ dataLength ≤ long.MaxValue, so both offsets fit in long.
        return new SafetensorsEntry(name, dtype.Value, ImmutableArray.Create(shape), (long)begin, (long)bytes);
    }

    private static long[] ReadShape(ref Utf8JsonReader reader, string file, string name)
    {
        Next(ref reader, file, name);
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new SafetensorsFormatException(file, name, $"shape must be an array of non-negative integers, found {Describe(reader.TokenType)}.");
        }
        var dims = new List<long>();
        while (true)
        {
            Next(ref reader, file, name);
            if (reader.TokenType == JsonTokenType.EndArray)
            {
                return dims.ToArray();
            }
            ulong d = ReadUnsigned(ref reader, file, name, $"shape[{dims.Count}]");
            if (d > long.MaxValue)
            {
                throw new SafetensorsFormatException(file, name, $"shape[{dims.Count}] = {d} is too large.");
            }
            dims.Add((long)d);
        }
    }

    private static (ulong, ulong) ReadOffsets(ref Utf8JsonReader reader, string file, string name)
    {
        Next(ref reader, file, name);
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new SafetensorsFormatException(file, name, $"data_offsets must be an array [begin, end], found {Describe(reader.TokenType)}.");
        }
        Span<ulong> values = stackalloc ulong[2];
        int count = 0;
        while (true)
        {
            Next(ref reader, file, name);
            if (reader.TokenType == JsonTokenType.EndArray)
            {
                break;
            }
            if (count == 2)
            {
                throw new SafetensorsFormatException(file, name, "data_offsets has more than two values.");
            }
            values[count] = ReadUnsigned(ref reader, file, name, $"data_offsets[{count}]");
            count++;
        }
        if (count != 2)
        {
            throw new SafetensorsFormatException(file, name, $"data_offsets has {count} value(s); it must be [begin, end].");
        }
        return (values[0], values[1]);
    }

    /// <summary>Reads a JSON number written as plain decimal digits (no sign, fraction or exponent), as serde reads a usize.</summary>
    private static ulong ReadUnsigned(ref Utf8JsonReader reader, string file, string name, string what)
    {
        if (reader.TokenType != JsonTokenType.Number)
        {
            throw new SafetensorsFormatException(file, name, $"{what} must be a non-negative integer, found {Describe(reader.TokenType)}.");
        }
        ReadOnlySpan<byte> raw = reader.ValueSpan;
        foreach (byte b in raw)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                throw new SafetensorsFormatException(file, name, $"{what} must be a non-negative integer, found {Encoding.UTF8.GetString(raw)}.");
            }
        }
        return reader.TryGetUInt64(out ulong value)
            ? value
            : throw new SafetensorsFormatException(file, name, $"{what} = {Encoding.UTF8.GetString(raw)} does not fit in 64 bits.");
    }

    /// <summary>Sorted by (begin, end), the ranges must start at 0, touch, and end at the end of the data block.</summary>
    private static void CheckCoverage(string file, List<SafetensorsEntry> entries, long dataLength)
    {
        var order = new int[entries.Count];
        for (int i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }
        // Stable by header position for equal ranges (several empty tensors may share an offset).
        Array.Sort(order, (a, b) =>
        {
            int c = entries[a].ByteOffset.CompareTo(entries[b].ByteOffset);
            if (c == 0) { c = entries[a].ByteLength.CompareTo(entries[b].ByteLength); }
            return c != 0 ? c : a.CompareTo(b);
        });
        long covered = 0;
        SafetensorsEntry? previous = null;
        foreach (int i in order)
        {
            var e = entries[i];
            if (e.ByteOffset > covered)
            {
                throw new SafetensorsFormatException(file, e.Name,
                    $"bytes [{covered}, {e.ByteOffset}) of the data block before this tensor belong to no tensor (the data block must be fully indexed).");
            }
            if (e.ByteOffset < covered)
            {
                throw new SafetensorsFormatException(file, e.Name,
                    $"data_offsets [{e.ByteOffset}, {e.ByteOffset + e.ByteLength}] overlap tensor '{previous!.Name}' [{previous.ByteOffset}, {previous.ByteOffset + previous.ByteLength}].");
            }
            covered = e.ByteOffset + e.ByteLength;
            if (e.ByteLength > 0)
            {
                previous = e;
            }
        }
        if (covered != dataLength)
        {
            throw new SafetensorsFormatException(file, null,
                $"the data block has {dataLength} bytes but the tensors cover only the first {covered}; trailing bytes are not allowed.");
        }
    }

    private static bool TryMultiply(ulong a, ulong b, out ulong product)
    {
        product = a * b;
        return a == 0 || product / a == b;
    }

    private static SafetensorsFormatException Duplicate(string file, string name, string field) =>
        new(file, name, $"duplicate field \"{field}\".");

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => token.ToString(),
    };

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        int i = 0;
        while (i < bytes.Length)
        {
            if (Rune.DecodeFromUtf8(bytes[i..], out _, out int consumed) != System.Buffers.OperationStatus.Done)
            {
                return i;
            }
            i += consumed;
        }
        return i;
    }
}
