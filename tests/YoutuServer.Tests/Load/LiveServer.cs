using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using System.Text.Json.Nodes;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Cli;
using YoutuServer.Hosting;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Load;

/// <summary>
/// youtu-server built by ServerApp.Build and listening on a real loopback port (Kestrel, not TestServer), so client
/// disconnects are real TCP closes. The engine is reachable in-process for exact stats.
/// </summary>
internal sealed class LiveServer : IAsyncDisposable
{
    private readonly WebApplication app;

    private LiveServer(WebApplication app, Uri baseAddress)
    {
        this.app = app;
        BaseAddress = baseAddress;
        Client = CreateClient(baseAddress);
    }

    public Uri BaseAddress { get; }
    public HttpClient Client { get; }
    public EngineHost Host => app.Services.GetRequiredService<EngineHost>();
    public EngineStats Stats => Host.Engine.Stats;
    public IServiceProvider Services => app.Services;

    /// <summary>Called for every request the server aborts (client gone), with the engine stats at that moment.</summary>
    public Action<HttpContext, EngineStats>? OnAborted { get; set; }

    public static async Task<LiveServer> StartAsync(params string[] options)
    {
        string[] args =
        [
            "--model", TinyModelFile.Path,
            "--urls", "http://127.0.0.1:0",
            "--threads", "1",
            "--alias", "tiny-youtu",
            "--Logging:LogLevel:Default", "Warning",
            .. options,
        ];
        var app = ServerApp.Build(args);
        LiveServer? server = null;
        // Runs before the endpoints (WebApplication appends them at the end of the pipeline).
        app.Use(async (http, next) =>
        {
            http.RequestAborted.Register(() =>
            {
                var s = server;
                if (s?.OnAborted is { } cb && s.Host.IsReady)
                {
                    cb(http, s.Host.Engine.Stats);
                }
            });
            await next(http);
        });
        await app.StartAsync();
        var address = app.Urls.First(u => u.StartsWith("http://", StringComparison.Ordinal));
        server = new LiveServer(app, new Uri(address));
        return server;
    }

    /// <summary>An HttpClient that closes a connection at once when a response is abandoned (no draining).</summary>
    public static HttpClient CreateClient(Uri baseAddress) => new(new SocketsHttpHandler
    {
        MaxResponseDrainSize = 0,
        MaxConnectionsPerServer = 1024,
        UseProxy = false,
    })
    {
        BaseAddress = baseAddress,
        Timeout = TestTimeouts.Request,
    };

    /// <summary>GET /health/ready as the probes see it.</summary>
    public async Task<(HttpStatusCode Status, int ActiveSequences, int QueueDepth)> ReadyAsync()
    {
        using var res = await Client.GetAsync("/health/ready");
        var json = JsonNode.Parse(await res.Content.ReadAsStringAsync());
        return (res.StatusCode, json?["active_sequences"]?.GetValue<int>() ?? -1, json?["queue_depth"]?.GetValue<int>() ?? -1);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
