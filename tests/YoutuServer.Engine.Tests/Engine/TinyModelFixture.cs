using YoutuServer.TestSupport;

namespace YoutuServer.Engine.Tests.Engine;

/// <summary>Synthesizes the tiny Youtu-shaped model once per test run.</summary>
public static class TinyModel
{
    public static string Path => TinyModelFiles.Get(seed: 42);

    public static EngineOptions Options(int parallel = 4, int ctx = 2048) => new()
    {
        ModelPath = Path,
        Parallel = parallel,
        CtxSize = ctx,
        Threads = 2,
    };
}
