namespace YoutuServer.Engine.Gguf;

/// <summary>ggml tensor element types as stored in GGUF (ids from ggml.h of the pinned llama.cpp).</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
    NVFP4 = 40,
    Q1_0 = 41,
    Q2_0 = 42,
}

/// <summary>Block sizes of the ggml types (ggml.c type_traits / gguf-py GGML_QUANT_SIZES).</summary>
public static class GgmlTypes
{
    private const int QkK = 256;

    /// <summary>One past the highest id the pinned ggml knows (GGML_TYPE_COUNT).</summary>
    public const uint Count = 43;

    /// <summary>Elements per block and bytes per block; false for ids ggml does not know (or removed ones).</summary>
    public static bool TryGetTraits(GgmlType type, out int blockSize, out int typeSize)
    {
        (blockSize, typeSize) = type switch
        {
            GgmlType.F32 => (1, 4),
            GgmlType.F16 => (1, 2),
            GgmlType.Q4_0 => (32, 2 + 16),
            GgmlType.Q4_1 => (32, 2 + 2 + 16),
            GgmlType.Q5_0 => (32, 2 + 4 + 16),
            GgmlType.Q5_1 => (32, 2 + 2 + 4 + 16),
            GgmlType.Q8_0 => (32, 2 + 32),
            GgmlType.Q8_1 => (32, 2 + 2 + 32),
            GgmlType.Q2_K => (QkK, 2 + 2 + (QkK / 16) + (QkK / 4)),
            GgmlType.Q3_K => (QkK, 2 + (QkK / 4) + (QkK / 8) + 12),
            GgmlType.Q4_K => (QkK, 2 + 2 + (QkK / 2) + 12),
            GgmlType.Q5_K => (QkK, 2 + 2 + (QkK / 2) + (QkK / 8) + 12),
            GgmlType.Q6_K => (QkK, 2 + (QkK / 2) + (QkK / 4) + (QkK / 16)),
            GgmlType.Q8_K => (QkK, 4 + QkK + (QkK / 8)),
            GgmlType.IQ2_XXS => (QkK, 2 + (QkK / 4)),
            GgmlType.IQ2_XS => (QkK, 2 + (QkK / 4) + (QkK / 32)),
            GgmlType.IQ3_XXS => (QkK, 2 + (QkK / 4) + (QkK / 8)),
            GgmlType.IQ1_S => (QkK, 2 + (QkK / 8) + (QkK / 16)),
            GgmlType.IQ4_NL => (32, 2 + 16),
            GgmlType.IQ3_S => (QkK, 2 + (QkK / 4) + (QkK / 8) + (QkK / 32) + 4),
            GgmlType.IQ2_S => (QkK, 2 + (QkK / 4) + (QkK / 16)),
            GgmlType.IQ4_XS => (QkK, 2 + 2 + (QkK / 2) + (QkK / 64)),
            GgmlType.I8 => (1, 1),
            GgmlType.I16 => (1, 2),
            GgmlType.I32 => (1, 4),
            GgmlType.I64 => (1, 8),
            GgmlType.F64 => (1, 8),
            GgmlType.IQ1_M => (QkK, (QkK / 8) + (QkK / 16) + (QkK / 32)),
            GgmlType.BF16 => (1, 2),
            GgmlType.TQ1_0 => (QkK, 2 + (4 * 13)),
            GgmlType.TQ2_0 => (QkK, 2 + 64),
            GgmlType.MXFP4 => (32, 1 + 16),
            GgmlType.NVFP4 => (64, 4 + 32),
            GgmlType.Q1_0 => (128, 2 + 16),
            GgmlType.Q2_0 => (64, 2 + 16),
            _ => (0, 0),
        };
        return blockSize != 0;
    }

    public static bool IsKnown(GgmlType type) => TryGetTraits(type, out _, out _);

    /// <summary>
    /// Types llama.cpp stores weights in. Q8_1/Q8_K are activation-only formats and the integer/F64 types have no
    /// matmul kernels, so a weight matrix in one of them would fail (or abort) at graph time.
    /// </summary>
    public static bool IsWeightType(GgmlType type) =>
        IsKnown(type) && type is not (GgmlType.Q8_1 or GgmlType.Q8_K or GgmlType.I8 or GgmlType.I16
            or GgmlType.I32 or GgmlType.I64 or GgmlType.F64);

    /// <summary>ggml's lower-case name ("f32", "q4_K", ...), or "type#N" for unknown ids.</summary>
    public static string Name(GgmlType type) => type switch
    {
        GgmlType.Q2_K => "q2_K",
        GgmlType.Q3_K => "q3_K",
        GgmlType.Q4_K => "q4_K",
        GgmlType.Q5_K => "q5_K",
        GgmlType.Q6_K => "q6_K",
        GgmlType.Q8_K => "q8_K",
        _ when IsKnown(type) => type.ToString().ToLowerInvariant(),
        _ => FormattableString.Invariant($"type#{(uint)type}"),
    };

    /// <summary>Bytes needed for a tensor of <paramref name="elements"/> elements whose rows hold <paramref name="rowLength"/>.</summary>
    /// <returns>-1 when the type is unknown, the row is not a whole number of blocks, or the size overflows.</returns>
    public static long ByteSize(GgmlType type, long elements, long rowLength)
    {
        if (!TryGetTraits(type, out var block, out var size) || elements < 0 || rowLength < 0 || rowLength % block != 0)
        {
            return -1;
        }

        var blocks = elements / block;
        return blocks > long.MaxValue / size ? -1 : blocks * size;
    }
}
