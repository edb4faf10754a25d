using Microsoft.AspNetCore.Hosting;
using YoutuServer.Engine.Synthesis;
using YoutuServer.Tests.Load;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Api;

/// <summary>
/// The server in process on the tiny model with three random LoRA adapters (synth --lora-for) and two sequence slots,
/// so that a third request has to queue: what the inference gateway's protocol metrics are asserted against.
/// </summary>
public sealed class AdapterServerFixture : TinyServerFactory
{
    // Its own alias: the engine gauges of every in-process host share one static meter, keyed by model.
    public const string ModelId = "tiny-youtu-lora";
    public static readonly string[] Adapters = ["sql", "support", "agent"];

    private static readonly Lazy<string[]> Files = new(() =>
    {
        var dir = Path.Combine(Path.GetTempPath(), "youtu-tests");
        Directory.CreateDirectory(dir);
        return [.. Adapters.Select((id, i) =>
            LoraSynthesizer.Synthesize(TinyModelFile.Path, Path.Combine(dir, $"api-lora-{id}-{Environment.ProcessId}.gguf"), rank: 8, seed: (ulong)(i + 1)).Path)];
    });

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        UseTinyModel(builder, TinyModelFile.Path, ModelId, parallel: 2, ctxSize: 1024, threads: 1);
        // A wildcard alias that also matches the adapter "support": the adapter's exact id must win.
        UseList(builder, "ModelAliasMap", "su*=" + ModelId);
        builder.UseSetting("Youtu:QueueSize", "16");
        UseList(builder, "Lora", [.. Adapters.Select((id, i) => $"{id}={Files.Value[i]}")]);
    }
}

[CollectionDefinition("adapter-server")]
public sealed class AdapterServerCollection : ICollectionFixture<AdapterServerFixture>;
