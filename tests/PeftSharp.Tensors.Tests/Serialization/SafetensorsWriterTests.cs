using System.Buffers.Binary;
using System.Text;
using PeftSharp.Tensors.Serialization;

namespace PeftSharp.Tensors.Tests.Serialization;

public sealed class SafetensorsWriterTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<DType> AllDTypes() => new(Enum.GetValues<DType>());

    [Theory]
    [MemberData(nameof(AllDTypes))]
    public void RoundTrip_PreservesBytesShapeAndMetadata(DType dtype)
    {
        var rng = new Random(7 + (int)dtype);
        long[] shape = [3, 5];
        var data = new byte[15 * dtype.SizeOf()];
        rng.NextBytes(data);
        var scalar = new byte[dtype.SizeOf()];
        rng.NextBytes(scalar);
        string path = _dir.File("rt.safetensors");
        SafetensorsWriter.Write(path,
            [SafetensorsTensor.FromBytes("w", dtype, shape, data), SafetensorsTensor.FromBytes("s", dtype, [], scalar), SafetensorsTensor.FromBytes("e", dtype, [0, 4], Array.Empty<byte>())],
            new Dictionary<string, string> { ["format"] = "pt", ["k"] = "v" });

        using var f = SafetensorsFile.Open(path);
        Assert.Equal(dtype, f.GetEntry("w").DType);
        Assert.Equal(shape, f.GetEntry("w").Shape.ToArray());
        Assert.Equal(data, f.GetBytes("w").ToArray());
        Assert.Equal(scalar, f.GetBytes("s").ToArray());
        Assert.Empty(f.GetEntry("s").Shape);
        Assert.Equal(0, f.GetEntry("e").ByteLength);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal("v", f.Metadata["k"]);
        Assert.Equal(0, f.DataStart % 8);
    }

    [Fact]
    public void FromSingles_StoresRoundedHalfPrecisionBits()
    {
        // Encodings from the format definitions: 1.0, -2.0, 0.5, and 1 + 2^-9, which bf16 (ulp 2^-7) rounds down while f16 (ulp 2^-10) keeps exactly.
        float[] values = [1f, -2f, 0.5f, 1f + 1f / 512];
        string path = _dir.File("h.safetensors");
        SafetensorsWriter.Write(path, [
            SafetensorsTensor.FromSingles("b", values, [4], DType.BF16),
            SafetensorsTensor.FromSingles("h", values, [2, 2], DType.F16),
            SafetensorsTensor.FromSingles("d", values, [4], DType.F64),
            SafetensorsTensor.FromSingles("f", values, [4]),
            SafetensorsTensor.FromInt64s("i", new long[] { -1, 1L << 50 }, [2]),
        ]);
        using var f = SafetensorsFile.Open(path);
        Assert.Equal(new ushort[] { 0x3F80, 0xC000, 0x3F00, 0x3F80 }, f.ReadHalfBits("b"));
        Assert.Equal(new ushort[] { 0x3C00, 0xC000, 0x3800, 0x3C02 }, f.ReadHalfBits("h"));
        Assert.Equal(values, f.ReadSingles("h"));
        Assert.Equal(values, f.ReadSingles("d"));
        Assert.Equal(values, f.ReadSingles("f"));
        Assert.Equal(BitConverter.DoubleToInt64Bits(1.0 + 1.0 / 512), BinaryPrimitives.ReadInt64LittleEndian(f.GetBytes("d")[24..]));
        Assert.Equal([-1L, 1L << 50], f.ReadInt64s("i"));
    }

    [Fact]
    public void LargeHalfTensor_IsConvertedAcrossChunkBoundaries()
    {
        // More than one 16 Ki-element conversion chunk; every value is exactly representable in bf16 and f16.
        float[] values = Enumerable.Range(0, 40_000).Select(i => (float)((i % 2048) - 1024)).ToArray();
        string path = _dir.File("big.safetensors");
        SafetensorsWriter.Write(path, [SafetensorsTensor.FromSingles("b", values, [values.Length], DType.BF16), SafetensorsTensor.FromSingles("h", values, [values.Length], DType.F16)]);
        using var f = SafetensorsFile.Open(path);
        Assert.Equal(values, f.ReadSingles("h"));
        // bf16 keeps 8 significant bits: |v| ≤ 1024 needs up to 11, so compare with the exact truncation-to-even reference computed in double.
        float[] b = f.ReadSingles("b");
        for (int i = 0; i < values.Length; i++)
        {
            Assert.Equal(RoundToBits(values[i], 8), b[i]);
        }
    }

    /// <summary>Rounds to <paramref name="bits"/> significant bits, ties to even, in double arithmetic.</summary>
    private static float RoundToBits(float v, int bits)
    {
        if (v == 0) { return v; }
        int exp = (int)Math.Floor(Math.Log2(Math.Abs(v)));
        double scale = Math.Pow(2, bits - 1 - exp);
        return (float)(Math.Round(v * scale, MidpointRounding.ToEven) / scale);
    }

    [Fact]
    public void HeaderOrder_FollowsReferenceDTypeAlignmentThenName()
    {
        // Reference order (descending position in safetensors' Dtype enum): I64, F64, F32, I32, BF16, F16, I16, I8, U8, BOOL.
        DType[] shuffled = [DType.U8, DType.F16, DType.I64, DType.Bool, DType.F32, DType.I8, DType.BF16, DType.I32, DType.F64, DType.I16];
        var tensors = new List<SafetensorsTensor>();
        foreach (var d in shuffled)
        {
            tensors.Add(SafetensorsTensor.FromBytes("b_" + d, d, [1], new byte[d.SizeOf()]));
            tensors.Add(SafetensorsTensor.FromBytes("a_" + d, d, [3], new byte[3 * d.SizeOf()]));
        }
        string path = _dir.File("o.safetensors");
        SafetensorsWriter.Write(path, tensors);
        using var f = SafetensorsFile.Open(path);
        string[] expected = ["I64", "F64", "F32", "I32", "BF16", "F16", "I16", "I8", "U8", "Bool"];
        Assert.Equal(expected.SelectMany(d => new[] { "a_" + d, "b_" + d }), f.Tensors.Select(t => t.Name));
        long offset = 0;
        foreach (var t in f.Tensors)
        {
            Assert.Equal(offset, t.ByteOffset);
            Assert.Equal(0, (f.DataStart + t.ByteOffset) % t.DType.SizeOf()); // every tensor naturally aligned
            offset += t.ByteLength;
        }
    }

    [Fact]
    public void HeaderBytes_MatchSerdeJsonLayout()
    {
        // Hand-written expectation in the reference writer's format: compact JSON, __metadata__ first,
        // serde_json escaping (quote, backslash, \n short forms, other controls as \u00xx), raw UTF-8, space padding.
        byte[] bytes = SafetensorsWriter.Serialize(
            [SafetensorsTensor.FromBytes("q\"\\\n\u0001é", DType.U8, [1], new byte[] { 9 })],
            new Dictionary<string, string> { ["format"] = "pt" });
        string expected = "{\"__metadata__\":{\"format\":\"pt\"},\"q\\\"\\\\\\n\\u0001é\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
        int length = Encoding.UTF8.GetByteCount(expected);
        int padded = (length + 7) / 8 * 8;
        Assert.Equal((ulong)padded, BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        Assert.Equal(expected + new string(' ', padded - length), Encoding.UTF8.GetString(bytes, 8, padded));
        Assert.Equal(8 + padded + 1, bytes.Length);
        Assert.Equal(9, bytes[^1]);

        string path = _dir.Write("esc.safetensors", bytes);
        using var f = SafetensorsFile.Open(path);
        Assert.True(f.Contains("q\"\\\n\u0001é"));
    }

    [Fact]
    public void NoMetadata_WritesNoMetadataKey_AndEmptyFileIsBraces()
    {
        byte[] bytes = SafetensorsWriter.Serialize([]);
        Assert.Equal("{}      ", Encoding.ASCII.GetString(bytes, 8, 8));
        Assert.Equal(16, bytes.Length);
    }

    [Fact]
    public void BadInput_IsRejectedBeforeAnythingIsWritten()
    {
        string path = _dir.File("bad.safetensors");
        Assert.Throws<ArgumentException>(() => SafetensorsTensor.FromBytes("x", DType.F32, [2], new byte[7]));
        Assert.Throws<ArgumentException>(() => SafetensorsTensor.FromBytes("x", DType.F32, [-1], new byte[0]));
        Assert.Throws<ArgumentException>(() => SafetensorsTensor.FromSingles("x", new float[3], [2]));
        Assert.Throws<ArgumentException>(() => SafetensorsTensor.FromSingles("x", new float[2], [2], DType.I32));
        Assert.Throws<ArgumentException>(() => SafetensorsTensor.FromBytes("x", DType.U8, [long.MaxValue, 2], new byte[0]));
        var dup = Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, [SafetensorsTensor.FromSingles("a", new float[1], [1]), SafetensorsTensor.FromSingles("a", new float[1], [1])]));
        Assert.Contains("'a' appears more than once", dup.Message);
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, [SafetensorsTensor.FromSingles("__metadata__", new float[1], [1])]));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, [SafetensorsTensor.FromSingles("\ud800", new float[1], [1])]));
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void Write_ReplacesExistingFile_WithoutLeavingTemporaryFiles()
    {
        string path = _dir.File("m.safetensors");
        SafetensorsWriter.Write(path, [SafetensorsTensor.FromSingles("a", new float[] { 1 }, [1])]);
        SafetensorsWriter.Write(path, [SafetensorsTensor.FromSingles("b", new float[] { 2, 3 }, [2])]);
        using var f = SafetensorsFile.Open(path);
        Assert.Equal(["b"], f.Tensors.Select(t => t.Name));
        Assert.Equal([2f, 3f], f.ReadSingles("b"));
        Assert.Equal([path], Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void FailureMidway_LeavesTargetUntouched_AndDeletesTemporaryFile()
    {
        string path = _dir.File("m.safetensors");
        SafetensorsWriter.Write(path, [SafetensorsTensor.FromSingles("old", new float[] { 1, 2 }, [2])]);
        byte[] before = File.ReadAllBytes(path);

        var big = new float[100_000];
        var e = Assert.Throws<IOException>(() => SafetensorsWriter.Write(path, [SafetensorsTensor.FromSingles("new", big, [big.Length])], null,
            wrap: s => new FailingStream(s, failAfterBytes: 50_000)));
        Assert.Contains("No space left", e.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void FailureMidway_WithoutExistingTarget_CreatesNothing()
    {
        string path = _dir.File("fresh.safetensors");
        Assert.Throws<IOException>(() => SafetensorsWriter.Write(path, [SafetensorsTensor.FromSingles("w", new float[1000], [1000], DType.BF16)], null,
            wrap: s => new FailingStream(s, failAfterBytes: 100)));
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void Overwrite_WhileOldFileIsMapped_KeepsTheOpenReaderValid()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // Windows refuses to replace a mapped file; the rename then fails and the target stays intact.
        }
        string path = _dir.File("m.safetensors");
        SafetensorsWriter.Write(path, [SafetensorsTensor.FromSingles("w", new float[] { 1, 2, 3 }, [3])]);
        using var old = SafetensorsFile.Open(path);
        SafetensorsWriter.Write(path, [SafetensorsTensor.FromSingles("w", new float[] { 4, 5, 6 }, [3])]);
        Assert.Equal([1f, 2f, 3f], old.ReadSingles("w"));
        using var fresh = SafetensorsFile.Open(path);
        Assert.Equal([4f, 5f, 6f], fresh.ReadSingles("w"));
    }

    /// <summary>Passes writes through until a byte budget is spent, then fails as a full disk does.</summary>
    private sealed class FailingStream(Stream inner, long failAfterBytes) : Stream
    {
        private long _written;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_written + buffer.Length > failAfterBytes)
            {
                int allowed = (int)(failAfterBytes - _written);
                inner.Write(buffer[..allowed]);
                _written = failAfterBytes;
                throw new IOException("No space left on device");
            }
            inner.Write(buffer);
            _written += buffer.Length;
        }
    }
}
