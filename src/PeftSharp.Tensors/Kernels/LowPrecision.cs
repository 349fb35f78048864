using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PeftSharp.Tensors.Kernels;

/// <summary>
/// Conversions between float32 and the 16-bit storage formats: bfloat16 (the top 16 bits of a float32)
/// and IEEE half (f16). Narrowing rounds to nearest, ties to even; NaN stays NaN.
/// Scalar methods are the specification; span methods are vectorised where the hardware allows.
/// </summary>
public static class LowPrecision
{
    /// <summary>bf16 bits → float32: the 16 bits become the high half of the float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BF16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>float32 → bf16 bits, round to nearest even; NaN maps to a quiet NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort SingleToBF16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFFu) > 0x7F80_0000u)
        {
            return (ushort)((bits >> 16) | 0x0040u); // quiet NaN, sign kept
        }
        uint rounding = 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>f16 bits → float32 (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float F16ToSingle(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>float32 → f16 bits, round to nearest even; overflow becomes ±infinity.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort SingleToF16(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    /// <summary>Widens bf16 to float32. Lanes: 8 values per AVX2 step (zero-extend to 32 bits, shift left 16); scalar tail.</summary>
    public static void BF16ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException($"Destination length {destination.Length} is shorter than source length {source.Length}.", nameof(destination));
        }
        int i = 0;
        if (Avx2.IsSupported && source.Length >= 8)
        {
            ref ushort s = ref MemoryMarshal.GetReference(source);
            ref float d = ref MemoryMarshal.GetReference(destination);
            for (; i <= source.Length - 8; i += 8)
            {
                Vector128<ushort> v = Vector128.LoadUnsafe(ref s, (nuint)i);
                Vector256<int> wide = Avx2.ConvertToVector256Int32(v); // zero-extends u16 → i32
                Vector256<int> shifted = Avx2.ShiftLeftLogical(wide, 16);
                shifted.AsSingle().StoreUnsafe(ref d, (nuint)i);
            }
        }
        for (; i < source.Length; i++)
        {
            destination[i] = BF16ToSingle(source[i]);
        }
    }

    /// <summary>Narrows float32 to bf16 (round to nearest even, NaN preserved).</summary>
    public static void SingleToBF16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException($"Destination length {destination.Length} is shorter than source length {source.Length}.", nameof(destination));
        }
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = SingleToBF16(source[i]);
        }
    }

    /// <summary>Widens f16 to float32 (vectorised by TensorPrimitives where supported).</summary>
    public static void F16ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException($"Destination length {destination.Length} is shorter than source length {source.Length}.", nameof(destination));
        }
        TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<ushort, Half>(source), destination);
    }

    /// <summary>Narrows float32 to f16 (round to nearest even).</summary>
    public static void SingleToF16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException($"Destination length {destination.Length} is shorter than source length {source.Length}.", nameof(destination));
        }
        TensorPrimitives.ConvertToHalf(source, MemoryMarshal.Cast<ushort, Half>(destination));
    }

    /// <summary>Widens 16-bit storage of the given type (<see cref="DType.BF16"/> or <see cref="DType.F16"/>) to float32.</summary>
    public static void Widen(DType dtype, ReadOnlySpan<ushort> source, Span<float> destination)
    {
        switch (dtype)
        {
            case DType.BF16: BF16ToSingle(source, destination); break;
            case DType.F16: F16ToSingle(source, destination); break;
            default: throw new ArgumentException($"Widen expects BF16 or F16, got {dtype}.", nameof(dtype));
        }
    }

    /// <summary>Narrows float32 to 16-bit storage of the given type.</summary>
    public static void Narrow(DType dtype, ReadOnlySpan<float> source, Span<ushort> destination)
    {
        switch (dtype)
        {
            case DType.BF16: SingleToBF16(source, destination); break;
            case DType.F16: SingleToF16(source, destination); break;
            default: throw new ArgumentException($"Narrow expects BF16 or F16, got {dtype}.", nameof(dtype));
        }
    }
}
