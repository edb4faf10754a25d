using System.Runtime.InteropServices;

namespace YoutuServer.Native;

// Blittable mirrors of include/llama.h at the pinned release (llama.cpp 0.5.0-dev, bundle commit de3ff81).
// Field order and widths are copied from that header; C `bool` is one byte (C# bool under DisableRuntimeMarshalling).
// Sizes are asserted in tests (80 / 160 / 56 bytes) so a header change cannot slip through silently.

[StructLayout(LayoutKind.Sequential)]
public unsafe struct LlamaModelParams
{
    public nint Devices;
    public nint TensorBuftOverrides;
    public int NGpuLayers;
    public int SplitMode;
    public int LoadMode;
    public int LazyMode;
    public int MainGpu;
    public float* TensorSplit;
    public nint ProgressCallback;
    public nint ProgressCallbackUserData;
    public nint KvOverrides;
    public bool VocabOnly;
    public bool CheckTensors;
    public bool UseExtraBufts;
    public bool NoHost;
    public bool NoAlloc;
    public bool LoadMtp;
}

[StructLayout(LayoutKind.Sequential)]
public struct LlamaContextParams
{
    public uint NCtx;
    public uint NBatch;
    public uint NUbatch;
    public uint NSeqMax;
    public uint NRsSeq;
    public uint NOutputsMax;
    public uint NOutputsMaxPerSeq;
    public int NThreads;
    public int NThreadsBatch;
    public int CtxType;
    public int RopeScalingType;
    public int PoolingType;
    public int AttentionType;
    public int FlashAttnType;
    public float RopeFreqBase;
    public float RopeFreqScale;
    public float YarnExtFactor;
    public float YarnAttnFactor;
    public float YarnBetaFast;
    public float YarnBetaSlow;
    public uint YarnOrigCtx;
    public float DefragThold;
    public nint CbEval;
    public nint CbEvalUserData;
    public int TypeK;
    public int TypeV;
    public nint AbortCallback;
    public nint AbortCallbackData;
    public bool Embeddings;
    public bool OffloadKqv;
    public bool NoPerf;
    public bool OpOffload;
    public bool SwaFull;
    public bool KvUnified;
    public nint Samplers;
    public nuint NSamplers;
    public nint CtxOther;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct LlamaBatch
{
    public int NTokens;
    public int* Token;
    public float* Embd;
    public int* Pos;
    public int* NSeqId;
    public int** SeqId;
    public sbyte* Logits;
}

[StructLayout(LayoutKind.Sequential)]
public struct LlamaSamplerChainParams
{
    public bool NoPerf;
}

[StructLayout(LayoutKind.Sequential)]
public struct LlamaTokenData
{
    public int Id;
    public float Logit;
    public float P;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct LlamaTokenDataArray
{
    public LlamaTokenData* Data;
    public nuint Size;
    public long Selected;
    public bool Sorted;
}

[StructLayout(LayoutKind.Sequential)]
public struct LlamaLogitBias
{
    public int Token;
    public float Bias;
}

[StructLayout(LayoutKind.Sequential)]
public struct LlamaChatMessage
{
    public nint Role;
    public nint Content;
}

[StructLayout(LayoutKind.Sequential)]
public struct LlamaModelQuantizeParams
{
    public int NThread;
    public int FType;
    public int OutputTensorType;
    public int TokenEmbeddingType;
    public bool AllowRequantize;
    public bool QuantizeOutputTensor;
    public bool OnlyCopy;
    public bool Pure;
    public bool KeepSplit;
    public bool DryRun;
    public nint Imatrix;
    public nint KvOverrides;
    public nint TtOverrides;
    public nint PruneLayers;
    public nuint MaxBufSize;
}

[StructLayout(LayoutKind.Sequential)]
public struct LlamaPerfContextData
{
    public double TStartMs;
    public double TLoadMs;
    public double TPEvalMs;
    public double TEvalMs;
    public int NPEval;
    public int NEval;
    public int NReused;
}

/// <summary>Values of the C enums we set (llama.h / ggml.h at the pinned release).</summary>
public static class LlamaConstants
{
    public const int LoadModeAuto = -1;
    public const int LoadModeNone = 0;
    public const int LoadModeMmap = 1;

    public const int FlashAttnAuto = -1;
    public const int FlashAttnDisabled = 0;
    public const int FlashAttnEnabled = 1;

    /// <summary>llama_state_seq_flags: the whole sequence (all its KV cells), in host memory.</summary>
    public const uint StateSeqFlagsNone = 0;

    public const int FTypeAllF32 = 0;
    public const int FTypeMostlyF16 = 1;
    public const int FTypeMostlyQ8_0 = 7;
    public const int FTypeMostlyQ4_K_M = 15;

    public const int VocabTypeBpe = 2;

    public const int TokenAttrUnknown = 1 << 0;
    public const int TokenAttrControl = 1 << 3;
    public const int TokenAttrUserDefined = 1 << 4;
}
