using System.Collections.Concurrent;
using YoutuServer.Engine.Synthesis;
using YoutuServer.Engine.Tests.Engine;

namespace YoutuServer.Engine.Tests.Lora;

/// <summary>Random LoRA adapters for the tiny model (synth --lora-for), written once per test process and seed.</summary>
public static class LoraFiles
{
    private static readonly ConcurrentDictionary<(int Seed, int Rank), Lazy<string>> Files = new();

    public static string Get(int seed, int rank = 8) => Files.GetOrAdd((seed, rank), k => new Lazy<string>(() =>
    {
        var dir = Path.Combine(Path.GetTempPath(), "youtu-tests");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, $"tiny-lora-{k.Seed}-r{k.Rank}-{Environment.ProcessId}.gguf");
        LoraSynthesizer.Synthesize(TinyModel.Path, path, k.Rank, seed: (ulong)k.Seed);
        return path;
    })).Value;

    public static EngineOptions Options(int parallel, params LoraAdapterOptions[] adapters) =>
        TinyModel.Options(parallel) with { Adapters = adapters };
}
