using PeftSharp.Tensors.Serialization;
using Xunit.Abstractions;

namespace PeftSharp.Tensors.Tests.Serialization;

/// <summary>
/// Files written by Hugging Face (transformers, PEFT, the safetensors library): each must open, and re-writing its
/// tensors and metadata must reproduce the file byte for byte. When no fixture root exists the absence is reported
/// in the test output (these files are checked in depth by the conformance tests).
/// </summary>
public sealed class SafetensorsFixtureTests(ITestOutputHelper output)
{
    [Fact]
    public void HuggingFaceFiles_OpenAndRewriteByteForByte()
    {
        string? root = FindFixtureRoot();
        string? peft = root is null ? null : Path.Combine(root, "peft");
        if (peft is null || !Directory.Exists(peft))
        {
            output.WriteLine("No fixture root (set PEFTSHARP_FIXTURES or provide ../shared/fixtures): Hugging Face files not checked.");
            return;
        }
        string[] files = Directory.GetFiles(peft, "*.safetensors", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        Assert.NotEmpty(files);
        int tensors = 0;
        foreach (string file in files)
        {
            using var f = SafetensorsFile.Open(file);
            Assert.Equal("pt", f.Metadata["format"]); // every fixture writer records the torch origin
            var rewritten = SafetensorsWriter.Serialize(
                f.Tensors.Select(e => SafetensorsTensor.FromBytes(e.Name, e.DType, e.Shape.AsSpan(), f.GetBytes(e.Name).ToArray())).ToArray(),
                f.Metadata);
            Assert.True(File.ReadAllBytes(file).AsSpan().SequenceEqual(rewritten), $"{file}: rewrite differs from the Hugging Face bytes");
            foreach (var e in f.Tensors)
            {
                if (e.DType == DType.F32)
                {
                    Assert.All(f.ReadSingles(e.Name), v => Assert.True(float.IsFinite(v), $"{file}: {e.Name} has a non-finite value"));
                }
            }
            tensors += f.Tensors.Count;
        }
        output.WriteLine($"{files.Length} files, {tensors} tensors from {root}");
    }

    [Fact]
    public void IoFixture_InputIds_AreTokenIdsOfTheVocabulary()
    {
        string? root = FindFixtureRoot();
        string io = root is null ? "" : Path.Combine(root, "peft", "llama-lora", "io.safetensors");
        if (!File.Exists(io))
        {
            output.WriteLine("No fixture root: llama-lora/io.safetensors not checked.");
            return;
        }
        using var f = SafetensorsFile.Open(io);
        // Fixture README: batch 2, length 16, vocab 128, row 1 right-padded by 5 with id 0 and mask 0.
        var ids = f.GetEntry("input_ids");
        Assert.Equal(DType.I64, ids.DType);
        Assert.Equal([2L, 16L], ids.Shape.ToArray());
        long[] values = f.ReadInt64s("input_ids");
        long[] mask = f.ReadInt64s("attention_mask");
        Assert.All(values, v => Assert.InRange(v, 0, 127));
        Assert.Equal(Enumerable.Repeat(1L, 16), mask[..16]);
        Assert.Equal(Enumerable.Repeat(1L, 11).Concat(Enumerable.Repeat(0L, 5)), mask[16..]);
        Assert.Equal(Enumerable.Repeat(0L, 5), values[27..]);
    }

    /// <summary>PEFTSHARP_FIXTURES, else ../shared/fixtures beside the repository, else the repository's tests/fixtures.</summary>
    internal static string? FindFixtureRoot()
    {
        string? env = Environment.GetEnvironmentVariable("PEFTSHARP_FIXTURES");
        if (!string.IsNullOrWhiteSpace(env))
        {
            return Directory.Exists(env) ? env : null;
        }
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PeftSharp.slnx")))
        {
            dir = dir.Parent;
        }
        if (dir is null)
        {
            return null;
        }
        string shared = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "fixtures"));
        if (Directory.Exists(shared))
        {
            return shared;
        }
        string carried = Path.Combine(dir.FullName, "tests", "fixtures");
        return Directory.Exists(carried) ? carried : null;
    }
}
