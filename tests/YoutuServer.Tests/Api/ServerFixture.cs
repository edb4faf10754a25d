using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using YoutuServer.Hosting;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Api;

/// <summary>The real server with the real engine on the tiny synthesized model, in process.</summary>
/// <remarks>
/// Shared by every test of the "server" collection, so nothing a test sees may depend on the tests before it: each
/// client a test creates finds a cold engine (<see cref="ColdEngine"/>), and requests without a seed use a fixed one.
/// </remarks>
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
        builder.UseSetting("Youtu:Seed", ColdEngine.Seed);
    }

    protected override void ConfigureClient(HttpClient client)
    {
        base.ConfigureClient(client);
        TestTimeouts.Apply(client);
        ColdEngine.Reset(Services);
    }
}

[CollectionDefinition("server")]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>;

/// <summary>
/// Returns a shared in-process server's engine to its state after start: waits until no request runs, then drops
/// every prefix cache and KV cell (so cached_tokens, cell placement and hence the logits of a request are what they
/// would be in a fresh server). Fixtures call it whenever a test creates a client.
/// </summary>
internal static class ColdEngine
{
    /// <summary>Server seed for requests without one, so no outcome depends on a random draw.</summary>
    public const string Seed = "20251204";

    public static void Reset(IServiceProvider services)
    {
        var host = services.GetRequiredService<EngineHost>();
        if (!host.IsReady)
        {
            return;
        }

        // Generous: only a request another test left running (a bug there) can make this wait at all.
        if (!host.Engine.ClearPrefixCacheAsync().Wait(TestTimeouts.Seconds(180)))
        {
            throw new TimeoutException("the shared engine is still busy with an earlier test's requests");
        }
    }
}
