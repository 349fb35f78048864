namespace PeftSharp.Peft.Math;

/// <summary>
/// PyTorch's CPU random generator (<c>torch.Generator().manual_seed(seed)</c>): a 32-bit Mersenne Twister (MT19937)
/// seeded with the low 32 bits of the seed, plus the two torch operations Hugging Face PEFT draws adapter constants
/// with. Reproducing them lets adapters whose constants PEFT derives from a seed (FourierFT's spectrum positions,
/// VeRA's projections) be rebuilt exactly instead of shipped.
/// </summary>
public sealed class TorchCpuGenerator
{
    private const int N = 624, M = 397;
    private readonly uint[] _state = new uint[N];
    private int _next = N;

    public TorchCpuGenerator(ulong seed)
    {
        _state[0] = (uint)seed;
        for (int i = 1; i < N; i++)
        {
            _state[i] = 1812433253u * (_state[i - 1] ^ (_state[i - 1] >> 30)) + (uint)i;
        }
    }

    /// <summary>The next 32-bit output (torch's <c>generator-&gt;random()</c>, i.e. std::mt19937's output).</summary>
    public uint NextUInt32()
    {
        if (_next >= N)
        {
            Twist();
        }
        uint y = _state[_next++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= y >> 18;
        return y;
    }

    private void Twist()
    {
        for (int i = 0; i < N; i++)
        {
            uint y = (_state[i] & 0x80000000u) | (_state[(i + 1) % N] & 0x7fffffffu);
            _state[i] = _state[(i + M) % N] ^ (y >> 1) ^ ((y & 1) != 0 ? 0x9908b0dfu : 0u);
        }
        _next = 0;
    }

    /// <summary>The largest n for which every torch version draws randperm with 32-bit outputs (uint32 max / 20).</summary>
    public const long RandpermLimit = uint.MaxValue / 20;

    /// <summary>
    /// The first <paramref name="count"/> entries of <c>torch.randperm(n, generator=g)</c> on the CPU: a Fisher–Yates
    /// shuffle of 0..n−1 where step i swaps entry i with entry i + (random() mod (n − i)). Entry i is final after step i,
    /// so only <paramref name="count"/> steps run, with the displaced entries kept in a dictionary (memory O(count)).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">count is outside 0..n, or n ≥ <see cref="RandpermLimit"/>
    /// (there torch 2.x draws 64-bit numbers and torch 1.x 32-bit ones, so the result depends on the torch version).</exception>
    public long[] RandpermPrefix(long n, int count)
    {
        if (n < 0 || n >= RandpermLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(n), $"randperm of {n} elements: only 0 ≤ n < {RandpermLimit} is drawn the same way by every torch version.");
        }
        if (count < 0 || count > n)
        {
            throw new ArgumentOutOfRangeException(nameof(count), $"cannot take {count} entries of a permutation of {n}.");
        }
        var moved = new Dictionary<long, long>();
        long At(long i) => moved.TryGetValue(i, out var v) ? v : i;
        var result = new long[count];
        for (long i = 0; i < count; i++)
        {
            if (i == n - 1)
            {
                // torch stops at n − 2: the last entry is whatever is left.
                result[i] = At(i);
                break;
            }
            long z = NextUInt32() % (n - i);
            long a = At(i), b = At(i + z);
            moved[i + z] = a;
            result[i] = b;
        }
        return result;
    }

    /// <summary>
    /// <c>tensor.uniform_(from, to, generator=g)</c> on a float32 CPU tensor of <paramref name="count"/> elements, in memory
    /// order: from r, one 32-bit output, x = (r &amp; (2²⁴ − 1))·2⁻²⁴ and the value is x·(to − from) + from with from and to
    /// rounded to float32 and the product and sum rounded once, to float32 (checked bit for bit against torch 1.13).
    /// </summary>
    public float[] Uniform(int count, double from, double to)
    {
        double f = (float)from, t = (float)to;
        const double divisor = 1.0 / (1 << 24);
        var v = new float[count];
        for (int i = 0; i < count; i++)
        {
            double x = (NextUInt32() & ((1u << 24) - 1)) * divisor;
            // In double the product and the sum are exact or nearly so; the single rounding to float32 is torch's.
            v[i] = (float)(x * (t - f) + f);
        }
        return v;
    }
}
