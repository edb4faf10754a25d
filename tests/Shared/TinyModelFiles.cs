using System.Collections.Concurrent;
using YoutuServer.Engine.Synthesis;

namespace YoutuServer.TestSupport;

/// <summary>
/// The tiny synthesized Youtu-shaped model (random weights), written once per test process and seed. Tests steer it
/// with seeds, grammars and logit bias, so a test keeps the seed its expectations were made with.
/// Linked into both test projects (tests/Shared).
/// </summary>
internal static class TinyModelFiles
{
    private static readonly ConcurrentDictionary<int, Lazy<string>> Files = new();

    public static string Get(int seed = 42) => Files.GetOrAdd(seed, s => new Lazy<string>(() => Write(s))).Value;

    private static string Write(int seed)
    {
        var dir = Path.Combine(Path.GetTempPath(), "youtu-tests");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, $"tiny-{seed}-{Environment.ProcessId}.gguf");
        YoutuSynthesizer.Synthesize(new SynthOptions { Preset = SynthPreset.Tiny, OutPath = path, Seed = (ulong)seed });
        return path;
    }
}
