using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Api;

/// <summary>The real server with the real engine on the tiny synthesized model, in process.</summary>
public sealed class ServerFixture : WebApplicationFactory<Program>
{
    public const string ModelId = "tiny-youtu";

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("Youtu:Model", TinyModelFiles.Get(seed: 42));
        builder.UseSetting("Youtu:ModelAlias", ModelId);
        builder.UseSetting("Youtu:Parallel", "4");
        builder.UseSetting("Youtu:CtxSize", "4096");
        builder.UseSetting("Youtu:Threads", "2");
        builder.UseSetting("Youtu:QueueSize", "16");
    }
}

[CollectionDefinition("server")]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>;
