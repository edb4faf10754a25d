using System.Buffers.Binary;
using System.IO.Hashing;

namespace YoutuServer.State.Redis;

/// <summary>How reading a stored entry went: only <see cref="Valid"/> hands out a payload.</summary>
internal enum EnvelopeRead
{
    Valid,

    /// <summary>Truncated (half-written), altered, or not one of ours: ignored, never read as valid.</summary>
    Corrupt,

    /// <summary>Written by a newer major format than this replica knows: ignored cleanly.</summary>
    Newer,
}

/// <summary>
/// The frame around every value this server stores:
/// <c>"YS" | frame version (1 byte) | record kind (1 byte) | schema major (1) | schema minor (1) | payload length
/// (int32 LE) | payload | XxHash64 of all the bytes before it (8 bytes LE)</c>.
/// </summary>
/// <remarks>
/// A value is valid only when the magic, kind, length and checksum all agree, so a truncated or half-written value
/// (a crash between writes, a store that lost a tail) is never read as valid. Versioning: a payload only ever gains
/// fields at its end within one schema major (a minor bump), so a newer replica reads what an older one wrote (the
/// missing tail takes defaults) and an older one reads a newer minor (it stops after the fields it knows). A newer
/// major (a real change of meaning) is reported as <see cref="EnvelopeRead.Newer"/> and treated as absent.
/// </remarks>
internal static class StateEnvelope
{
    public const byte FrameVersion = 1;
    private const int HeaderSize = 2 + 1 + 1 + 1 + 1 + 4;
    private const int HashSize = 8;

    public static byte[] Wrap(byte kind, byte schemaMajor, byte schemaMinor, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[HeaderSize + payload.Length + HashSize];
        frame[0] = (byte)'Y';
        frame[1] = (byte)'S';
        frame[2] = FrameVersion;
        frame[3] = kind;
        frame[4] = schemaMajor;
        frame[5] = schemaMinor;
        BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(6), payload.Length);
        payload.CopyTo(frame.AsSpan(HeaderSize));
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(HeaderSize + payload.Length), XxHash64.HashToUInt64(frame.AsSpan(0, HeaderSize + payload.Length)));
        return frame;
    }

    /// <summary>Checks a stored value of <paramref name="kind"/> that this replica reads up to <paramref name="schemaMajor"/>.</summary>
    public static EnvelopeRead Unwrap(ReadOnlyMemory<byte> frame, byte kind, byte schemaMajor, out ReadOnlyMemory<byte> payload, out byte minor)
    {
        payload = default;
        minor = 0;
        var span = frame.Span;
        if (span.Length < HeaderSize + HashSize || span[0] != (byte)'Y' || span[1] != (byte)'S')
        {
            return EnvelopeRead.Corrupt;
        }

        if (span[2] > FrameVersion)
        {
            return EnvelopeRead.Newer;
        }

        if (span[2] != FrameVersion || span[3] != kind)
        {
            return EnvelopeRead.Corrupt;
        }

        var length = BinaryPrimitives.ReadInt32LittleEndian(span[6..]);
        if (length < 0 || length != span.Length - HeaderSize - HashSize)
        {
            return EnvelopeRead.Corrupt;
        }

        if (XxHash64.HashToUInt64(span[..(HeaderSize + length)]) != BinaryPrimitives.ReadUInt64LittleEndian(span[(HeaderSize + length)..]))
        {
            return EnvelopeRead.Corrupt;
        }

        if (span[4] > schemaMajor)
        {
            return EnvelopeRead.Newer;
        }

        if (span[4] != schemaMajor)
        {
            return EnvelopeRead.Corrupt;
        }

        minor = span[5];
        payload = frame.Slice(HeaderSize, length);
        return EnvelopeRead.Valid;
    }
}
