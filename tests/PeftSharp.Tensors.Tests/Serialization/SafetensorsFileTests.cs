using System.Buffers.Binary;
using PeftSharp.Tensors.Serialization;

namespace PeftSharp.Tensors.Tests.Serialization;

/// <summary>Reading valid files built by hand (independently of the writer).</summary>
public sealed class SafetensorsFileTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private SafetensorsFile Open(byte[] bytes) => SafetensorsFile.Open(_dir.Write("f.safetensors", bytes));

    [Fact]
    public void EmptyHeaderWithoutData_IsValid()
    {
        using var f = Open(RawSafetensors.Build("{}", pad: false));
        Assert.Empty(f.Tensors);
        Assert.Empty(f.Metadata);
        Assert.Equal(10, f.DataStart);
        Assert.False(f.Contains("x"));
    }

    [Theory]
    [InlineData("{}      ")]
    [InlineData("{}\n\t\r  ")]
    [InlineData("{ \"__metadata__\" : { \"format\" : \"pt\" } }")]
    public void WhitespaceInsideAndAfterHeader_IsAllowed(string header)
    {
        using var f = Open(RawSafetensors.Build(header, pad: false));
        Assert.Empty(f.Tensors);
    }

    [Fact]
    public void Metadata_IsExposed_AndNullMeansNone()
    {
        using (var f = Open(RawSafetensors.Build("{\"__metadata__\":{\"format\":\"pt\",\"note\":\"\\u00e9\\n\"}}")))
        {
            Assert.Equal(2, f.Metadata.Count);
            Assert.Equal("pt", f.Metadata["format"]);
            Assert.Equal("é\n", f.Metadata["note"]);
        }
        using (var g = SafetensorsFile.Open(_dir.Write("g.safetensors", RawSafetensors.Build("{\"__metadata__\":null}"))))
        {
            Assert.Empty(g.Metadata);
        }
    }

    [Fact]
    public void ZeroElementAndScalarTensors_AreValid_AndKeepHeaderOrder()
    {
        // Header order differs from offset order; two empty tensors share offset 4 with the scalar's end.
        string header = "{\"z2\":{\"dtype\":\"F16\",\"shape\":[3,0],\"data_offsets\":[4,4]},"
            + "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
            + "\"z1\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[4,4]}}";
        using var f = Open(RawSafetensors.Build(header, RawSafetensors.Singles(2.5f)));
        Assert.Equal(["z2", "s", "z1"], f.Tensors.Select(t => t.Name));
        Assert.Equal(0, f.GetEntry("z2").ElementCount);
        Assert.Equal([3L, 0L], f.GetEntry("z2").Shape.ToArray());
        Assert.Empty(f.ReadSingles("z2"));
        Assert.Empty(f.ReadInt64s("z1"));
        Assert.Empty(f.GetEntry("s").Shape);
        Assert.Equal(1, f.GetEntry("s").ElementCount);
        Assert.Equal([2.5f], f.ReadSingles("s"));
    }

    [Fact]
    public void EveryDType_ReadsItsLittleEndianValues()
    {
        // Bit patterns from the IEEE 754 / bfloat16 definitions: 1.0 = 0x3F80 (bf16), 0x3C00 (f16); -2.0 = 0xC000 in both.
        byte[] f32 = RawSafetensors.Singles(1.5f, -0.25f);
        byte[] f64 = new byte[16];
        BinaryPrimitives.WriteDoubleLittleEndian(f64, 0.1);
        BinaryPrimitives.WriteDoubleLittleEndian(f64.AsSpan(8), -3.0);
        byte[] bf16 = [0x80, 0x3F, 0x00, 0xC0];
        byte[] f16 = [0x00, 0x3C, 0x00, 0xC0];
        byte[] i64 = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(i64, long.MinValue);
        BinaryPrimitives.WriteInt64LittleEndian(i64.AsSpan(8), 1L << 40);
        byte[] i32 = [0xFF, 0xFF, 0xFF, 0xFF, 0x05, 0, 0, 0];
        byte[] i16 = [0x00, 0x80, 0x07, 0x00];
        byte[] i8 = [0x80, 0x7F];
        byte[] u8 = [0xFF, 0x01];
        byte[] bools = [0x00, 0x01];
        byte[][] blocks = [f64, i64, f32, i32, bf16, f16, i16, i8, u8, bools];
        string[] names = ["F64", "I64", "F32", "I32", "BF16", "F16", "I16", "I8", "U8", "BOOL"];
        var parts = new List<string>();
        long offset = 0;
        for (int i = 0; i < names.Length; i++)
        {
            parts.Add($"\"{names[i]}\":{{\"dtype\":\"{names[i]}\",\"shape\":[2],\"data_offsets\":[{offset},{offset + blocks[i].Length}]}}");
            offset += blocks[i].Length;
        }
        using var f = Open(RawSafetensors.Build("{" + string.Join(",", parts) + "}", blocks.SelectMany(b => b).ToArray()));

        Assert.Equal([1.5f, -0.25f], f.ReadSingles("F32"));
        Assert.Equal([1.5f, -0.25f], f.GetSingles("F32").ToArray());
        Assert.Equal([(float)0.1, -3f], f.ReadSingles("F64"));
        Assert.Equal([1f, -2f], f.ReadSingles("BF16"));
        Assert.Equal([1f, -2f], f.ReadSingles("F16"));
        Assert.Equal(new ushort[] { 0x3F80, 0xC000 }, f.ReadHalfBits("BF16"));
        Assert.Equal(new ushort[] { 0x3C00, 0xC000 }, f.GetHalfBits("F16").ToArray());
        Assert.Equal([long.MinValue, 1L << 40], f.ReadInt64s("I64"));
        Assert.Equal([-1L, 5L], f.ReadInt64s("I32"));
        Assert.Equal([-32768L, 7L], f.ReadInt64s("I16"));
        Assert.Equal([-128L, 127L], f.ReadInt64s("I8"));
        Assert.Equal([255L, 1L], f.ReadInt64s("U8"));
        Assert.Equal([0L, 1L], f.ReadInt64s("BOOL"));
        for (int i = 0; i < names.Length; i++)
        {
            Assert.Equal(blocks[i], f.GetBytes(names[i]).ToArray());
            var e = f.GetEntry(names[i]);
            Assert.Equal(blocks[i].Length, e.ByteLength);
            Assert.Equal(2, e.ElementCount);
        }
    }

    [Fact]
    public void GetSingles_IsZeroCopyOverTheMapping()
    {
        using var f = Open(RawSafetensors.Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", RawSafetensors.Singles(1, 2)));
        var span = f.GetSingles("a");
        var bytes = f.GetBytes("a");
        unsafe
        {
            fixed (float* s = span)
            fixed (byte* b = bytes)
            {
                Assert.Equal((nint)b, (nint)s); // same mapped address, not a copy
            }
        }
    }

    [Fact]
    public void ChunkedCopies_ReadAnyRange()
    {
        float[] values = Enumerable.Range(0, 37).Select(i => i * 0.5f).ToArray();
        using var f = Open(RawSafetensors.Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[37],\"data_offsets\":[0,148]}}", RawSafetensors.Singles(values)));
        var part = new float[10];
        f.CopySingles("a", 27, part);
        Assert.Equal(values[27..], part);
        var bytes = new byte[8];
        f.CopyBytes("a", 4, bytes);
        Assert.Equal(RawSafetensors.Singles(values[1], values[2]), bytes);
        var all = new float[37];
        f.CopySingles("a", all);
        Assert.Equal(values, all);
        Assert.Throws<ArgumentOutOfRangeException>(() => f.CopySingles("a", 28, new float[10]));
        Assert.Throws<ArgumentOutOfRangeException>(() => f.CopySingles("a", -1, new float[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => f.CopyBytes("a", 141, new byte[8]));
        Assert.Throws<ArgumentException>(() => f.CopySingles("a", new float[36]));
    }

    [Fact]
    public void WrongDTypeOrMissingName_GivesPreciseErrors()
    {
        using var f = Open(RawSafetensors.Build("{\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", new byte[16]));
        var e1 = Assert.Throws<InvalidOperationException>(() => f.ReadSingles("ids"));
        Assert.Contains("tensor 'ids' is I64; ReadSingles reads F32, BF16, F16, F64", e1.Message);
        var e2 = Assert.Throws<InvalidOperationException>(() => f.ReadInt64s("w"));
        Assert.Contains("tensor 'w' is F32; ReadInt64s reads", e2.Message);
        Assert.Throws<InvalidOperationException>(() => f.GetHalfBits("w"));
        Assert.Throws<InvalidOperationException>(() => { _ = f.GetSingles("ids"); });
        var e3 = Assert.Throws<KeyNotFoundException>(() => f.GetEntry("nope"));
        Assert.Contains(f.Path, e3.Message);
        Assert.Contains("'nope'", e3.Message);
    }

    [Fact]
    public void AfterDispose_ReadsThrowObjectDisposed()
    {
        var f = Open(RawSafetensors.Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]));
        f.Dispose();
        f.Dispose();
        Assert.Throws<ObjectDisposedException>(() => f.ReadSingles("a"));
    }

    [Fact]
    public void MissingFile_ThrowsFileNotFound() =>
        Assert.Throws<FileNotFoundException>(() => SafetensorsFile.Open(_dir.File("absent.safetensors")));
}

/// <summary>A sparse file over 4 GiB: offsets beyond 32 bits and tensors too big for one span.</summary>
public sealed class SafetensorsLargeFileTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void TensorsPastFourGiB_AreReachableByChunks()
    {
        const long big = (1L << 32) + 64; // U8 bytes of the first tensor
        string header = $"{{\"big\":{{\"dtype\":\"U8\",\"shape\":[{big}],\"data_offsets\":[0,{big}]}},\"tail\":{{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[{big},{big + 8}]}}}}";
        byte[] prefix = RawSafetensors.Build(header);
        string path = _dir.File("big.safetensors");
        using (var fs = new FileStream(path, FileMode.CreateNew))
        {
            fs.Write(prefix);
            fs.SetLength(prefix.Length + big + 8); // sparse: no data written
            fs.Position = prefix.Length + big - 4;
            fs.Write([1, 2, 3, 4]);
            fs.Write(RawSafetensors.Singles(1.5f, -7f));
        }
        using var f = SafetensorsFile.Open(path);
        Assert.Equal(big, f.GetEntry("big").ByteLength);
        var e = Assert.Throws<InvalidOperationException>(() => { _ = f.GetBytes("big"); });
        Assert.Contains("CopyBytes", e.Message);
        var last = new byte[6];
        f.CopyBytes("big", big - 6, last);
        Assert.Equal(new byte[] { 0, 0, 1, 2, 3, 4 }, last);
        Assert.Equal([1.5f, -7f], f.ReadSingles("tail"));
        Assert.Equal(big, f.GetEntry("tail").ByteOffset);
    }
}
