using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Operations;

/// <summary>The operations tests' tiny model (seed 7).</summary>
internal static class OpsTinyModel
{
    public static string File => TinyModelFiles.Get(seed: 7);
}
