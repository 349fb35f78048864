using System.Buffers.Binary;
using System.Diagnostics;
using PeftSharp.Tensors.Serialization;
using Xunit.Abstractions;

namespace PeftSharp.Tensors.Tests.Serialization;

/// <summary>Random corruptions of a valid file may be accepted or rejected, but only ever with <see cref="SafetensorsFormatException"/>.</summary>
public sealed class SafetensorsFuzzTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void MutatedFiles_OnlyEverFailWithFormatException()
    {
        byte[] valid = SafetensorsWriter.Serialize([
            SafetensorsTensor.FromSingles("layers.0.weight", Enumerable.Range(0, 24).Select(i => i * 0.25f).ToArray(), [4, 6]),
            SafetensorsTensor.FromSingles("layers.0.bias", new float[] { 1, 2, 3, 4 }, [4], DType.BF16),
            SafetensorsTensor.FromInt64s("ids", new long[] { 3, 1, 4 }, [3]),
            SafetensorsTensor.FromBytes("mask", DType.Bool, [2], new byte[] { 1, 0 }),
            SafetensorsTensor.FromBytes("empty", DType.F16, [0, 3], Array.Empty<byte>()),
            SafetensorsTensor.FromSingles("scale", new float[] { 0.5f }, [], DType.F64),
        ], new Dictionary<string, string> { ["format"] = "pt" });
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        var rng = new Random(20240611);
        string path = _dir.File("fuzz.safetensors");
        int accepted = 0, rejected = 0;
        var clock = Stopwatch.StartNew();
        for (int iteration = 0; iteration < 400; iteration++)
        {
            byte[] bytes = Mutate(valid, headerEnd, rng);
            File.WriteAllBytes(path, bytes);
            try
            {
                using var f = SafetensorsFile.Open(path);
                ReadEverything(f);
                accepted++;
            }
            catch (SafetensorsFormatException)
            {
                rejected++;
            }
            catch (Exception e)
            {
                Assert.Fail($"iteration {iteration}: {e.GetType().Name}: {e.Message}\nfile: {Convert.ToHexString(bytes)}");
            }
        }
        output.WriteLine($"accepted {accepted}, rejected {rejected} in {clock.ElapsedMilliseconds} ms");
        Assert.True(rejected > 100, $"only {rejected} of 400 mutations were rejected; the mutations are too gentle to test anything");
    }

    private static void ReadEverything(SafetensorsFile f)
    {
        foreach (var e in f.Tensors)
        {
            _ = f.GetBytes(e.Name).ToArray();
            switch (e.DType)
            {
                case DType.F32 or DType.F64 or DType.F16 or DType.BF16:
                    _ = f.ReadSingles(e.Name);
                    break;
                default:
                    _ = f.ReadInt64s(e.Name);
                    break;
            }
        }
    }

    /// <summary>One of: a digit changed inside the header (reaches offset/shape checks), random bytes, truncation, a random length prefix, an inserted byte.</summary>
    private static byte[] Mutate(byte[] valid, int headerEnd, Random rng)
    {
        byte[] bytes = (byte[])valid.Clone();
        switch (rng.Next(6))
        {
            case 0:
            case 1:
                for (int k = 0, n = rng.Next(1, 3); k < n; k++)
                {
                    int at = rng.Next(8, headerEnd);
                    if (bytes[at] is >= (byte)'0' and <= (byte)'9')
                    {
                        bytes[at] = (byte)('0' + rng.Next(10));
                    }
                    else
                    {
                        bytes[at] = "0123456789,[]{}\":-.e "u8[rng.Next(21)];
                    }
                }
                return bytes;
            case 2:
                for (int k = 0, n = rng.Next(1, 5); k < n; k++)
                {
                    bytes[rng.Next(bytes.Length)] = (byte)rng.Next(256);
                }
                return bytes;
            case 3:
                return bytes[..rng.Next(bytes.Length)];
            case 4:
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, rng.Next(3) switch
                {
                    0 => (ulong)rng.NextInt64(),
                    1 => (ulong)(headerEnd - 8 + rng.Next(-16, 17)),
                    _ => ulong.MaxValue - (ulong)rng.Next(16),
                });
                return bytes;
            default:
                int pos = rng.Next(bytes.Length);
                return [.. bytes[..pos], (byte)rng.Next(256), .. bytes[pos..]];
        }
    }
}
