namespace YoutuServer.Engine.Gguf;

/// <summary>A GGUF array value: one element type, typed storage (no boxing for 128k-token vocabularies).</summary>
public sealed class GgufArray
{
    private readonly Array items;

    private GgufArray(GgufValueType elementType, Array items)
    {
        ElementType = elementType;
        this.items = items;
    }

    public GgufValueType ElementType { get; }

    public int Count => items.Length;

    public static GgufArray FromUInt8(ReadOnlySpan<byte> items) => new(GgufValueType.UInt8, items.ToArray());
    public static GgufArray FromInt8(ReadOnlySpan<sbyte> items) => new(GgufValueType.Int8, items.ToArray());
    public static GgufArray FromUInt16(ReadOnlySpan<ushort> items) => new(GgufValueType.UInt16, items.ToArray());
    public static GgufArray FromInt16(ReadOnlySpan<short> items) => new(GgufValueType.Int16, items.ToArray());
    public static GgufArray FromUInt32(ReadOnlySpan<uint> items) => new(GgufValueType.UInt32, items.ToArray());
    public static GgufArray FromInt32(ReadOnlySpan<int> items) => new(GgufValueType.Int32, items.ToArray());
    public static GgufArray FromUInt64(ReadOnlySpan<ulong> items) => new(GgufValueType.UInt64, items.ToArray());
    public static GgufArray FromInt64(ReadOnlySpan<long> items) => new(GgufValueType.Int64, items.ToArray());
    public static GgufArray FromFloat32(ReadOnlySpan<float> items) => new(GgufValueType.Float32, items.ToArray());
    public static GgufArray FromFloat64(ReadOnlySpan<double> items) => new(GgufValueType.Float64, items.ToArray());
    public static GgufArray FromBool(ReadOnlySpan<bool> items) => new(GgufValueType.Bool, items.ToArray());

    public static GgufArray FromStrings(IEnumerable<string> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var copy = items.ToArray();
        foreach (var s in copy)
        {
            ArgumentNullException.ThrowIfNull(s, nameof(items));
        }

        return new(GgufValueType.String, copy);
    }

    /// <summary>An array of arrays (the GGUF spec allows nesting; llama.cpp itself does not read them).</summary>
    public static GgufArray FromArrays(IEnumerable<GgufArray> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var copy = items.ToArray();
        foreach (var a in copy)
        {
            ArgumentNullException.ThrowIfNull(a, nameof(items));
        }

        return new(GgufValueType.Array, copy);
    }

    /// <summary>Takes ownership of <paramref name="items"/> (the reader hands over freshly parsed arrays).</summary>
    internal static GgufArray Wrap(GgufValueType elementType, Array items) => new(elementType, items);

    public ReadOnlySpan<byte> UInt8s => Typed<byte>(GgufValueType.UInt8);
    public ReadOnlySpan<sbyte> Int8s => Typed<sbyte>(GgufValueType.Int8);
    public ReadOnlySpan<ushort> UInt16s => Typed<ushort>(GgufValueType.UInt16);
    public ReadOnlySpan<short> Int16s => Typed<short>(GgufValueType.Int16);
    public ReadOnlySpan<uint> UInt32s => Typed<uint>(GgufValueType.UInt32);
    public ReadOnlySpan<int> Int32s => Typed<int>(GgufValueType.Int32);
    public ReadOnlySpan<ulong> UInt64s => Typed<ulong>(GgufValueType.UInt64);
    public ReadOnlySpan<long> Int64s => Typed<long>(GgufValueType.Int64);
    public ReadOnlySpan<float> Float32s => Typed<float>(GgufValueType.Float32);
    public ReadOnlySpan<double> Float64s => Typed<double>(GgufValueType.Float64);
    public ReadOnlySpan<bool> Bools => Typed<bool>(GgufValueType.Bool);

    /// <summary>The elements of a string array; throws <see cref="InvalidOperationException"/> for other element types.</summary>
    public IReadOnlyList<string> Strings => Typed<string>(GgufValueType.String);

    /// <summary>The elements of an array of arrays.</summary>
    public IReadOnlyList<GgufArray> Arrays => Typed<GgufArray>(GgufValueType.Array);

    /// <summary>Element <paramref name="index"/> as a <see cref="GgufValue"/> (boxes; for generic tooling, not hot paths).</summary>
    public GgufValue GetValue(int index) => ElementType switch
    {
        GgufValueType.UInt8 => GgufValue.FromUInt8(UInt8s[index]),
        GgufValueType.Int8 => GgufValue.FromInt8(Int8s[index]),
        GgufValueType.UInt16 => GgufValue.FromUInt16(UInt16s[index]),
        GgufValueType.Int16 => GgufValue.FromInt16(Int16s[index]),
        GgufValueType.UInt32 => GgufValue.FromUInt32(UInt32s[index]),
        GgufValueType.Int32 => GgufValue.FromInt32(Int32s[index]),
        GgufValueType.UInt64 => GgufValue.FromUInt64(UInt64s[index]),
        GgufValueType.Int64 => GgufValue.FromInt64(Int64s[index]),
        GgufValueType.Float32 => GgufValue.FromFloat32(Float32s[index]),
        GgufValueType.Float64 => GgufValue.FromFloat64(Float64s[index]),
        GgufValueType.Bool => GgufValue.FromBool(Bools[index]),
        GgufValueType.String => GgufValue.FromString(Strings[index]),
        _ => GgufValue.FromArray(Arrays[index]),
    };

    private T[] Typed<T>(GgufValueType expected) =>
        ElementType == expected
            ? (T[])items
            : throw new InvalidOperationException(
                $"array holds {GgufValueTypes.Name(ElementType)}, not {GgufValueTypes.Name(expected)}");
}
