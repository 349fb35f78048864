using PeftSharp.Tensors.Serialization;

namespace PeftSharp.Tensors.Tests.Serialization;

public sealed class SafetensorsCheckpointTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private void Shard(string name, params (string Tensor, float[] Values)[] tensors) =>
        SafetensorsWriter.Write(_dir.File(name), tensors.Select(t => SafetensorsTensor.FromSingles(t.Tensor, t.Values, [t.Values.Length])));

    private void Index(string weightMapJson, string extra = "") =>
        File.WriteAllText(_dir.File(SafetensorsCheckpoint.IndexFileName), "{\"metadata\":{\"total_size\":28" + extra + "},\"weight_map\":" + weightMapJson + "}");

    private void TwoShards()
    {
        Shard("model-00001-of-00002.safetensors", ("a", [1, 2]), ("b", [3]));
        Shard("model-00002-of-00002.safetensors", ("c", [4, 5, 6, 7]));
    }

    private const string TwoShardMap =
        "{\"c\":\"model-00002-of-00002.safetensors\",\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00001-of-00002.safetensors\"}";

    [Fact]
    public void ShardedDirectory_LooksUpTensorsAcrossShards()
    {
        TwoShards();
        Index(TwoShardMap, ",\"format\":\"pt\"");
        using var ckpt = SafetensorsCheckpoint.Open(_dir.Path);
        Assert.Equal(2, ckpt.Shards.Count);
        Assert.Equal(["c", "a", "b"], ckpt.Tensors.Select(t => t.Name));
        Assert.Equal([1f, 2f], ckpt.ReadSingles("a"));
        Assert.Equal([4f, 5f, 6f, 7f], ckpt.GetSingles("c").ToArray());
        Assert.Equal("model-00002-of-00002.safetensors", Path.GetFileName(ckpt.FileOf("c").Path));
        Assert.Equal("28", ckpt.Metadata["total_size"]);
        Assert.Equal("pt", ckpt.Metadata["format"]);
        Assert.False(ckpt.Contains("d"));
        Assert.Throws<KeyNotFoundException>(() => ckpt.GetEntry("d"));
        using var viaIndex = SafetensorsCheckpoint.Open(_dir.File(SafetensorsCheckpoint.IndexFileName));
        Assert.Equal(3, viaIndex.Tensors.Count);
    }

    [Fact]
    public void SingleFileDirectory_And_FilePath_Open()
    {
        Shard(SafetensorsCheckpoint.SingleFileName, ("w", [1, 2, 3]));
        using var ckpt = SafetensorsCheckpoint.Open(_dir.Path);
        Assert.Null(ckpt.IndexPath);
        Assert.Equal([1f, 2f, 3f], ckpt.ReadSingles("w"));
        Shard("adapter_model.safetensors", ("x", [9]));
        using var file = SafetensorsCheckpoint.Open(_dir.File("adapter_model.safetensors"));
        Assert.Equal([9f], file.ReadSingles("x"));
    }

    [Fact]
    public void ShardInSubfolder_IsAllowed()
    {
        Directory.CreateDirectory(_dir.File("sub"));
        Shard("sub/s.safetensors", ("a", [1]));
        Index("{\"a\":\"sub/s.safetensors\"}");
        using var ckpt = SafetensorsCheckpoint.Open(_dir.Path);
        Assert.Equal([1f], ckpt.ReadSingles("a"));
    }

    [Fact]
    public void EmptyDirectory_ThrowsFileNotFound() =>
        Assert.Throws<FileNotFoundException>(() => SafetensorsCheckpoint.Open(_dir.Path));

    private SafetensorsFormatException Reject(string fragment, string? tensor = null)
    {
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsCheckpoint.Open(_dir.Path).Dispose());
        Assert.Equal(_dir.File(SafetensorsCheckpoint.IndexFileName), e.FilePath);
        Assert.Equal(tensor, e.TensorName);
        Assert.Contains(fragment, e.Message);
        return e;
    }

    [Theory]
    [InlineData("../outside.safetensors")]
    [InlineData("sub/../../outside.safetensors")]
    [InlineData("..")]
    public void ShardPathEscapingDirectory_IsRejected(string shard)
    {
        // The checkpoint lives in inner/; the escaping target exists and is valid, so only the containment check can stop it.
        SafetensorsWriter.Write(_dir.File("outside.safetensors"), [SafetensorsTensor.FromSingles("a", new float[] { 1 }, [1])]);
        string inner = _dir.File("inner");
        Directory.CreateDirectory(inner);
        string index = Path.Combine(inner, SafetensorsCheckpoint.IndexFileName);
        File.WriteAllText(index, "{\"weight_map\":{\"a\":\"" + shard + "\"}}");
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsCheckpoint.Open(inner).Dispose());
        Assert.Equal(index, e.FilePath);
        Assert.Equal("a", e.TensorName);
        Assert.Contains("points outside the checkpoint directory", e.Message);
    }

    [Fact]
    public void AbsoluteShardPath_IsRejected()
    {
        TwoShards();
        Index("{\"a\":\"" + _dir.File("model-00001-of-00002.safetensors").Replace("\\", "\\\\") + "\"}");
        Reject("is not a relative file name", "a");
    }

    [Theory]
    [InlineData("")]
    [InlineData("sub/")]
    public void EmptyOrFolderShardName_IsRejected(string shard)
    {
        Index("{\"a\":\"" + shard + "\"}");
        Reject("is not a relative file name", "a");
    }

    [Fact]
    public void MissingShard_IsRejected()
    {
        Index("{\"a\":\"nope.safetensors\"}");
        Reject("shard \"nope.safetensors\" does not exist", "a");
    }

    [Fact]
    public void TensorAbsentFromItsShard_IsRejected()
    {
        TwoShards();
        Index("{\"a\":\"model-00002-of-00002.safetensors\",\"c\":\"model-00002-of-00002.safetensors\"}");
        Reject("maps it to shard \"model-00002-of-00002.safetensors\", which does not hold it", "a");
    }

    [Fact]
    public void ShardTensorMissingFromIndex_IsRejected()
    {
        TwoShards();
        Index("{\"a\":\"model-00001-of-00002.safetensors\",\"c\":\"model-00002-of-00002.safetensors\"}");
        Reject("holds it but the index maps it nowhere", "b");
    }

    [Fact]
    public void TensorInTwoShards_IsRejected()
    {
        Shard("s1.safetensors", ("a", [1]));
        Shard("s2.safetensors", ("a", [2]), ("b", [3]));
        Index("{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}");
        Reject("shard \"s2.safetensors\" holds it but the index maps it to \"s1.safetensors\"", "a");
    }

    [Theory]
    [InlineData("{\"metadata\":{}}", "index has no \"weight_map\" object")]
    [InlineData("{\"weight_map\":[]}", "\"weight_map\" must be an object")]
    [InlineData("{\"weight_map\":{\"a\":1}}", "value must be a shard file name string")]
    [InlineData("{\"weight_map\":{\"a\":\"x\",\"a\":\"x\"}}", "listed twice")]
    [InlineData("{\"weight_map\":{},\"weight_map\":{}}", "duplicate key \"weight_map\"")]
    [InlineData("{\"weight_map\":{}", "index is not valid JSON")]
    [InlineData("{\"weight_map\":{}} trailing", "index is not valid JSON")]
    [InlineData("[]", "index is not a JSON object")]
    [InlineData("{\"metadata\":{\"x\":[1]},\"weight_map\":{}}", "must be a string or number")]
    public void MalformedIndex_IsRejected(string json, string fragment)
    {
        File.WriteAllText(_dir.File(SafetensorsCheckpoint.IndexFileName), json);
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsCheckpoint.Open(_dir.Path).Dispose());
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void CorruptShard_ReportsTheShard()
    {
        TwoShards();
        File.WriteAllBytes(_dir.File("model-00002-of-00002.safetensors"), new byte[3]);
        Index(TwoShardMap);
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsCheckpoint.Open(_dir.Path).Dispose());
        Assert.Equal(_dir.File("model-00002-of-00002.safetensors"), e.FilePath);
    }

    [Fact]
    public void WriteSharded_SplitsAtTheLimit_AndReadsBack()
    {
        // 40 + 40 + 24 + 100 bytes with a 90-byte limit: [a, b] (80), [c] (24 + 100 > 90 starts a new shard), [big] alone.
        var tensors = new (string Name, float[] Values)[] { ("a", new float[10]), ("b", new float[10]), ("c", new float[6]), ("big", new float[25]) };
        for (int t = 0; t < tensors.Length; t++)
        {
            for (int i = 0; i < tensors[t].Values.Length; i++) { tensors[t].Values[i] = t * 100 + i; }
        }
        var written = SafetensorsWriter.WriteSharded(_dir.Path, tensors.Select(t => SafetensorsTensor.FromSingles(t.Name, t.Values, [t.Values.Length])), 90,
            new Dictionary<string, string> { ["format"] = "pt" });
        Assert.Equal(["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", SafetensorsCheckpoint.IndexFileName],
            written.Select(Path.GetFileName));
        using var ckpt = SafetensorsCheckpoint.Open(_dir.Path);
        Assert.Equal("204", ckpt.Metadata["total_size"]);
        Assert.Equal(3, ckpt.Shards.Count);
        Assert.Equal("model-00002-of-00003.safetensors", Path.GetFileName(ckpt.FileOf("c").Path));
        foreach (var (name, values) in tensors)
        {
            Assert.Equal(values, ckpt.ReadSingles(name));
        }
        Assert.Equal("pt", ckpt.FileOf("big").Metadata["format"]);
    }

    [Fact]
    public void WriteSharded_WhenEverythingFits_WritesOneFileAndDropsStaleIndex()
    {
        Index("{}");
        var written = SafetensorsWriter.WriteSharded(_dir.Path, [SafetensorsTensor.FromSingles("w", new float[] { 1, 2 }, [2])], 1 << 20);
        Assert.Equal([_dir.File(SafetensorsCheckpoint.SingleFileName)], written);
        Assert.False(File.Exists(_dir.File(SafetensorsCheckpoint.IndexFileName)));
        using var ckpt = SafetensorsCheckpoint.Open(_dir.Path);
        Assert.Equal([1f, 2f], ckpt.ReadSingles("w"));
    }
}
