using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Tensors.Serialization;

/// <summary>
/// A safetensors file opened read-only through a memory map. <see cref="Open"/> validates the whole header
/// (see <see cref="SafetensorsFormatException"/>) before returning; afterwards tensor bytes are read straight
/// from the mapped pages, so <see cref="GetBytes"/>, <see cref="GetSingles"/> and <see cref="GetHalfBits"/> copy
/// nothing. Files and tensors larger than 2 GB are supported: offsets are 64-bit, and the chunked
/// <see cref="CopyBytes"/> and <see cref="CopySingles(string, long, Span{float})"/> reach any part of a tensor.
/// </summary>
/// <remarks>
/// Spans returned by this class point into the mapping and are valid only until <see cref="Dispose"/>.
/// Reading from several threads is safe. The file is opened with <see cref="FileShare.Read"/>; truncating it
/// from another process while it is mapped is outside what any memory-mapped reader can guard against.
/// Tensor data are little-endian, so big-endian platforms are not supported.
/// </remarks>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _data; // start of the data block
    private readonly Dictionary<string, int> _index;
    private readonly SafetensorsEntry[] _entries;
    private bool _disposed;

    private SafetensorsFile(string path, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* data,
        long dataStart, long fileLength, SafetensorsHeader.Parsed parsed)
    {
        Path = path;
        _map = map;
        _view = view;
        _data = data;
        DataStart = dataStart;
        FileLength = fileLength;
        _entries = parsed.Entries.ToArray();
        Tensors = Array.AsReadOnly(_entries);
        Metadata = parsed.Metadata;
        _index = new Dictionary<string, int>(_entries.Length, StringComparer.Ordinal);
        for (int i = 0; i < _entries.Length; i++)
        {
            _index.Add(_entries[i].Name, i);
        }
    }

    /// <summary>Full path of the file.</summary>
    public string Path { get; }

    /// <summary>The <c>__metadata__</c> map (empty when the header has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Every tensor, in the order the header lists them.</summary>
    public IReadOnlyList<SafetensorsEntry> Tensors { get; }

    /// <summary>File offset of the data block (8 + header length); entry offsets are relative to it.</summary>
    public long DataStart { get; }

    /// <summary>Length of the file in bytes.</summary>
    public long FileLength { get; }

    /// <summary>Opens, maps and validates a safetensors file.</summary>
    /// <exception cref="SafetensorsFormatException">The file breaks the format; the message says where and how.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static SafetensorsFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("safetensors data are little-endian; big-endian platforms are not supported.");
        }
        string full = System.IO.Path.GetFullPath(path);
        var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.RandomAccess);
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        bool acquired = false;
        try
        {
            long length = stream.Length;
            if (length < SafetensorsHeader.PrefixLength)
            {
                throw new SafetensorsFormatException(full, null,
                    $"file has {length} bytes; a safetensors file needs at least the 8-byte header length.");
            }
            map = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0, MemoryMappedFileAccess.Read,
                HandleInheritability.None, leaveOpen: false);
            stream = null!; // owned by the map now
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* basePtr = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
            acquired = true;
            basePtr += view.PointerOffset;

            ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(basePtr, SafetensorsHeader.PrefixLength));
            long headerLength = SafetensorsHeader.CheckLength(full, declared, length);
            long dataStart = SafetensorsHeader.PrefixLength + headerLength;
            var parsed = SafetensorsHeader.Parse(full, new ReadOnlySpan<byte>(basePtr + SafetensorsHeader.PrefixLength, (int)headerLength), length - dataStart);
            return new SafetensorsFile(full, map, view, basePtr + dataStart, dataStart, length, parsed);
        }
        catch
        {
            if (acquired)
            {
                view!.SafeMemoryMappedViewHandle.ReleasePointer();
            }
            view?.Dispose();
            map?.Dispose();
            stream?.Dispose();
            throw;
        }
    }

    /// <summary>Whether the file holds a tensor called <paramref name="name"/>.</summary>
    public bool Contains(string name) => _index.ContainsKey(name);

    /// <summary>Looks up a tensor's entry.</summary>
    public bool TryGetEntry(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out SafetensorsEntry? entry)
    {
        if (_index.TryGetValue(name, out int i))
        {
            entry = _entries[i];
            return true;
        }
        entry = null;
        return false;
    }

    /// <summary>The entry of tensor <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such tensor; the message names the file.</exception>
    public SafetensorsEntry GetEntry(string name) =>
        TryGetEntry(name, out var entry) ? entry : throw new KeyNotFoundException($"{Path}: no tensor named '{name}'.");

    /// <summary>The tensor's raw little-endian bytes, without copying.</summary>
    /// <exception cref="KeyNotFoundException">No such tensor.</exception>
    /// <exception cref="InvalidOperationException">The tensor has 2 GiB or more; use <see cref="CopyBytes"/>.</exception>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var e = GetEntry(name);
        if (e.ByteLength > int.MaxValue)
        {
            throw new InvalidOperationException($"{Path}: tensor '{name}' has {e.ByteLength} bytes, more than one span can hold; read it in chunks with CopyBytes.");
        }
        return new ReadOnlySpan<byte>(Pointer(e), (int)e.ByteLength);
    }

    /// <summary>Copies <c>destination.Length</c> bytes of the tensor, starting <paramref name="byteOffset"/> bytes into it.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The requested range is not inside the tensor.</exception>
    public void CopyBytes(string name, long byteOffset, Span<byte> destination)
    {
        var e = GetEntry(name);
        CheckRange(e, byteOffset, destination.Length, e.ByteLength, "byte");
        new ReadOnlySpan<byte>(Pointer(e) + byteOffset, destination.Length).CopyTo(destination);
    }

    /// <summary>An F32 tensor's values, without copying.</summary>
    /// <exception cref="InvalidOperationException">The tensor is not F32, or has more than <see cref="int.MaxValue"/> elements.</exception>
    public ReadOnlySpan<float> GetSingles(string name)
    {
        var e = GetEntry(name);
        RequireDType(e, nameof(GetSingles), DType.F32);
        return new ReadOnlySpan<float>(Pointer(e), CheckedCount(e));
    }

    /// <summary>A BF16 or F16 tensor's raw 16-bit patterns, without copying.</summary>
    /// <exception cref="InvalidOperationException">The tensor is not BF16/F16, or has more than <see cref="int.MaxValue"/> elements.</exception>
    public ReadOnlySpan<ushort> GetHalfBits(string name)
    {
        var e = GetEntry(name);
        RequireDType(e, nameof(GetHalfBits), DType.BF16, DType.F16);
        return new ReadOnlySpan<ushort>(Pointer(e), CheckedCount(e));
    }

    /// <summary>A BF16 or F16 tensor's raw 16-bit patterns, copied into a new array (to keep them stored at half size).</summary>
    public ushort[] ReadHalfBits(string name) => GetHalfBits(name).ToArray();

    /// <summary>
    /// The tensor as float32: F32 is copied, BF16 and F16 are widened exactly, F64 is rounded to the nearest
    /// float32. Integer and BOOL tensors are refused rather than silently reinterpreted as values (read them
    /// with <see cref="ReadInt64s"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">The dtype is not a floating-point type, or the tensor has more than <see cref="Array.MaxLength"/> elements.</exception>
    public float[] ReadSingles(string name)
    {
        var e = GetEntry(name);
        RequireDType(e, nameof(ReadSingles), DType.F32, DType.BF16, DType.F16, DType.F64);
        var result = GC.AllocateUninitializedArray<float>(CheckedArrayCount(e));
        Convert(e, 0, result);
        return result;
    }

    /// <summary>Same conversion as <see cref="ReadSingles"/>, into <paramref name="destination"/>, whose length must equal the element count.</summary>
    /// <exception cref="ArgumentException">The destination length differs from the element count.</exception>
    public void CopySingles(string name, Span<float> destination)
    {
        var e = GetEntry(name);
        RequireDType(e, nameof(CopySingles), DType.F32, DType.BF16, DType.F16, DType.F64);
        if (destination.Length != e.ElementCount)
        {
            throw new ArgumentException($"{Path}: tensor '{name}' has {e.ElementCount} elements but the destination holds {destination.Length}.", nameof(destination));
        }
        Convert(e, 0, destination);
    }

    /// <summary>Converts elements <c>[startElement, startElement + destination.Length)</c> as <see cref="ReadSingles"/> does; reaches any part of a tensor of any size.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the tensor.</exception>
    public void CopySingles(string name, long startElement, Span<float> destination)
    {
        var e = GetEntry(name);
        RequireDType(e, nameof(CopySingles), DType.F32, DType.BF16, DType.F16, DType.F64);
        CheckRange(e, startElement, destination.Length, e.ElementCount, "element");
        Convert(e, startElement, destination);
    }

    /// <summary>
    /// An integer tensor as 64-bit integers: I64 copied, I32/I16/I8 sign-extended, U8 zero-extended, BOOL as 0 or 1
    /// (any non-zero byte is true). Floating-point tensors are refused.
    /// </summary>
    /// <exception cref="InvalidOperationException">The dtype is floating-point, or the tensor has more than <see cref="Array.MaxLength"/> elements.</exception>
    public long[] ReadInt64s(string name)
    {
        var e = GetEntry(name);
        RequireDType(e, nameof(ReadInt64s), DType.I64, DType.I32, DType.I16, DType.I8, DType.U8, DType.Bool);
        int n = CheckedArrayCount(e);
        var result = GC.AllocateUninitializedArray<long>(n);
        byte* p = Pointer(e);
        switch (e.DType)
        {
            case DType.I64: new ReadOnlySpan<long>(p, n).CopyTo(result); break;
            case DType.I32: { var s = new ReadOnlySpan<int>(p, n); for (int i = 0; i < n; i++) { result[i] = s[i]; } break; }
            case DType.I16: { var s = new ReadOnlySpan<short>(p, n); for (int i = 0; i < n; i++) { result[i] = s[i]; } break; }
            case DType.I8: { var s = new ReadOnlySpan<sbyte>(p, n); for (int i = 0; i < n; i++) { result[i] = s[i]; } break; }
            case DType.U8: { var s = new ReadOnlySpan<byte>(p, n); for (int i = 0; i < n; i++) { result[i] = s[i]; } break; }
            default: { var s = new ReadOnlySpan<byte>(p, n); for (int i = 0; i < n; i++) { result[i] = s[i] != 0 ? 1 : 0; } break; }
        }
        return result;
    }

    /// <summary>Releases the mapping. Spans obtained earlier must not be used afterwards.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
    }

    public override string ToString() => $"{Path} ({_entries.Length} tensors)";

    private void Convert(SafetensorsEntry e, long start, Span<float> destination)
    {
        byte* p = Pointer(e) + start * e.DType.SizeOf();
        int n = destination.Length;
        switch (e.DType)
        {
            case DType.F32:
                new ReadOnlySpan<float>(p, n).CopyTo(destination);
                break;
            case DType.BF16:
            case DType.F16:
                LowPrecision.Widen(e.DType, new ReadOnlySpan<ushort>(p, n), destination);
                break;
            default:
                var d = new ReadOnlySpan<double>(p, n);
                for (int i = 0; i < n; i++)
                {
                    destination[i] = (float)d[i];
                }
                break;
        }
    }

    private byte* Pointer(SafetensorsEntry e)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _data + e.ByteOffset;
    }

    private void RequireDType(SafetensorsEntry e, string method, params ReadOnlySpan<DType> allowed)
    {
        if (!allowed.Contains(e.DType))
        {
            var names = new string[allowed.Length];
            for (int i = 0; i < names.Length; i++)
            {
                names[i] = allowed[i].ToSafetensorsName();
            }
            throw new InvalidOperationException($"{Path}: tensor '{e.Name}' is {e.DType.ToSafetensorsName()}; {method} reads {string.Join(", ", names)}.");
        }
    }

    private int CheckedCount(SafetensorsEntry e) => e.ElementCount <= int.MaxValue
        ? (int)e.ElementCount
        : throw new InvalidOperationException($"{Path}: tensor '{e.Name}' has {e.ElementCount} elements, more than one span can hold; read it in chunks with CopySingles or CopyBytes.");

    private int CheckedArrayCount(SafetensorsEntry e) => e.ElementCount <= Array.MaxLength
        ? (int)e.ElementCount
        : throw new InvalidOperationException($"{Path}: tensor '{e.Name}' has {e.ElementCount} elements, more than one array can hold; read it in chunks with CopySingles or CopyBytes.");

    private void CheckRange(SafetensorsEntry e, long start, int count, long total, string unit)
    {
        if (start < 0 || start > total - count)
        {
            throw new ArgumentOutOfRangeException(nameof(start),
                $"{Path}: tensor '{e.Name}' has {total} {unit}s; cannot read {count} starting at {start}.");
        }
    }
}
