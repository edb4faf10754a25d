using System.Text;
using Microsoft.Extensions.Logging;
using YoutuServer.Engine.Gguf;
using YoutuServer.Native;

namespace YoutuServer.Engine.Model;

/// <summary>
/// A LoRA adapter loaded for a model (llama_adapter_lora_init). It lives as long as its model, which frees it;
/// the scheduler applies it to the context for the decode steps of the requests that asked for it.
/// </summary>
public sealed class LoraAdapter
{
    internal LoraAdapter(string id, string path, float scale, int rank, float alpha, int tensorPairs, nint handle)
    {
        Id = id;
        Path = path;
        Scale = scale;
        Rank = rank;
        Alpha = alpha;
        TensorPairs = tensorPairs;
        Handle = handle;
    }

    public string Id { get; }
    public string Path { get; }
    /// <summary>Scale it is applied with (0 = no effect: llama.cpp skips zero-scale adapters).</summary>
    public float Scale { get; }
    public int Rank { get; }
    public float Alpha { get; }
    public int TensorPairs { get; }
    internal nint Handle { get; }
}

public sealed unsafe partial class LlamaModel
{
    /// <summary>
    /// Validates the adapter file against this model's tensor table in managed code (a hostile or mismatched file
    /// is refused with a clear message, never handed to llama.cpp), then loads it. Throws ModelLoadException.
    /// </summary>
    public LoraAdapter LoadAdapter(LoraAdapterOptions options, GgufFile? baseFile = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.Id))
        {
            throw new ModelLoadException("a LoRA adapter needs an id");
        }

        if (!float.IsFinite(options.Scale))
        {
            throw new ModelLoadException($"LoRA adapter '{options.Id}': scale must be a finite number");
        }

        try
        {
            baseFile ??= GgufReader.Read(Path);
        }
        catch (Exception e) when (e is GgufFormatException or IOException)
        {
            throw new ModelLoadException($"LoRA adapter '{options.Id}': cannot read the base model's tensor table: {e.Message}", e);
        }

        var result = LoraValidator.Validate(options.Path, baseFile);
        if (!result.IsValid)
        {
            throw new ModelLoadException($"LoRA adapter '{options.Id}': {result.Message}");
        }

        var bytes = Encoding.UTF8.GetBytes(System.IO.Path.GetFullPath(options.Path) + "\0");
        nint a;
        fixed (byte* b = bytes)
        {
            a = NativeMethods.llama_adapter_lora_init(handle.DangerousGetHandle(), b);
        }

        if (a == 0)
        {
            throw new ModelLoadException($"LoRA adapter '{options.Id}': llama.cpp could not load {options.Path} (see the log for its reason)");
        }

        if (logger is not null)
        {
            LogAdapterLoaded(logger, options.Id, options.Path, result.Rank, result.Alpha, result.TensorPairs, options.Scale);
        }

        return new LoraAdapter(options.Id, options.Path, options.Scale, result.Rank, result.Alpha, result.TensorPairs, a);
    }

    [LoggerMessage(EventId = 2011, Level = LogLevel.Information, Message = "LoRA adapter {Id} loaded from {Path}: rank {Rank}, alpha {Alpha}, {Pairs} tensor pairs, scale {Scale}")]
    private static partial void LogAdapterLoaded(ILogger logger, string id, string path, int rank, float alpha, int pairs, float scale);
}
