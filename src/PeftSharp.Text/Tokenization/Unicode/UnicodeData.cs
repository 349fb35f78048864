using System.Reflection;
using System.Runtime.InteropServices;

namespace PeftSharp.Text.Tokenization.Unicode;

/// <summary>The four Unicode normalization forms.</summary>
internal enum NormalForm { Nfc, Nfd, Nfkc, Nfkd }

/// <summary>
/// Unicode tables read from the embedded UnicodeData.bin (written by generate_unicode_data.py).
/// The tokenizer carries them because string.Normalize is a no-op under InvariantGlobalization.
/// </summary>
internal static class UnicodeData
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Dictionary<int, byte> Ccc = new();
    private static readonly Dictionary<int, int[]> Canonical = new();
    private static readonly Dictionary<int, int[]> Compat = new();
    private static readonly Dictionary<long, int> Compose = new();
    private static readonly Dictionary<int, int[]> Lower = new();
    private static readonly ulong[][] UnsafeBmp = new ulong[4][];
    private static readonly HashSet<int>[] UnsafeAstral = new HashSet<int>[4];

    /// <summary>Unicode version of the tables, e.g. 140000 for 14.0.0.</summary>
    public static int Version { get; }

    static UnicodeData()
    {
        using var stream = typeof(UnicodeData).Assembly.GetManifestResourceStream("PeftSharp.Text.Tokenization.Unicode.UnicodeData.bin")
            ?? throw new InvalidOperationException("Embedded UnicodeData.bin is missing from PeftSharp.Text.");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        var ints = MemoryMarshal.Cast<byte, int>(bytes.AsSpan(4));
        if (bytes[0] != 'P' || bytes[1] != 'S' || bytes[2] != 'U' || bytes[3] != 'D')
        {
            throw new InvalidOperationException("Embedded UnicodeData.bin has a bad header.");
        }
        int p = 0;
        Version = ints[p++];
        for (int n = ints[p++]; n > 0; n--, p += 2)
        {
            Ccc[ints[p]] = (byte)ints[p + 1];
        }
        p = ReadMappings(ints, p, Canonical);
        p = ReadMappings(ints, p, Compat);
        for (int n = ints[p++]; n > 0; n--, p += 3)
        {
            Compose[Key(ints[p], ints[p + 1])] = ints[p + 2];
        }
        p = ReadMappings(ints, p, Lower);
        for (int f = 0; f < 4; f++)
        {
            UnsafeBmp[f] = new ulong[65536 / 64];
            UnsafeAstral[f] = new HashSet<int>();
            for (int n = ints[p++]; n > 0; n--, p++)
            {
                int cp = ints[p];
                if (cp < 65536)
                {
                    UnsafeBmp[f][cp >> 6] |= 1UL << (cp & 63);
                }
                else
                {
                    UnsafeAstral[f].Add(cp);
                }
            }
        }
    }

    private static int ReadMappings(ReadOnlySpan<int> ints, int p, Dictionary<int, int[]> into)
    {
        for (int n = ints[p++]; n > 0; n--)
        {
            int cp = ints[p++], len = ints[p++];
            into[cp] = ints.Slice(p, len).ToArray();
            p += len;
        }
        return p;
    }

    private static long Key(int a, int b) => ((long)a << 21) | (uint)b;

    /// <summary>Canonical combining class.</summary>
    public static int CombiningClass(int cp) => cp < 0x300 ? 0 : Ccc.TryGetValue(cp, out var c) ? c : 0;

    /// <summary>True when the code point may change, or make its neighbours change, under the form.</summary>
    public static bool IsUnsafe(NormalForm form, int cp) =>
        cp < 65536 ? (UnsafeBmp[(int)form][cp >> 6] & (1UL << (cp & 63))) != 0 : UnsafeAstral[(int)form].Contains(cp);

    /// <summary>Full lowercase mapping (Unicode SpecialCasing included, e.g. U+0130 → "i\u0307"); null when unchanged.</summary>
    public static int[]? LowercaseMapping(int cp) => Lower.TryGetValue(cp, out var m) ? m : null;

    /// <summary>Appends the full decomposition of <paramref name="cp"/> to <paramref name="output"/>.</summary>
    public static void Decompose(int cp, bool compatibility, List<int> output)
    {
        if (cp >= SBase && cp < SBase + SCount)
        {
            int s = cp - SBase;
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0)
            {
                output.Add(TBase + s % TCount);
            }
            return;
        }
        if (cp < 0xC0)
        {
            if (!compatibility || cp < 0xA0)
            {
                output.Add(cp);
                return;
            }
        }
        if ((compatibility && Compat.TryGetValue(cp, out var m)) || Canonical.TryGetValue(cp, out m))
        {
            output.AddRange(m);
            return;
        }
        output.Add(cp);
    }

    /// <summary>The primary composite of a pair, or -1.</summary>
    public static int ComposePair(int a, int b)
    {
        if (a >= LBase && a < LBase + LCount && b >= VBase && b < VBase + VCount)
        {
            return SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
        }
        if (a >= SBase && a < SBase + SCount && (a - SBase) % TCount == 0 && b > TBase && b < TBase + TCount)
        {
            return a + (b - TBase);
        }
        return Compose.TryGetValue(Key(a, b), out var c) ? c : -1;
    }
}
