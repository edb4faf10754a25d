using YoutuServer.Native;

namespace YoutuServer.Engine;

/// <summary>Which llama.cpp build the engine loads.</summary>
public enum LlamaBackend
{
    /// <summary>CUDA build when its files are present in the library folder, else CPU.</summary>
    Auto,
    Cpu,
    Cuda,
}

/// <summary>Where and how the engine loads llama.cpp (the host names these, never the binding's own types).</summary>
public sealed record LlamaLibraryOptions
{
    /// <summary>Folder holding the .so files; default: <c>llama/</c> beside the executable, then native/linux-x64 of the repo.</summary>
    public string? Directory { get; init; }

    public LlamaBackend Backend { get; init; } = LlamaBackend.Auto;

    /// <summary>Load one CPU backend variant (e.g. "haswell", "icelake") instead of the best-scoring one.</summary>
    public string? CpuVariant { get; init; }

    internal NativeOptions ToNative() => new()
    {
        LibraryDirectory = Directory,
        CpuVariant = CpuVariant,
        Flavour = Backend switch
        {
            LlamaBackend.Cpu => NativeFlavour.Cpu,
            LlamaBackend.Cuda => NativeFlavour.Cuda,
            _ => NativeFlavour.Auto,
        },
    };
}

/// <summary>The loaded llama.cpp as the host may see it: its pinned release and the backends it registered.</summary>
public static class LlamaRuntime
{
    /// <summary>The llama.cpp release this binding is pinned to.</summary>
    public static string PinnedVersion => LlamaNativeLibrary.PinnedVersion;

    /// <summary>The backends registered by the loaded library (empty before the first load).</summary>
    public static IReadOnlyList<string> Backends => LlamaNativeLibrary.Backends;

    /// <summary>Loads llama.cpp once per process; a library that cannot load becomes a <see cref="ModelLoadException"/>.</summary>
    internal static void Initialize(LlamaLibraryOptions? options)
    {
        try
        {
            LlamaNativeLibrary.Initialize(options?.ToNative());
        }
        catch (NativeLibraryException e)
        {
            throw new ModelLoadException(e.Message, e);
        }
    }
}

/// <summary>The llama.cpp file types <see cref="Model.LlamaModel.Quantize"/> writes (llama_ftype values).</summary>
public static class QuantFileType
{
    public const int MostlyQ8_0 = LlamaConstants.FTypeMostlyQ8_0;
    public const int MostlyQ4_K_M = LlamaConstants.FTypeMostlyQ4_K_M;
}
