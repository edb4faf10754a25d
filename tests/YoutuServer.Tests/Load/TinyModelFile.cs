using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Load;

/// <summary>The load, fault and fuzz tests' tiny model (seed 42, the same file as the API tests').</summary>
public static class TinyModelFile
{
    public static string Path => TinyModelFiles.Get(seed: 42);
}
