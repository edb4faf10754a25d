using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using YoutuServer.Tests.Load;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Fuzz;

/// <summary>The server in process (TestServer) on the tiny model, with short default outputs so valid mutations stay cheap.</summary>
public sealed class FuzzServerFixture : WebApplicationFactory<Program>
{
    // Its own alias: the engine gauges of every in-process host share one static meter, keyed by model.
    public const string ModelId = "tiny-youtu-fuzz";

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("Youtu:Model", TinyModelFile.Path);
        builder.UseSetting("Youtu:ModelAlias", ModelId);
        builder.UseSetting("Youtu:Parallel", "4");
        builder.UseSetting("Youtu:CtxSize", "2048");
        builder.UseSetting("Youtu:Threads", "1");
        builder.UseSetting("Youtu:QueueSize", "256");
        builder.UseSetting("Youtu:DefaultMaxTokens", "8");
        // Most corpus bodies carry no seed: a fixed server seed makes a failing case replayable.
        builder.UseSetting("Youtu:Seed", Api.ColdEngine.Seed);
    }

    protected override void ConfigureClient(HttpClient client)
    {
        base.ConfigureClient(client);
        TestTimeouts.Apply(client);
        Api.ColdEngine.Reset(Services);
    }
}
