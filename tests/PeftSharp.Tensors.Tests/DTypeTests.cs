using PeftSharp.Tensors;

namespace PeftSharp.Tensors.Tests;

public class DTypeTests
{
    [Theory]
    [InlineData("F32", DType.F32, 4)]
    [InlineData("F16", DType.F16, 2)]
    [InlineData("BF16", DType.BF16, 2)]
    [InlineData("F64", DType.F64, 8)]
    [InlineData("I64", DType.I64, 8)]
    [InlineData("I32", DType.I32, 4)]
    [InlineData("I16", DType.I16, 2)]
    [InlineData("I8", DType.I8, 1)]
    [InlineData("U8", DType.U8, 1)]
    [InlineData("BOOL", DType.Bool, 1)]
    public void SafetensorsName_RoundTripsWithSize(string name, DType expected, int size)
    {
        Assert.True(DTypes.TryParseSafetensorsName(name, out var dtype));
        Assert.Equal(expected, dtype);
        Assert.Equal(size, dtype.SizeOf());
        Assert.Equal(name, dtype.ToSafetensorsName());
    }

    [Theory]
    [InlineData("f32")]
    [InlineData("F8_E4M3")]
    [InlineData("")]
    public void SafetensorsName_RejectsUnknown(string name) => Assert.False(DTypes.TryParseSafetensorsName(name, out _));
}
