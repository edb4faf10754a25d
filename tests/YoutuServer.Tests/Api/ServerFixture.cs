using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using YoutuServer.Engine.Synthesis;

namespace YoutuServer.Tests.Api;

/// <summary>The real server with the real engine on the tiny synthesized model, in process.</summary>
public sealed class ServerFixture : WebApplicationFactory<Program>
{
    private static readonly Lazy<string> Model = new(() =>
    {
        var dir = Path.Combine(Path.GetTempPath(), "youtu-tests");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, $"api-tiny-{Environment.ProcessId}.gguf");
        YoutuSynthesizer.Synthesize(new SynthOptions { Preset = SynthPreset.Tiny, OutPath = path, Seed = 42 });
        return path;
    });

    public const string ModelId = "tiny-youtu";

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("Youtu:Model", Model.Value);
        builder.UseSetting("Youtu:ModelAlias", ModelId);
        builder.UseSetting("Youtu:Parallel", "4");
        builder.UseSetting("Youtu:CtxSize", "4096");
        builder.UseSetting("Youtu:Threads", "2");
        builder.UseSetting("Youtu:QueueSize", "16");
    }
}

[CollectionDefinition("server")]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>;
