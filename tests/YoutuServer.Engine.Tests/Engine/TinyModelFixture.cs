using YoutuServer.Engine.Synthesis;

namespace YoutuServer.Engine.Tests.Engine;

/// <summary>Synthesizes the tiny Youtu-shaped model once per test run.</summary>
public static class TinyModel
{
    private static readonly Lazy<string> PathLazy = new(() =>
    {
        var dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "youtu-tests");
        Directory.CreateDirectory(dir);
        var path = System.IO.Path.Combine(dir, $"tiny-{Environment.ProcessId}.gguf");
        YoutuSynthesizer.Synthesize(new SynthOptions { Preset = SynthPreset.Tiny, OutPath = path, Seed = 42 });
        return path;
    });

    public static string Path => PathLazy.Value;

    public static EngineOptions Options(int parallel = 4, int ctx = 2048) => new()
    {
        ModelPath = Path,
        Parallel = parallel,
        CtxSize = ctx,
        Threads = 2,
    };
}
