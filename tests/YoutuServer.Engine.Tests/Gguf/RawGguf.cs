using System.Buffers.Binary;
using System.Text;
using YoutuServer.Engine.Gguf;

namespace YoutuServer.Engine.Tests.Gguf;

/// <summary>
/// An editable, unchecked image of a GGUF file for building hostile variants: every field can be set to a lie
/// (counts, type ids, offsets, raw value bytes) and <see cref="Serialize"/> writes it as is.
/// </summary>
internal sealed class RawGguf
{
    public byte[] Magic { get; set; } = "GGUF"u8.ToArray();
    public uint Version { get; set; } = 3;
    public ulong? TensorCountOverride { get; set; }
    public ulong? KvCountOverride { get; set; }
    public List<RawKv> Kvs { get; } = [];
    public List<RawTensor> Tensors { get; } = [];
    public uint Alignment { get; set; } = 32;

    /// <summary>The data section (starts at the aligned end of the tensor table).</summary>
    public byte[] Data { get; set; } = [];

    public static RawGguf From(byte[] file)
    {
        var f = GgufReader.Read(new MemoryStream(file));
        var raw = new RawGguf { Version = f.Version, Alignment = f.Alignment };
        foreach (var kv in f.Metadata)
        {
            raw.Kvs.Add(new RawKv(kv.Key, kv.Value));
        }

        foreach (var t in f.Tensors)
        {
            raw.Tensors.Add(new RawTensor(t.Name, t.Dimensions.Select(d => (ulong)d).ToArray(), (uint)t.Type, t.Offset));
        }

        raw.Data = file.AsSpan((int)f.DataOffset).ToArray();
        return raw;
    }

    public RawGguf Clone()
    {
        var c = new RawGguf
        {
            Magic = Magic.ToArray(),
            Version = Version,
            TensorCountOverride = TensorCountOverride,
            KvCountOverride = KvCountOverride,
            Alignment = Alignment,
            Data = Data.ToArray(),
        };
        c.Kvs.AddRange(Kvs.Select(k => k with { }));
        c.Tensors.AddRange(Tensors.Select(t => t with { Dims = t.Dims.ToArray() }));
        return c;
    }

    public RawKv Kv(string key) => Kvs.Single(k => k.Key == key);

    public void SetKv(string key, GgufValue value)
    {
        var i = Kvs.FindIndex(k => k.Key == key);
        if (i < 0)
        {
            Kvs.Add(new RawKv(key, value));
        }
        else
        {
            Kvs[i] = new RawKv(key, value);
        }
    }

    public void RemoveKv(string key) => Assert.Equal(1, Kvs.RemoveAll(k => k.Key == key));

    public int TensorIndex(string name) => Tensors.FindIndex(t => t.Name == name);

    public byte[] Serialize()
    {
        var ms = new MemoryStream();
        ms.Write(Magic);
        U32(ms, Version);
        U64(ms, TensorCountOverride ?? (ulong)Tensors.Count);
        U64(ms, KvCountOverride ?? (ulong)Kvs.Count);
        foreach (var kv in Kvs)
        {
            if (kv.KeyBytesOverride is { } keyBytes)
            {
                U64(ms, kv.KeyLengthOverride ?? (ulong)keyBytes.Length);
                ms.Write(keyBytes);
            }
            else
            {
                String(ms, kv.Key, kv.KeyLengthOverride);
            }

            if (kv.RawTypeAndValue is { } raw)
            {
                ms.Write(raw);
            }
            else
            {
                U32(ms, (uint)kv.Value!.Type);
                Value(ms, kv.Value);
            }
        }

        foreach (var t in Tensors)
        {
            String(ms, t.Name, t.NameLengthOverride);
            U32(ms, t.DimCountOverride ?? (uint)t.Dims.Length);
            foreach (var d in t.Dims)
            {
                U64(ms, d);
            }

            U32(ms, t.Type);
            U64(ms, t.Offset);
        }

        while (ms.Length % Alignment != 0)
        {
            ms.WriteByte(0);
        }

        ms.Write(Data);
        return ms.ToArray();
    }

    /// <summary>Encodes a value (type id not included), as GgufWriter would.</summary>
    public static byte[] Encode(GgufValue v)
    {
        var ms = new MemoryStream();
        Value(ms, v);
        return ms.ToArray();
    }

    public static byte[] TypeAndValue(GgufValue v)
    {
        var ms = new MemoryStream();
        U32(ms, (uint)v.Type);
        Value(ms, v);
        return ms.ToArray();
    }

    private static void Value(MemoryStream ms, GgufValue v)
    {
        switch (v.Type)
        {
            case GgufValueType.String:
                String(ms, v.AsString()!, null);
                break;
            case GgufValueType.Array:
                Array(ms, v.AsArray()!);
                break;
            default:
                Span<byte> b = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(b, v.RawBits);
                ms.Write(b[..GgufValueTypes.FixedSize(v.Type)]);
                break;
        }
    }

    private static void Array(MemoryStream ms, GgufArray a)
    {
        U32(ms, (uint)a.ElementType);
        U64(ms, (ulong)a.Count);
        for (var i = 0; i < a.Count; i++)
        {
            Value(ms, a.GetValue(i));
        }
    }

    public static void String(Stream ms, string s, ulong? lengthOverride)
    {
        var b = Encoding.UTF8.GetBytes(s);
        U64(ms, lengthOverride ?? (ulong)b.Length);
        ms.Write(b);
    }

    public static void U32(Stream ms, uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        ms.Write(b);
    }

    public static void U64(Stream ms, ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        ms.Write(b);
    }
}

/// <summary>A metadata entry; <see cref="RawTypeAndValue"/> replaces the encoded type id and value when set.</summary>
internal sealed record RawKv(string Key, GgufValue? Value)
{
    public byte[]? RawTypeAndValue { get; init; }
    public ulong? KeyLengthOverride { get; init; }
    public byte[]? KeyBytesOverride { get; init; }
}

internal sealed record RawTensor(string Name, ulong[] Dims, uint Type, ulong Offset)
{
    public uint? DimCountOverride { get; init; }
    public ulong? NameLengthOverride { get; init; }
}
