using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace YoutuServer.Engine.Gguf;

/// <summary>Writes the bytes of one tensor into the stream it is given (exactly the tensor's byte size).</summary>
public delegate void GgufTensorDataWriter(Stream destination);

/// <summary>
/// Streaming GGUF v3 writer: metadata and the tensor table are collected first, then tensor data is pulled from
/// per-tensor callbacks while writing, so multi-GB models never sit in memory.
/// </summary>
public sealed class GgufWriter
{
    public const uint Version = 3;

    private readonly List<(string Key, GgufValue Value)> metadata = [];
    private readonly HashSet<string> keys = new(StringComparer.Ordinal);
    private readonly List<PendingTensor> tensors = [];
    private readonly HashSet<string> tensorNames = new(StringComparer.Ordinal);
    private ulong nextOffset;

    public GgufWriter(uint alignment = GgufReader.DefaultAlignment)
    {
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "alignment must be a power of two");
        }

        Alignment = alignment;
        if (alignment != GgufReader.DefaultAlignment)
        {
            AddUInt32(GgufReader.AlignmentKey, alignment);
        }
    }

    public uint Alignment { get; }

    public int KeyValueCount => metadata.Count;

    /// <summary>The tensor table as it will be written (offsets relative to the data section).</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors => tensors.ConvertAll(t => t.Info);

    public long ParameterCount => tensors.Sum(t => t.Info.ElementCount);

    public void Add(string key, GgufValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        if (!keys.Add(key))
        {
            throw new ArgumentException($"duplicate metadata key '{key}'", nameof(key));
        }

        metadata.Add((key, value));
    }

    public void AddUInt8(string key, byte value) => Add(key, GgufValue.FromUInt8(value));
    public void AddInt8(string key, sbyte value) => Add(key, GgufValue.FromInt8(value));
    public void AddUInt16(string key, ushort value) => Add(key, GgufValue.FromUInt16(value));
    public void AddInt16(string key, short value) => Add(key, GgufValue.FromInt16(value));
    public void AddUInt32(string key, uint value) => Add(key, GgufValue.FromUInt32(value));
    public void AddInt32(string key, int value) => Add(key, GgufValue.FromInt32(value));
    public void AddUInt64(string key, ulong value) => Add(key, GgufValue.FromUInt64(value));
    public void AddInt64(string key, long value) => Add(key, GgufValue.FromInt64(value));
    public void AddFloat32(string key, float value) => Add(key, GgufValue.FromFloat32(value));
    public void AddFloat64(string key, double value) => Add(key, GgufValue.FromFloat64(value));
    public void AddBool(string key, bool value) => Add(key, GgufValue.FromBool(value));
    public void AddString(string key, string value) => Add(key, GgufValue.FromString(value));
    public void AddArray(string key, GgufArray value) => Add(key, GgufValue.FromArray(value));
    public void AddStringArray(string key, IEnumerable<string> values) => AddArray(key, GgufArray.FromStrings(values));
    public void AddInt32Array(string key, ReadOnlySpan<int> values) => AddArray(key, GgufArray.FromInt32(values));
    public void AddUInt32Array(string key, ReadOnlySpan<uint> values) => AddArray(key, GgufArray.FromUInt32(values));
    public void AddFloat32Array(string key, ReadOnlySpan<float> values) => AddArray(key, GgufArray.FromFloat32(values));

    /// <summary>Adds a tensor. <paramref name="dims"/> are in ggml order (row length first).</summary>
    /// <param name="data">Called once during <see cref="WriteTo(Stream, IProgress{double}?, CancellationToken)"/>; must write exactly the tensor's byte size.</param>
    public GgufTensorInfo AddTensor(string name, ReadOnlySpan<long> dims, GgmlType type, GgufTensorDataWriter data)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(data);
        if (Encoding.UTF8.GetByteCount(name) > GgufReader.MaxTensorNameBytes)
        {
            throw new ArgumentException($"tensor name '{name}' is longer than {GgufReader.MaxTensorNameBytes} bytes", nameof(name));
        }

        if (dims.Length is < 1 or > GgufReader.MaxDimensions)
        {
            throw new ArgumentException($"tensor '{name}' needs 1..{GgufReader.MaxDimensions} dimensions", nameof(dims));
        }

        long elements = 1;
        foreach (var d in dims)
        {
            if (d < 1)
            {
                throw new ArgumentException($"tensor '{name}' has a non-positive dimension", nameof(dims));
            }

            elements = checked(elements * d);
        }

        if (!GgmlTypes.TryGetTraits(type, out var block, out _))
        {
            throw new ArgumentException($"unknown ggml type {(uint)type}", nameof(type));
        }

        var bytes = GgmlTypes.ByteSize(type, elements, dims[0]);
        if (bytes < 0)
        {
            throw new ArgumentException($"tensor '{name}': row length {dims[0]} is not a multiple of the {GgmlTypes.Name(type)} block size {block}", nameof(dims));
        }

        if (!tensorNames.Add(name))
        {
            throw new ArgumentException($"duplicate tensor name '{name}'", nameof(name));
        }

        var info = new GgufTensorInfo(name, dims.ToArray(), type, nextOffset, bytes);
        tensors.Add(new PendingTensor(info, data));
        nextOffset += (ulong)Pad(bytes);
        return info;
    }

    /// <summary>Size of the header, metadata and tensor table, padded to the alignment (where the data begins).</summary>
    public long HeaderLength => Pad(UnpaddedHeaderLength());

    /// <summary>The exact length of the file <see cref="WriteTo(Stream, IProgress{double}?, CancellationToken)"/> produces.</summary>
    public long FileLength => HeaderLength + (long)nextOffset;

    public void WriteTo(string path, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);

        // Write beside the target and rename, so a crash never leaves a half-written model under the real name.
        var temp = full + ".partial";
        try
        {
            using (var fs = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.Create,
                Access = FileAccess.Write,
                Share = FileShare.None,
                BufferSize = 0, // WriteTo(Stream) buffers small writes itself
                PreallocationSize = FileLength,
            }))
            {
                WriteTo(fs, progress, cancellationToken);
            }

            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    public void WriteTo(Stream output, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        WriteHeader(output);

        // Small writes (padding, callers writing element by element) are batched; the large slices the
        // synthesizer writes are bigger than the buffer and go straight through without an extra copy.
        var buffered = new BufferedStream(output, 1 << 16);
        var total = Math.Max(1, FileLength);
        var counting = new CountingStream(buffered, progress, total, HeaderLength);
        foreach (var t in tensors)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var before = counting.Written;
            t.Data(counting);
            var wrote = counting.Written - before;
            if (wrote != t.Info.ByteSize)
            {
                throw new InvalidOperationException($"tensor '{t.Info.Name}': data callback wrote {wrote} bytes, expected {t.Info.ByteSize}");
            }

            WriteZeros(counting, Pad(wrote) - wrote);
        }

        counting.Flush();
        progress?.Report(1.0);
    }

    /// <summary>Writes only the header, metadata and tensor table (plus padding): a "dry" file for inspection.</summary>
    public void WriteHeader(Stream output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var buffered = new BufferedStream(output, 1 << 16);
        var w = new Emitter(buffered);
        w.Bytes(GgufReader.Magic);
        w.U32(Version);
        w.U64((ulong)tensors.Count);
        w.U64((ulong)metadata.Count);
        foreach (var (key, value) in metadata)
        {
            w.String(key);
            w.U32((uint)value.Type);
            w.Value(value);
        }

        foreach (var t in tensors)
        {
            w.String(t.Info.Name);
            w.U32((uint)t.Info.Dimensions.Count);
            foreach (var d in t.Info.Dimensions)
            {
                w.U64((ulong)d);
            }

            w.U32((uint)t.Info.Type);
            w.U64(t.Info.Offset);
        }

        WriteZeros(buffered, HeaderLength - w.Written);
        buffered.Flush();
    }

    private long UnpaddedHeaderLength()
    {
        var counter = new Emitter(Stream.Null);
        counter.Bytes(GgufReader.Magic);
        counter.U32(Version);
        counter.U64(0);
        counter.U64(0);
        foreach (var (key, value) in metadata)
        {
            counter.String(key);
            counter.U32(0);
            counter.Value(value);
        }

        foreach (var t in tensors)
        {
            counter.String(t.Info.Name);
            counter.U32(0);
            counter.Written += 8L * t.Info.Dimensions.Count;
            counter.U32(0);
            counter.U64(0);
        }

        return counter.Written;
    }

    private long Pad(long n) => (n + Alignment - 1) / Alignment * Alignment;

    private static void WriteZeros(Stream s, long count)
    {
        Span<byte> zeros = stackalloc byte[64];
        zeros.Clear();
        while (count > 0)
        {
            var n = (int)Math.Min(count, zeros.Length);
            s.Write(zeros[..n]);
            count -= n;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private sealed record PendingTensor(GgufTensorInfo Info, GgufTensorDataWriter Data);

    /// <summary>Little-endian primitive encoder that also counts bytes (Stream.Null makes it a pure size calculator).</summary>
    private sealed class Emitter(Stream s)
    {
        private readonly byte[] scratch = new byte[8];

        public long Written { get; set; }

        public void Bytes(ReadOnlySpan<byte> b)
        {
            s.Write(b);
            Written += b.Length;
        }

        public void U8(byte v) => Bytes([v]);

        public void U16(ushort v)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(scratch, v);
            Bytes(scratch.AsSpan(0, 2));
        }

        public void U32(uint v)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(scratch, v);
            Bytes(scratch.AsSpan(0, 4));
        }

        public void U64(ulong v)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(scratch, v);
            Bytes(scratch.AsSpan(0, 8));
        }

        public void String(string v)
        {
            var n = Encoding.UTF8.GetByteCount(v);
            U64((ulong)n);
            if (ReferenceEquals(s, Stream.Null))
            {
                Written += n;
                return;
            }

            var bytes = n <= 256 ? stackalloc byte[n] : new byte[n];
            Encoding.UTF8.GetBytes(v, bytes);
            Bytes(bytes);
        }

        public void Value(GgufValue v)
        {
            switch (v.Type)
            {
                case GgufValueType.String:
                    String(v.AsString()!);
                    break;
                case GgufValueType.Array:
                    Array(v.AsArray()!);
                    break;
                default:
                    Scalar(v.Type, v.RawBits);
                    break;
            }
        }

        private void Scalar(GgufValueType type, ulong bits)
        {
            switch (GgufValueTypes.FixedSize(type))
            {
                case 1: U8((byte)bits); break;
                case 2: U16((ushort)bits); break;
                case 4: U32((uint)bits); break;
                default: U64(bits); break;
            }
        }

        private void Array(GgufArray a)
        {
            U32((uint)a.ElementType);
            U64((ulong)a.Count);
            switch (a.ElementType)
            {
                case GgufValueType.String:
                    foreach (var s1 in a.Strings)
                    {
                        String(s1);
                    }

                    break;
                case GgufValueType.Array:
                    foreach (var inner in a.Arrays)
                    {
                        Array(inner);
                    }

                    break;
                default:
                    var size = GgufValueTypes.FixedSize(a.ElementType);
                    if (ReferenceEquals(s, Stream.Null))
                    {
                        Written += (long)size * a.Count;
                        break;
                    }

                    if (!BitConverter.IsLittleEndian)
                    {
                        for (var i = 0; i < a.Count; i++)
                        {
                            Scalar(a.ElementType, a.GetValue(i).RawBits);
                        }

                        break;
                    }

                    // GGUF is little-endian, like the host: the typed storage is already the wire format.
                    Bytes(a.ElementType switch
                    {
                        GgufValueType.UInt8 => a.UInt8s,
                        GgufValueType.Int8 => MemoryMarshal.AsBytes(a.Int8s),
                        GgufValueType.Bool => MemoryMarshal.AsBytes(a.Bools),
                        GgufValueType.UInt16 => MemoryMarshal.AsBytes(a.UInt16s),
                        GgufValueType.Int16 => MemoryMarshal.AsBytes(a.Int16s),
                        GgufValueType.UInt32 => MemoryMarshal.AsBytes(a.UInt32s),
                        GgufValueType.Int32 => MemoryMarshal.AsBytes(a.Int32s),
                        GgufValueType.Float32 => MemoryMarshal.AsBytes(a.Float32s),
                        GgufValueType.UInt64 => MemoryMarshal.AsBytes(a.UInt64s),
                        GgufValueType.Int64 => MemoryMarshal.AsBytes(a.Int64s),
                        _ => MemoryMarshal.AsBytes(a.Float64s),
                    });
                    break;
            }
        }
    }

    /// <summary>Pass-through that counts tensor bytes and reports progress (every ~0.5 %).</summary>
    private sealed class CountingStream(Stream inner, IProgress<double>? progress, long total, long start) : Stream
    {
        private long lastReported;

        public long Written { get; private set; }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => Written;
            set => throw new NotSupportedException();
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            Written += buffer.Length;
            if (progress is not null && Written - lastReported > total / 200)
            {
                lastReported = Written;
                progress.Report((double)(start + Written) / total);
            }
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void WriteByte(byte value) => Write([value]);

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
