using System.Buffers.Binary;
using System.Text;

namespace YoutuServer.Engine.Gguf;

/// <summary>
/// Reads the header, metadata and tensor table of a GGUF v2/v3 file without touching tensor data.
/// Hostile input is expected: every count and length is checked against the bytes left in the file and against
/// sanity caps before anything is allocated, and every failure is a <see cref="GgufFormatException"/>.
/// </summary>
public static class GgufReader
{
    public const long MaxStringBytes = 64L * 1024 * 1024;
    public const long MaxArrayElements = 1L << 28;
    public const long MaxTensorCount = 1L << 20;
    public const long MaxKeyValueCount = 1L << 20;
    public const int MaxArrayNesting = 8;

    /// <summary>ggml's GGML_MAX_NAME is 64 including the terminator.</summary>
    public const int MaxTensorNameBytes = 63;

    public const int MaxDimensions = 4;
    public const uint DefaultAlignment = 32;
    public const string AlignmentKey = "general.alignment";

    internal static ReadOnlySpan<byte> Magic => "GGUF"u8;

    public static GgufFile Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, FileOptions.RandomAccess);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new GgufFormatException(GgufErrorKind.Io, 0, $"cannot open '{path}': {e.Message}", e);
        }

        using (stream)
        {
            return Read(stream);
        }
    }

    /// <summary>Reads from a seekable stream, starting at position 0.</summary>
    public static GgufFile Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek || !stream.CanRead)
        {
            throw new ArgumentException("stream must be readable and seekable", nameof(stream));
        }

        try
        {
            return new Parser(stream).Parse();
        }
        catch (IOException e)
        {
            throw new GgufFormatException(GgufErrorKind.Io, 0, $"I/O error: {e.Message}", e);
        }
    }

    private sealed class Parser
    {
        private const int BufferSize = 64 * 1024;
        private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

        private readonly Stream stream;
        private readonly long length;
        private readonly byte[] buffer = new byte[BufferSize];
        private long bufferStart;
        private int bufferCount;
        private long pos;
        private string context = "header";

        public Parser(Stream stream)
        {
            this.stream = stream;
            length = stream.Length;
        }

        private long Remaining => length - pos;

        public GgufFile Parse()
        {
            ReadMagic();
            var version = ReadVersion();

            var tensorCount = ReadCount("tensor count", MaxTensorCount, 8 + 1 + 4 + 4 + 8);
            var kvCount = ReadCount("metadata key/value count", MaxKeyValueCount, 8 + 1 + 4 + 1);

            var metadata = new List<GgufKeyValue>((int)Math.Min(kvCount, 1024));
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (long i = 0; i < kvCount; i++)
            {
                var start = pos;
                context = $"metadata entry #{i}";
                var key = ReadString();
                if (key.Length == 0)
                {
                    throw Malformed(start, $"metadata key #{i} is empty");
                }

                if (!seen.Add(key))
                {
                    throw Malformed(start, $"duplicate metadata key '{key}'");
                }

                context = $"metadata value of '{key}'";
                var typePos = pos;
                var type = (GgufValueType)ReadU32();
                if (!GgufValueTypes.IsDefined(type))
                {
                    throw Malformed(typePos, $"metadata key '{key}' has invalid value type {(uint)type}");
                }

                metadata.Add(new GgufKeyValue(key, ReadValue(type, 0), start));
            }

            var alignment = DefaultAlignment;
            var alignmentEntry = metadata.Find(kv => kv.Key == AlignmentKey);
            if (alignmentEntry is not null)
            {
                if (!alignmentEntry.Value.TryGetUInt32(out alignment))
                {
                    throw Malformed(alignmentEntry.Offset, $"'{AlignmentKey}' has type {alignmentEntry.Value.TypeName}, expected u32");
                }

                if (alignment == 0 || (alignment & (alignment - 1)) != 0)
                {
                    throw Malformed(alignmentEntry.Offset, $"'{AlignmentKey}' = {alignment} is not a power of two");
                }
            }

            var tensors = new List<GgufTensorInfo>((int)Math.Min(tensorCount, 4096));
            var names = new HashSet<string>(StringComparer.Ordinal);
            for (long i = 0; i < tensorCount; i++)
            {
                tensors.Add(ReadTensorInfo(i, names));
            }

            var tableEnd = pos;
            var dataOffset = tableEnd + ((alignment - (tableEnd % alignment)) % alignment);
            return new GgufFile(version, alignment, metadata, tensors, dataOffset, length, tableEnd);
        }

        private void ReadMagic()
        {
            var have = (int)Math.Min(4, length);
            Span<byte> magic = stackalloc byte[4];
            if (have > 0)
            {
                Fill(have);
                buffer.AsSpan(0, have).CopyTo(magic);
            }

            if (!magic[..have].SequenceEqual(Magic[..have]))
            {
                var shown = new StringBuilder();
                foreach (var b in magic[..have])
                {
                    shown.Append(b is >= 0x20 and < 0x7f ? (char)b : '?');
                }

                throw new GgufFormatException(GgufErrorKind.BadMagic, 0,
                    $"not a GGUF file: invalid magic '{shown}' (hex {Convert.ToHexString(magic[..have])}), expected 'GGUF'");
            }

            if (have < 4)
            {
                throw new GgufFormatException(GgufErrorKind.Truncated, 0,
                    $"file is truncated: {length} bytes is too short for the GGUF header");
            }

            pos = 4;
        }

        private uint ReadVersion()
        {
            var version = ReadU32();
            string? why = version switch
            {
                0 => "version 0 is invalid",
                1 => "GGUF v1 is no longer supported",
                _ when (version & 0xFFFF) == 0 => "this looks like a big-endian GGUF, which is not supported",
                > 3 => "only GGUF v2 and v3 are supported",
                _ => null,
            };
            return why is null
                ? version
                : throw new GgufFormatException(GgufErrorKind.UnsupportedVersion, 4, $"unsupported GGUF version {version}: {why}");
        }

        private long ReadCount(string what, long cap, long minBytesEach)
        {
            var at = pos;
            var n = ReadU64();
            if (n > (ulong)cap)
            {
                throw new GgufFormatException(GgufErrorKind.LimitExceeded, at,
                    FormattableString.Invariant($"{what} {n} exceeds the limit of {cap}"));
            }

            // A lying count under the cap still cannot claim more entries than the file can hold.
            if ((long)n * minBytesEach > Remaining)
            {
                throw new GgufFormatException(GgufErrorKind.Truncated, at,
                    FormattableString.Invariant(
                        $"file is truncated or corrupt: {what} {n} needs at least {(long)n * minBytesEach} bytes but only {Remaining} remain"));
            }

            return (long)n;
        }

        private GgufTensorInfo ReadTensorInfo(long index, HashSet<string> names)
        {
            var start = pos;
            context = $"tensor table entry #{index}";
            var name = ReadString();
            if (name.Length == 0)
            {
                throw Malformed(start, $"tensor #{index} has an empty name");
            }

            var nameBytes = Encoding.UTF8.GetByteCount(name);
            if (nameBytes > MaxTensorNameBytes)
            {
                throw Malformed(start, $"tensor #{index} name is {nameBytes} bytes long; ggml allows at most {MaxTensorNameBytes}");
            }

            if (!names.Add(name))
            {
                throw Malformed(start, $"duplicate tensor name '{name}'");
            }

            context = $"tensor table entry #{index} ('{name}')";
            var dimsPos = pos;
            var nDims = ReadU32();
            if (nDims > MaxDimensions)
            {
                throw Malformed(dimsPos, $"tensor '{name}' has {nDims} dimensions; ggml allows at most {MaxDimensions}");
            }

            var dims = new long[nDims];
            long elements = 1;
            for (var d = 0; d < nDims; d++)
            {
                var at = pos;
                var ne = ReadU64();
                if (ne > long.MaxValue)
                {
                    throw Malformed(at, FormattableString.Invariant($"tensor '{name}' dimension {d} is negative ({(long)ne})"));
                }

                dims[d] = (long)ne;
                if (elements != 0)
                {
                    elements = ne == 0 ? 0 : (elements > long.MaxValue / (long)ne
                        ? throw Malformed(at, $"tensor '{name}' element count overflows 64 bits")
                        : elements * (long)ne);
                }
            }

            var typePos = pos;
            var type = (GgmlType)ReadU32();
            if (!GgmlTypes.TryGetTraits(type, out var block, out _))
            {
                throw Malformed(typePos,
                    FormattableString.Invariant($"tensor '{name}' has unknown ggml type {(uint)type} (valid ids are below {GgmlTypes.Count})"));
            }

            var rowLength = nDims == 0 ? 1 : dims[0];
            if (rowLength % block != 0)
            {
                throw Malformed(typePos,
                    $"tensor '{name}' of type {GgmlTypes.Name(type)} has {rowLength} elements per row, not a multiple of the block size {block}");
            }

            var byteSize = GgmlTypes.ByteSize(type, elements, rowLength);
            if (byteSize < 0)
            {
                throw Malformed(typePos, $"tensor '{name}' byte size overflows 64 bits");
            }

            var offset = ReadU64();
            return new GgufTensorInfo(name, dims, type, offset, byteSize, start);
        }

        private GgufValue ReadValue(GgufValueType type, int depth) => type switch
        {
            GgufValueType.UInt8 => GgufValue.FromUInt8(Span(1)[0]),
            GgufValueType.Int8 => GgufValue.FromInt8(unchecked((sbyte)Span(1)[0])),
            GgufValueType.UInt16 => GgufValue.FromUInt16(BinaryPrimitives.ReadUInt16LittleEndian(Span(2))),
            GgufValueType.Int16 => GgufValue.FromInt16(BinaryPrimitives.ReadInt16LittleEndian(Span(2))),
            GgufValueType.UInt32 => GgufValue.FromUInt32(ReadU32()),
            GgufValueType.Int32 => GgufValue.FromInt32(BinaryPrimitives.ReadInt32LittleEndian(Span(4))),
            GgufValueType.UInt64 => GgufValue.FromUInt64(ReadU64()),
            GgufValueType.Int64 => GgufValue.FromInt64(BinaryPrimitives.ReadInt64LittleEndian(Span(8))),
            GgufValueType.Float32 => GgufValue.FromFloat32(BinaryPrimitives.ReadSingleLittleEndian(Span(4))),
            GgufValueType.Float64 => GgufValue.FromFloat64(BinaryPrimitives.ReadDoubleLittleEndian(Span(8))),
            GgufValueType.Bool => GgufValue.FromBool(Span(1)[0] != 0),
            GgufValueType.String => GgufValue.FromString(ReadString()),
            _ => GgufValue.FromArray(ReadArray(depth + 1)),
        };

        private GgufArray ReadArray(int depth)
        {
            var start = pos;
            if (depth > MaxArrayNesting)
            {
                throw new GgufFormatException(GgufErrorKind.LimitExceeded, start,
                    $"{context}: arrays nested deeper than {MaxArrayNesting} levels");
            }

            var elementType = (GgufValueType)ReadU32();
            if (!GgufValueTypes.IsDefined(elementType))
            {
                throw Malformed(start, $"{context}: array has invalid element type {(uint)elementType}");
            }

            var countPos = pos;
            var count = ReadU64();
            if (count > (ulong)MaxArrayElements)
            {
                throw new GgufFormatException(GgufErrorKind.LimitExceeded, countPos,
                    FormattableString.Invariant($"{context}: array element count {count} exceeds the limit of {MaxArrayElements}"));
            }

            // Bound the allocation by what the file can actually hold before allocating anything.
            var n = (int)count;
            var minBytes = (long)n * GgufValueTypes.MinEncodedSize(elementType);
            if (minBytes > Remaining)
            {
                throw new GgufFormatException(GgufErrorKind.Truncated, countPos,
                    FormattableString.Invariant(
                        $"file is truncated or corrupt: {context}: array of {n} {GgufValueTypes.Name(elementType)} needs at least {minBytes} bytes but only {Remaining} remain"));
            }

            switch (elementType)
            {
                case GgufValueType.String:
                {
                    var items = new string[n];
                    for (var i = 0; i < n; i++)
                    {
                        items[i] = ReadString();
                    }

                    return GgufArray.Wrap(elementType, items);
                }

                case GgufValueType.Array:
                {
                    var items = new GgufArray[n];
                    for (var i = 0; i < n; i++)
                    {
                        items[i] = ReadArray(depth + 1);
                    }

                    return GgufArray.Wrap(elementType, items);
                }

                case GgufValueType.Bool:
                {
                    var items = new bool[n];
                    for (var i = 0; i < n; i++)
                    {
                        items[i] = Span(1)[0] != 0;
                    }

                    return GgufArray.Wrap(elementType, items);
                }

                case GgufValueType.UInt8: return GgufArray.Wrap(elementType, ReadPrimitives<byte>(n, 1, static s => s[0]));
                case GgufValueType.Int8: return GgufArray.Wrap(elementType, ReadPrimitives<sbyte>(n, 1, static s => unchecked((sbyte)s[0])));
                case GgufValueType.UInt16: return GgufArray.Wrap(elementType, ReadPrimitives(n, 2, BinaryPrimitives.ReadUInt16LittleEndian));
                case GgufValueType.Int16: return GgufArray.Wrap(elementType, ReadPrimitives(n, 2, BinaryPrimitives.ReadInt16LittleEndian));
                case GgufValueType.UInt32: return GgufArray.Wrap(elementType, ReadPrimitives(n, 4, BinaryPrimitives.ReadUInt32LittleEndian));
                case GgufValueType.Int32: return GgufArray.Wrap(elementType, ReadPrimitives(n, 4, BinaryPrimitives.ReadInt32LittleEndian));
                case GgufValueType.Float32: return GgufArray.Wrap(elementType, ReadPrimitives(n, 4, BinaryPrimitives.ReadSingleLittleEndian));
                case GgufValueType.UInt64: return GgufArray.Wrap(elementType, ReadPrimitives(n, 8, BinaryPrimitives.ReadUInt64LittleEndian));
                case GgufValueType.Int64: return GgufArray.Wrap(elementType, ReadPrimitives(n, 8, BinaryPrimitives.ReadInt64LittleEndian));
                default: return GgufArray.Wrap(elementType, ReadPrimitives(n, 8, BinaryPrimitives.ReadDoubleLittleEndian));
            }
        }

        private delegate T SpanParser<out T>(ReadOnlySpan<byte> span);

        private T[] ReadPrimitives<T>(int n, int size, SpanParser<T> parse)
        {
            var items = new T[n];
            var i = 0;
            while (i < n)
            {
                // Decode a buffer-full at a time.
                var batch = Math.Min(n - i, BufferSize / size);
                var span = Span(batch * size);
                for (var j = 0; j < batch; j++)
                {
                    items[i + j] = parse(span.Slice(j * size, size));
                }

                i += batch;
            }

            return items;
        }

        private string ReadString()
        {
            var lenPos = pos;
            var len = ReadU64();
            if (len > (ulong)MaxStringBytes)
            {
                throw new GgufFormatException(GgufErrorKind.LimitExceeded, lenPos,
                    FormattableString.Invariant($"{context}: string length {len} exceeds the limit of {MaxStringBytes} bytes"));
            }

            if ((long)len > Remaining)
            {
                throw new GgufFormatException(GgufErrorKind.Truncated, lenPos,
                    FormattableString.Invariant(
                        $"file is truncated or corrupt: {context}: string of {len} bytes runs past the end of the file ({Remaining} bytes remain)"));
            }

            var n = (int)len;
            try
            {
                if (n <= BufferSize)
                {
                    return StrictUtf8.GetString(Span(n));
                }

                var bytes = new byte[n];
                ReadExact(bytes);
                return StrictUtf8.GetString(bytes);
            }
            catch (DecoderFallbackException)
            {
                throw Malformed(lenPos, $"{context}: string is not valid UTF-8");
            }
        }

        private uint ReadU32() => BinaryPrimitives.ReadUInt32LittleEndian(Span(4));

        private ulong ReadU64() => BinaryPrimitives.ReadUInt64LittleEndian(Span(8));

        /// <summary>Consumes <paramref name="n"/> (≤ buffer size) bytes and returns them from the buffer.</summary>
        private ReadOnlySpan<byte> Span(int n)
        {
            if (n > Remaining)
            {
                throw new GgufFormatException(GgufErrorKind.Truncated, pos,
                    FormattableString.Invariant(
                        $"file is truncated: {context} needs {n} bytes at offset {pos} but the file ends at {length}"));
            }

            if (pos < bufferStart || pos + n > bufferStart + bufferCount)
            {
                Refill(n);
            }

            var span = buffer.AsSpan((int)(pos - bufferStart), n);
            pos += n;
            return span;
        }

        private void Refill(int needed)
        {
            bufferStart = pos;
            bufferCount = 0;
            stream.Position = pos;
            var want = (int)Math.Min(BufferSize, length - pos);
            while (bufferCount < want)
            {
                var got = stream.Read(buffer, bufferCount, want - bufferCount);
                if (got == 0)
                {
                    break;
                }

                bufferCount += got;
            }

            if (bufferCount < needed)
            {
                // The file shrank under us.
                throw new GgufFormatException(GgufErrorKind.Truncated, pos + bufferCount,
                    $"file is truncated: {context} could not be read completely");
            }
        }

        private void Fill(int n)
        {
            pos = 0;
            Refill(n);
        }

        private void ReadExact(byte[] target)
        {
            // Copy what is buffered, then read the rest straight from the stream.
            var copied = 0;
            if (pos >= bufferStart && pos < bufferStart + bufferCount)
            {
                copied = (int)Math.Min(target.Length, bufferStart + bufferCount - pos);
                buffer.AsSpan((int)(pos - bufferStart), copied).CopyTo(target);
            }

            stream.Position = pos + copied;
            while (copied < target.Length)
            {
                var got = stream.Read(target, copied, target.Length - copied);
                if (got == 0)
                {
                    throw new GgufFormatException(GgufErrorKind.Truncated, pos + copied,
                        $"file is truncated: {context} could not be read completely");
                }

                copied += got;
            }

            pos += target.Length;
            bufferCount = 0;
        }

        private GgufFormatException Malformed(long offset, string problem) => new(GgufErrorKind.Malformed, offset, problem);
    }
}
