using YoutuServer.Engine.Synthesis;

namespace YoutuServer.Tests.Operations;

/// <summary>The tiny synthesized Youtu-shaped model, written once per test run for the operations tests.</summary>
internal static class OpsTinyModel
{
    private static readonly Lazy<string> Model = new(() =>
    {
        var dir = Path.Combine(Path.GetTempPath(), "youtu-tests");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, $"ops-tiny-{Environment.ProcessId}.gguf");
        YoutuSynthesizer.Synthesize(new SynthOptions { Preset = SynthPreset.Tiny, OutPath = path, Seed = 7 });
        return path;
    });

    public static string File => Model.Value;
}
