using System.Buffers.Binary;

namespace YoutuServer.Engine.Synthesis;

/// <summary>SplitMix64: tiny, fast, and the same sequence on every platform.</summary>
internal struct SplitMix64(ulong seed)
{
    private ulong state = seed;

    public ulong Next()
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 bits.</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));
}

/// <summary>
/// Random weights fast enough for 4 GB: a pool of N(0, 0.02)-like values is built once, and each tensor is
/// written as slices of it at random offsets (values repeat, which does not matter for a shape-identical model).
/// </summary>
internal sealed class RandomWeights
{
    public const int PoolElements = 1 << 20;
    private const int ChunkElements = 1 << 16;
    private const double StdDev = 0.02;

    private readonly byte[] pool;
    private readonly int elementSize;
    private readonly ulong seed;

    public RandomWeights(ulong seed, SynthDType dtype)
    {
        this.seed = seed;
        elementSize = dtype == SynthDType.F16 ? 2 : 4;
        pool = new byte[PoolElements * elementSize];
        var rng = new SplitMix64(seed ^ 0x5EED_F00D_CAFE_BEEFUL);
        for (var i = 0; i < PoolElements; i++)
        {
            // Irwin-Hall (sum of 12 uniforms - 6) ≈ N(0, 1) using only IEEE add/multiply: bit-identical everywhere.
            var sum = 0.0;
            for (var k = 0; k < 12; k++)
            {
                sum += rng.NextDouble();
            }

            var value = (float)((sum - 6.0) * StdDev);
            var slot = pool.AsSpan(i * elementSize, elementSize);
            if (elementSize == 2)
            {
                BinaryPrimitives.WriteHalfLittleEndian(slot, (Half)value);
            }
            else
            {
                BinaryPrimitives.WriteSingleLittleEndian(slot, value);
            }
        }
    }

    /// <summary>Writes <paramref name="elements"/> pool values; <paramref name="stream"/> selects an independent offset sequence.</summary>
    public void Write(Stream destination, long elements, ulong stream)
    {
        var rng = new SplitMix64(seed * 0x2545F4914F6CDD1DUL + stream + 1);
        while (elements > 0)
        {
            var n = (int)Math.Min(elements, ChunkElements);
            var start = (int)(rng.Next() % (ulong)(PoolElements - n + 1));
            destination.Write(pool.AsSpan(start * elementSize, n * elementSize));
            elements -= n;
        }
    }

    /// <summary>RMSNorm weights: all 1.0 in F32.</summary>
    public static void WriteOnes(Stream destination, long elements)
    {
        Span<byte> ones = stackalloc byte[4096];
        for (var i = 0; i < ones.Length; i += 4)
        {
            BinaryPrimitives.WriteSingleLittleEndian(ones[i..], 1.0f);
        }

        while (elements > 0)
        {
            var n = (int)Math.Min(elements, ones.Length / 4);
            destination.Write(ones[..(n * 4)]);
            elements -= n;
        }
    }
}
