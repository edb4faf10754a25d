using System.Globalization;

namespace YoutuServer.Engine.Gguf;

/// <summary>GGUF metadata value types (gguf.h <c>enum gguf_type</c>).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>Names and sizes of <see cref="GgufValueType"/>.</summary>
public static class GgufValueTypes
{
    public static bool IsDefined(GgufValueType type) => (uint)type <= (uint)GgufValueType.Float64;

    /// <summary>Encoded size of a fixed-size scalar; 0 for string/array.</summary>
    public static int FixedSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 0,
    };

    /// <summary>The smallest number of bytes one value of this type can occupy (string: its u64 length).</summary>
    public static int MinEncodedSize(GgufValueType type) => type switch
    {
        GgufValueType.String => 8,
        GgufValueType.Array => 4 + 8,
        _ => FixedSize(type),
    };

    /// <summary>gguf.cpp's short names: u8, i8, ..., str, arr.</summary>
    public static string Name(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => "u8",
        GgufValueType.Int8 => "i8",
        GgufValueType.UInt16 => "u16",
        GgufValueType.Int16 => "i16",
        GgufValueType.UInt32 => "u32",
        GgufValueType.Int32 => "i32",
        GgufValueType.Float32 => "f32",
        GgufValueType.Bool => "bool",
        GgufValueType.String => "str",
        GgufValueType.Array => "arr",
        GgufValueType.UInt64 => "u64",
        GgufValueType.Int64 => "i64",
        GgufValueType.Float64 => "f64",
        _ => FormattableString.Invariant($"type#{(uint)type}"),
    };
}

/// <summary>One GGUF metadata value: a scalar, a string or an array. Immutable.</summary>
public sealed class GgufValue
{
    // Scalars live in _bits (two's complement / IEEE bits); strings and arrays in _ref.
    private readonly ulong bits;
    private readonly object? @ref;

    private GgufValue(GgufValueType type, ulong bits, object? reference)
    {
        Type = type;
        this.bits = bits;
        @ref = reference;
    }

    public GgufValueType Type { get; }

    /// <summary>"u32", "str", "arr[i32]", "arr[arr]"... for messages.</summary>
    public string TypeName => @ref is GgufArray a ? $"arr[{GgufValueTypes.Name(a.ElementType)}]" : GgufValueTypes.Name(Type);

    public static GgufValue FromUInt8(byte value) => new(GgufValueType.UInt8, value, null);
    public static GgufValue FromInt8(sbyte value) => new(GgufValueType.Int8, unchecked((ulong)value), null);
    public static GgufValue FromUInt16(ushort value) => new(GgufValueType.UInt16, value, null);
    public static GgufValue FromInt16(short value) => new(GgufValueType.Int16, unchecked((ulong)value), null);
    public static GgufValue FromUInt32(uint value) => new(GgufValueType.UInt32, value, null);
    public static GgufValue FromInt32(int value) => new(GgufValueType.Int32, unchecked((ulong)value), null);
    public static GgufValue FromUInt64(ulong value) => new(GgufValueType.UInt64, value, null);
    public static GgufValue FromInt64(long value) => new(GgufValueType.Int64, unchecked((ulong)value), null);
    public static GgufValue FromFloat32(float value) => new(GgufValueType.Float32, BitConverter.SingleToUInt32Bits(value), null);
    public static GgufValue FromFloat64(double value) => new(GgufValueType.Float64, BitConverter.DoubleToUInt64Bits(value), null);
    public static GgufValue FromBool(bool value) => new(GgufValueType.Bool, value ? 1UL : 0UL, null);

    public static GgufValue FromString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new(GgufValueType.String, 0, value);
    }

    public static GgufValue FromArray(GgufArray value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new(GgufValueType.Array, 0, value);
    }

    /// <summary>The raw scalar bits, zero-extended (for writers); 0 for strings and arrays.</summary>
    internal ulong RawBits => bits;

    public bool TryGetUInt8(out byte value) { value = (byte)bits; return Type == GgufValueType.UInt8; }
    public bool TryGetInt8(out sbyte value) { value = unchecked((sbyte)bits); return Type == GgufValueType.Int8; }
    public bool TryGetUInt16(out ushort value) { value = (ushort)bits; return Type == GgufValueType.UInt16; }
    public bool TryGetInt16(out short value) { value = unchecked((short)bits); return Type == GgufValueType.Int16; }
    public bool TryGetUInt32(out uint value) { value = (uint)bits; return Type == GgufValueType.UInt32; }
    public bool TryGetInt32(out int value) { value = unchecked((int)bits); return Type == GgufValueType.Int32; }
    public bool TryGetUInt64(out ulong value) { value = bits; return Type == GgufValueType.UInt64; }
    public bool TryGetInt64(out long value) { value = unchecked((long)bits); return Type == GgufValueType.Int64; }
    public bool TryGetBool(out bool value) { value = bits != 0; return Type == GgufValueType.Bool; }

    public bool TryGetFloat32(out float value)
    {
        value = BitConverter.UInt32BitsToSingle((uint)bits);
        return Type == GgufValueType.Float32;
    }

    public bool TryGetFloat64(out double value)
    {
        value = BitConverter.UInt64BitsToDouble(bits);
        return Type == GgufValueType.Float64;
    }

    public bool TryGetString(out string value)
    {
        value = @ref as string ?? string.Empty;
        return Type == GgufValueType.String;
    }

    /// <summary>The string, or null when this is not a string.</summary>
    public string? AsString() => @ref as string;

    /// <summary>The array, or null when this is not an array.</summary>
    public GgufArray? AsArray() => @ref as GgufArray;

    /// <summary>Any integer type widened to long (u64 above long.MaxValue fails); false for non-integers.</summary>
    public bool TryGetInteger(out long value)
    {
        value = Type switch
        {
            GgufValueType.UInt8 or GgufValueType.UInt16 or GgufValueType.UInt32 or GgufValueType.UInt64 => unchecked((long)bits),
            GgufValueType.Int8 => unchecked((sbyte)bits),
            GgufValueType.Int16 => unchecked((short)bits),
            GgufValueType.Int32 => unchecked((int)bits),
            GgufValueType.Int64 => unchecked((long)bits),
            _ => 0,
        };
        return Type switch
        {
            GgufValueType.UInt64 => bits <= long.MaxValue,
            GgufValueType.UInt8 or GgufValueType.UInt16 or GgufValueType.UInt32 or GgufValueType.Int8
                or GgufValueType.Int16 or GgufValueType.Int32 or GgufValueType.Int64 => true,
            _ => false,
        };
    }

    /// <summary>A short human-readable rendering (long strings and arrays abbreviated).</summary>
    public override string ToString()
    {
        switch (Type)
        {
            case GgufValueType.String:
                var s = (string)@ref!;
                return s.Length <= 60 ? $"\"{s}\"" : $"\"{s[..57]}...\" ({s.Length} chars)";
            case GgufValueType.Array:
                var a = (GgufArray)@ref!;
                return $"arr[{GgufValueTypes.Name(a.ElementType)}; {a.Count}]";
            case GgufValueType.Bool:
                return bits != 0 ? "true" : "false";
            case GgufValueType.Float32:
                return BitConverter.UInt32BitsToSingle((uint)bits).ToString("R", CultureInfo.InvariantCulture);
            case GgufValueType.Float64:
                return BitConverter.UInt64BitsToDouble(bits).ToString("R", CultureInfo.InvariantCulture);
            default:
                return TryGetInteger(out var v) ? v.ToString(CultureInfo.InvariantCulture) : bits.ToString(CultureInfo.InvariantCulture);
        }
    }
}
