using System.Text;
using PeftSharp.Tensors.Serialization;

namespace PeftSharp.Tensors.Tests.Serialization;

/// <summary>Every way a safetensors header can lie gets a <see cref="SafetensorsFormatException"/> naming the problem.</summary>
public sealed class SafetensorsValidationTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private SafetensorsFormatException Reject(byte[] bytes, string fragment, string? tensor = null)
    {
        string path = _dir.Write("bad.safetensors", bytes);
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Equal(path, e.FilePath);
        Assert.Equal(tensor, e.TensorName);
        Assert.Contains(fragment, e.Message);
        Assert.StartsWith(path, e.Message);
        return e;
    }

    private static string One(string entry) => "{\"t\":" + entry + "}";

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    public void FileShorterThanLengthPrefix_IsRejected(int length) =>
        Reject(new byte[length], $"file has {length} bytes");

    [Fact]
    public void HeaderLongerThanFile_IsRejected() =>
        Reject(RawSafetensors.Build("{}"u8.ToArray(), declaredLength: 100), "header length 100 exceeds the 8 bytes");

    [Theory]
    [InlineData(100_000_001UL)]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 63)]
    public void HeaderLengthAboveLimit_IsRejectedBeforeReading(ulong declared) =>
        Reject(RawSafetensors.Build("{}"u8.ToArray(), declaredLength: declared), "exceeds the limit of 100000000 bytes");

    [Fact]
    public void EmptyHeader_IsRejected() => Reject(RawSafetensors.Build([], pad: false), "header is empty");

    [Theory]
    [InlineData(" {}", "0x20")]
    [InlineData("[]      ", "0x5B")]
    [InlineData("\"x\"     ", "0x22")]
    public void HeaderNotStartingWithBrace_IsRejected(string header, string fragment) =>
        Reject(RawSafetensors.Build(header), $"must start with '{{' but starts with byte {fragment}");

    [Fact]
    public void HeaderNotUtf8_IsRejected()
    {
        byte[] header = [.. "{\"a"u8, 0xFF, .. "\":1}"u8];
        Reject(RawSafetensors.Build(header), "not valid UTF-8 (first invalid byte at header offset 3)");
    }

    [Theory]
    [InlineData("{abc}")]
    [InlineData("{\"t\":{\"dtype\":\"F32\"")]
    [InlineData("{} x")]
    [InlineData("{}{}")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",}}")]
    [InlineData("{/*c*/}")]
    [InlineData("{\"t\":{\"shape\":[01],\"dtype\":\"F32\",\"data_offsets\":[0,4]}}")]
    public void HeaderNotJson_IsRejected(string header) => Reject(RawSafetensors.Build(header), "header is not valid JSON");

    [Fact]
    public void NulPaddingInsteadOfSpaces_IsRejected()
    {
        byte[] header = [.. "{}"u8, 0, 0, 0, 0, 0, 0];
        Reject(RawSafetensors.Build(header, pad: false), "header is not valid JSON");
    }

    [Fact]
    public void DuplicateTensorKey_IsRejected() =>
        Reject(RawSafetensors.Build("{\"t\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]},\"t\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[1,2]}}", [1, 2]),
            "duplicate key in header", "t");

    [Fact]
    public void DuplicateMetadataKey_IsRejected() =>
        Reject(RawSafetensors.Build("{\"__metadata__\":{},\"__metadata__\":{}}"), "duplicate key '__metadata__'");

    [Fact]
    public void DuplicateKeyInsideMetadata_IsRejected() =>
        Reject(RawSafetensors.Build("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}"), "duplicate key 'a' in '__metadata__'");

    [Theory]
    [InlineData("[]", "must be an object of strings, found an array")]
    [InlineData("\"pt\"", "must be an object of strings, found a string")]
    [InlineData("{\"format\":1}", "value for key 'format' must be a string, found a number")]
    [InlineData("{\"format\":{\"x\":\"y\"}}", "value for key 'format' must be a string, found an object")]
    [InlineData("{\"format\":null}", "value for key 'format' must be a string, found null")]
    public void MetadataNotStringToString_IsRejected(string value, string fragment) =>
        Reject(RawSafetensors.Build("{\"__metadata__\":" + value + "}"), fragment);

    [Theory]
    [InlineData("[1]", "found an array")]
    [InlineData("\"F32\"", "found a string")]
    [InlineData("null", "found null")]
    public void EntryNotObject_IsRejected(string entry, string fragment) =>
        Reject(RawSafetensors.Build(One(entry)), "entry must be an object with dtype, shape and data_offsets, " + fragment, "t");

    [Theory]
    [InlineData("{\"shape\":[],\"data_offsets\":[0,0]}", "dtype")]
    [InlineData("{\"dtype\":\"F32\",\"data_offsets\":[0,0]}", "shape")]
    [InlineData("{\"dtype\":\"F32\",\"shape\":[0]}", "data_offsets")]
    [InlineData("{}", "dtype")]
    public void EntryMissingField_IsRejected(string entry, string field) =>
        Reject(RawSafetensors.Build(One(entry)), $"entry has no \"{field}\"", "t");

    [Fact]
    public void EntryExtraField_IsRejected() =>
        Reject(RawSafetensors.Build(One("{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0],\"strides\":[1]}")), "unexpected field \"strides\"", "t");

    [Fact]
    public void EntryDuplicateField_IsRejected() =>
        Reject(RawSafetensors.Build(One("{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[0,0]}")), "duplicate field \"dtype\"", "t");

    [Theory]
    [InlineData("\"F8_E4M3\"", "unknown dtype \"F8_E4M3\"")]
    [InlineData("\"f32\"", "unknown dtype \"f32\"")]
    [InlineData("\"U16\"", "unknown dtype \"U16\"")]
    [InlineData("4", "dtype must be a string, found a number")]
    public void UnknownDType_IsRejected(string dtype, string fragment) =>
        Reject(RawSafetensors.Build(One("{\"dtype\":" + dtype + ",\"shape\":[0],\"data_offsets\":[0,0]}")), fragment, "t");

    [Theory]
    [InlineData("[-1]", "shape[0] must be a non-negative integer, found -1")]
    [InlineData("[2,1.5]", "shape[1] must be a non-negative integer, found 1.5")]
    [InlineData("[1e2]", "shape[0] must be a non-negative integer, found 1e2")]
    [InlineData("[\"2\"]", "shape[0] must be a non-negative integer, found a string")]
    [InlineData("[true]", "shape[0] must be a non-negative integer, found a boolean")]
    [InlineData("[[2]]", "shape[0] must be a non-negative integer, found an array")]
    [InlineData("2", "shape must be an array of non-negative integers, found a number")]
    [InlineData("[18446744073709551616]", "shape[0] = 18446744073709551616 does not fit in 64 bits")]
    [InlineData("[9223372036854775808]", "shape[0] = 9223372036854775808 is too large")]
    public void BadDimension_IsRejected(string shape, string fragment) =>
        Reject(RawSafetensors.Build(One("{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":[0,0]}")), fragment, "t");

    [Fact]
    public void ShapeProductOverflow_IsRejected() =>
        Reject(RawSafetensors.Build(One("{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}")), "more elements than fit in 64 bits", "t");

    [Fact]
    public void ShapeByteCountOverflow_IsRejected() =>
        Reject(RawSafetensors.Build(One("{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}")), "needs more bytes than fit in 64 bits", "t");

    [Theory]
    [InlineData("[0]", "data_offsets has 1 value(s)")]
    [InlineData("[]", "data_offsets has 0 value(s)")]
    [InlineData("[0,4,8]", "data_offsets has more than two values")]
    [InlineData("[8,4]", "data_offsets [8, 4] end before they begin")]
    [InlineData("[-4,0]", "data_offsets[0] must be a non-negative integer, found -4")]
    [InlineData("[0,4.0]", "data_offsets[1] must be a non-negative integer, found 4.0")]
    [InlineData("{\"begin\":0}", "data_offsets must be an array [begin, end], found an object")]
    [InlineData("[0,18446744073709551615]", "data_offsets [0, 18446744073709551615] reach beyond the data block of 8 bytes")]
    public void BadDataOffsets_AreRejected(string offsets, string fragment) =>
        Reject(RawSafetensors.Build(One("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":" + offsets + "}"), new byte[8]), fragment, "t");

    [Fact]
    public void ByteRangeDisagreeingWithShape_IsRejected() =>
        Reject(RawSafetensors.Build(One("{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}"), new byte[20]),
            "shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20] span 20", "t");

    [Fact]
    public void RangeBeyondDataBlock_IsRejected() =>
        Reject(RawSafetensors.Build(One("{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}"), new byte[12]),
            "data_offsets [0, 16] reach beyond the data block of 12 bytes", "t");

    [Fact]
    public void OverlappingRanges_AreRejected() =>
        Reject(RawSafetensors.Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]),
            "data_offsets [4, 12] overlap tensor 'a' [0, 8]", "b");

    [Fact]
    public void IdenticalRanges_AreRejectedAsOverlap() =>
        Reject(RawSafetensors.Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]),
            "overlap tensor 'a' [0, 4]", "b");

    [Fact]
    public void EmptyTensorInsideAnotherTensor_IsRejectedAsOverlap() =>
        Reject(RawSafetensors.Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", new byte[8]),
            "data_offsets [4, 4] overlap tensor 'a' [0, 8]", "z");

    [Fact]
    public void GapBetweenRanges_IsRejected() =>
        Reject(RawSafetensors.Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", new byte[12]),
            "bytes [4, 8) of the data block before this tensor belong to no tensor", "b");

    [Fact]
    public void DataNotStartingAtZero_IsRejected() =>
        Reject(RawSafetensors.Build(One("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}"), new byte[8]),
            "bytes [0, 4) of the data block before this tensor belong to no tensor", "t");

    [Fact]
    public void TrailingBytesAfterLastTensor_AreRejected() =>
        Reject(RawSafetensors.Build(One("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}"), new byte[9]),
            "the data block has 9 bytes but the tensors cover only the first 4");

    [Fact]
    public void DataWithoutTensors_IsRejected() =>
        Reject(RawSafetensors.Build("{}", Encoding.ASCII.GetBytes("polyglot")), "the data block has 8 bytes but the tensors cover only the first 0");

    [Fact]
    public void UnpairedSurrogateEscapeInName_IsRejected() =>
        Reject(RawSafetensors.Build("{\"\\ud800\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}"), "cannot be decoded");

    [Fact]
    public void InvalidEscape_IsRejected() =>
        Reject(RawSafetensors.Build("{\"\\x41\":{}}"), "header is not valid JSON");
}
