using YoutuServer.Engine.Synthesis;

namespace YoutuServer.Tests.Load;

/// <summary>The tiny synthesized Youtu-shaped model, written once per test process (load, fault and fuzz tests).</summary>
public static class TinyModelFile
{
    private static readonly Lazy<string> Lazy = new(() =>
    {
        var dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "youtu-tests");
        Directory.CreateDirectory(dir);
        var path = System.IO.Path.Combine(dir, $"load-tiny-{Environment.ProcessId}.gguf");
        YoutuSynthesizer.Synthesize(new SynthOptions { Preset = SynthPreset.Tiny, OutPath = path, Seed = 42 });
        return path;
    });

    public static string Path => Lazy.Value;
}
