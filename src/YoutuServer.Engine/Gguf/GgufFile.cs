using System.Diagnostics.CodeAnalysis;

namespace YoutuServer.Engine.Gguf;

/// <summary>One metadata entry, in file order.</summary>
/// <param name="Offset">Byte offset of the entry (its key length) in the file.</param>
public sealed record GgufKeyValue(string Key, GgufValue Value, long Offset);

/// <summary>One entry of the tensor table. The data itself is never read.</summary>
public sealed class GgufTensorInfo
{
    public GgufTensorInfo(string name, long[] dimensions, GgmlType type, ulong offset, long byteSize, long infoOffset = 0)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(dimensions);
        Name = name;
        Dimensions = dimensions.ToArray();
        Type = type;
        Offset = offset;
        ByteSize = byteSize;
        InfoOffset = infoOffset;
        long n = 1;
        foreach (var d in dimensions)
        {
            n = d <= 0 ? 0 : (n > long.MaxValue / d ? long.MaxValue : n * d);
        }

        ElementCount = n;
    }

    public string Name { get; }

    /// <summary>ggml order: ne0 (row length) first.</summary>
    public IReadOnlyList<long> Dimensions { get; }

    public GgmlType Type { get; }

    /// <summary>Offset of the data relative to <see cref="GgufFile.DataOffset"/> (as stored; may lie in hostile files).</summary>
    public ulong Offset { get; }

    /// <summary>Bytes of tensor data, from dims and type.</summary>
    public long ByteSize { get; }

    public long ElementCount { get; }

    /// <summary>Byte offset in the file where this tensor's table entry starts.</summary>
    public long InfoOffset { get; }

    /// <summary>Shape as "{64, 452}".</summary>
    public string ShapeText => FormatShape(Dimensions);

    public static string FormatShape(IReadOnlyList<long> dims) => "{" + string.Join(", ", dims) + "}";

    public override string ToString() => $"{Name} {ShapeText} {GgmlTypes.Name(Type)} @{Offset}";
}

/// <summary>The parsed header, metadata and tensor table of a GGUF file.</summary>
public sealed class GgufFile
{
    private readonly Dictionary<string, GgufKeyValue> byKey;
    private readonly Dictionary<string, GgufTensorInfo> byName;

    internal GgufFile(uint version, uint alignment, IReadOnlyList<GgufKeyValue> metadata, IReadOnlyList<GgufTensorInfo> tensors,
        long dataOffset, long fileLength, long tensorTableEnd)
    {
        Version = version;
        Alignment = alignment;
        Metadata = metadata;
        Tensors = tensors;
        DataOffset = dataOffset;
        FileLength = fileLength;
        TensorTableEnd = tensorTableEnd;
        byKey = new Dictionary<string, GgufKeyValue>(metadata.Count, StringComparer.Ordinal);
        foreach (var kv in metadata)
        {
            byKey[kv.Key] = kv;
        }

        byName = new Dictionary<string, GgufTensorInfo>(tensors.Count, StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            byName[t.Name] = t;
        }
    }

    public uint Version { get; }

    /// <summary><c>general.alignment</c>, or 32.</summary>
    public uint Alignment { get; }

    /// <summary>Metadata in file order.</summary>
    public IReadOnlyList<GgufKeyValue> Metadata { get; }

    /// <summary>Tensor table in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary>Absolute offset of the data section (end of the tensor table, padded to <see cref="Alignment"/>).</summary>
    public long DataOffset { get; }

    public long FileLength { get; }

    /// <summary>Absolute offset just after the tensor table (before padding).</summary>
    public long TensorTableEnd { get; }

    /// <summary>Sum of the element counts of all tensors (what llama_model_n_params reports).</summary>
    public long ParameterCount
    {
        get
        {
            long n = 0;
            foreach (var t in Tensors)
            {
                n = n > long.MaxValue - t.ElementCount ? long.MaxValue : n + t.ElementCount;
            }

            return n;
        }
    }

    public bool ContainsKey(string key) => byKey.ContainsKey(key);

    public bool TryGetValue(string key, [NotNullWhen(true)] out GgufValue? value)
    {
        if (byKey.TryGetValue(key, out var kv))
        {
            value = kv.Value;
            return true;
        }

        value = null;
        return false;
    }

    public GgufValue? Find(string key) => byKey.TryGetValue(key, out var kv) ? kv.Value : null;

    public GgufTensorInfo? FindTensor(string name) => byName.GetValueOrDefault(name);

    public bool TryGetString(string key, [NotNullWhen(true)] out string? value)
    {
        value = Find(key)?.AsString();
        return value is not null;
    }

    public bool TryGetUInt32(string key, out uint value)
    {
        value = 0;
        return Find(key) is { } v && v.TryGetUInt32(out value);
    }

    public bool TryGetInt32(string key, out int value)
    {
        value = 0;
        return Find(key) is { } v && v.TryGetInt32(out value);
    }

    public bool TryGetUInt64(string key, out ulong value)
    {
        value = 0;
        return Find(key) is { } v && v.TryGetUInt64(out value);
    }

    public bool TryGetFloat32(string key, out float value)
    {
        value = 0;
        return Find(key) is { } v && v.TryGetFloat32(out value);
    }

    public bool TryGetBool(string key, out bool value)
    {
        value = false;
        return Find(key) is { } v && v.TryGetBool(out value);
    }

    public bool TryGetArray(string key, [NotNullWhen(true)] out GgufArray? value)
    {
        value = Find(key)?.AsArray();
        return value is not null;
    }

    public string GetString(string key) => Require(key, GgufValueType.String).AsString()!;

    public uint GetUInt32(string key)
    {
        Require(key, GgufValueType.UInt32).TryGetUInt32(out var v);
        return v;
    }

    public int GetInt32(string key)
    {
        Require(key, GgufValueType.Int32).TryGetInt32(out var v);
        return v;
    }

    public ulong GetUInt64(string key)
    {
        Require(key, GgufValueType.UInt64).TryGetUInt64(out var v);
        return v;
    }

    public float GetFloat32(string key)
    {
        Require(key, GgufValueType.Float32).TryGetFloat32(out var v);
        return v;
    }

    public bool GetBool(string key)
    {
        Require(key, GgufValueType.Bool).TryGetBool(out var v);
        return v;
    }

    public GgufArray GetArray(string key) => Require(key, GgufValueType.Array).AsArray()!;

    /// <summary>Missing or mistyped keys are file problems, so they surface as <see cref="GgufFormatException"/>.</summary>
    private GgufValue Require(string key, GgufValueType type)
    {
        if (!byKey.TryGetValue(key, out var kv))
        {
            throw new GgufFormatException(GgufErrorKind.Malformed, 0, $"key '{key}' not found");
        }

        if (kv.Value.Type != type)
        {
            throw new GgufFormatException(GgufErrorKind.Malformed, kv.Offset,
                $"key '{key}' has type {kv.Value.TypeName}, expected {GgufValueTypes.Name(type)}");
        }

        return kv.Value;
    }
}
