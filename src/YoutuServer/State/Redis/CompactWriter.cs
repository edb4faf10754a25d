using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace YoutuServer.State.Redis;

/// <summary>
/// Writes a compact payload: 7-bit varints, length-prefixed UTF-8 strings (a null string is length 0 with a flag),
/// length-prefixed byte blocks and int32 arrays as little-endian blocks (token ids stay 4 bytes each, no JSON).
/// </summary>
internal sealed class CompactWriter
{
    private readonly ArrayBufferWriter<byte> buffer = new(256);

    public void WriteVarInt(long value)
    {
        // ZigZag, so small negatives stay small.
        var v = (ulong)((value << 1) ^ (value >> 63));
        var span = buffer.GetSpan(10);
        var i = 0;
        while (v >= 0x80)
        {
            span[i++] = (byte)(v | 0x80);
            v >>= 7;
        }

        span[i++] = (byte)v;
        buffer.Advance(i);
    }

    public void WriteBool(bool value) => WriteVarInt(value ? 1 : 0);

    public void WriteString(string? value)
    {
        if (value is null)
        {
            WriteVarInt(-1);
            return;
        }

        var count = Encoding.UTF8.GetByteCount(value);
        WriteVarInt(count);
        Encoding.UTF8.GetBytes(value, buffer.GetSpan(count));
        buffer.Advance(count);
    }

    public void WriteBytes(ReadOnlySpan<byte> value)
    {
        WriteVarInt(value.Length);
        buffer.Write(value);
    }

    public void WriteInts(ReadOnlySpan<int> values)
    {
        WriteVarInt(values.Length);
        var span = buffer.GetSpan(values.Length * 4);
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(span[(i * 4)..], values[i]);
        }

        buffer.Advance(values.Length * 4);
    }

    public ReadOnlySpan<byte> WrittenSpan => buffer.WrittenSpan;
}

/// <summary>Reads what <see cref="CompactWriter"/> wrote; <see cref="AtEnd"/> tells a newer field from an older writer's end.</summary>
internal ref struct CompactReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> data = data;
    private int position;

    public readonly bool AtEnd => position >= data.Length;

    public long ReadVarInt()
    {
        ulong v = 0;
        for (var shift = 0; shift < 70; shift += 7)
        {
            if (position >= data.Length)
            {
                throw new InvalidDataException("truncated varint");
            }

            var b = data[position++];
            v |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return (long)(v >> 1) ^ -(long)(v & 1);
            }
        }

        throw new InvalidDataException("varint too long");
    }

    public bool ReadBool() => ReadVarInt() != 0;

    public string? ReadString()
    {
        var n = ReadVarInt();
        return n < 0 ? null : Encoding.UTF8.GetString(Take(n));
    }

    public byte[] ReadBytes() => Take(ReadVarInt()).ToArray();

    public int[] ReadInts()
    {
        var n = ReadVarInt();
        var span = Take(checked(n * 4));
        var values = new int[n];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = BinaryPrimitives.ReadInt32LittleEndian(span[(i * 4)..]);
        }

        return values;
    }

    private ReadOnlySpan<byte> Take(long count)
    {
        if (count < 0 || count > data.Length - position)
        {
            throw new InvalidDataException("length beyond the payload");
        }

        var s = data.Slice(position, (int)count);
        position += (int)count;
        return s;
    }
}
