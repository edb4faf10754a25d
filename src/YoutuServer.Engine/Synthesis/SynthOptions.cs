using YoutuServer.Engine.Gguf;

namespace YoutuServer.Engine.Synthesis;

public enum SynthPreset
{
    /// <summary>A ~0.1 M-parameter model with its own small tokenizer: loads in milliseconds, for tests.</summary>
    Tiny,

    /// <summary>The full Youtu-LLM-2B shape (1,961,560,064 parameters) with the Llama-3 vocabulary.</summary>
    TwoB,
}

/// <summary>Storage type of the weight matrices (norm weights are always F32).</summary>
public enum SynthDType
{
    F32,
    F16,
}

public sealed record SynthOptions
{
    public SynthPreset Preset { get; init; } = SynthPreset.Tiny;

    /// <summary>Where to write the model (required by <see cref="YoutuSynthesizer.Synthesize"/>, ignored by planning).</summary>
    public string OutPath { get; init; } = string.Empty;

    /// <summary>Same seed (and options) ⇒ byte-identical file.</summary>
    public ulong Seed { get; init; } = 42;

    public SynthDType DType { get; init; } = SynthDType.F32;

    /// <summary>The Llama-3 vocabulary GGUF for <see cref="SynthPreset.TwoB"/>; null searches the usual places.</summary>
    public string? VocabPath { get; init; }
}

/// <summary>Everything about a synthetic model except its tensor bytes (the "dry" mode).</summary>
public sealed class SynthPlan
{
    internal SynthPlan(SynthOptions options, Deepseek2HyperParameters hp, SynthVocabulary vocabulary, GgufWriter writer)
    {
        Options = options;
        HyperParameters = hp;
        Vocabulary = vocabulary;
        Writer = writer;
        Tensors = writer.Tensors;
    }

    public SynthOptions Options { get; }

    public Deepseek2HyperParameters HyperParameters { get; }

    public SynthVocabulary Vocabulary { get; }

    /// <summary>The tensor table exactly as it will be written.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    public long ParameterCount => Writer.ParameterCount;

    public int KeyValueCount => Writer.KeyValueCount;

    /// <summary>Exact size of the file <see cref="YoutuSynthesizer.Synthesize"/> will write.</summary>
    public long FileLength => Writer.FileLength;

    public IReadOnlyDictionary<string, int> SpecialTokenIds => Vocabulary.SpecialTokenIds;

    internal GgufWriter Writer { get; }

    /// <summary>Writes only the header, metadata and tensor table (no tensor data).</summary>
    public void WriteHeader(Stream output) => Writer.WriteHeader(output);
}

/// <summary>What <see cref="YoutuSynthesizer.Synthesize"/> wrote.</summary>
public sealed record SynthResult(
    string Path,
    long FileLength,
    long ParameterCount,
    int TensorCount,
    int KeyValueCount,
    Deepseek2HyperParameters HyperParameters,
    IReadOnlyDictionary<string, int> SpecialTokenIds,
    TimeSpan Elapsed);
