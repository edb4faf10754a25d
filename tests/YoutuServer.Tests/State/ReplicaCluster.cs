using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;
using YoutuServer.Tests.Load;

namespace YoutuServer.Tests.State;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ReplicaClusterCollection
{
    /// <summary>The multi-process tests run one cluster at a time (each is two or three servers and a store).</summary>
    public const string Name = "replica clusters";
}

/// <summary>
/// Real parts only: Garnet (a Redis-protocol server, in this process), N `youtu-server serve` processes sharing it
/// (--state-store, one --reasoning-key, two API keys) and YARP in this process in front of them, round robin, so
/// consecutive requests alternate between replicas. Every response names its replica (x-youtu-replica). Waits are on
/// events: a process is ready when /health/ready says so, the store is back when /health/ready reports it up.
/// </summary>
public sealed class ReplicaCluster : IAsyncDisposable
{
    public const string KeyA = "sk-tenant-a-0123456789";
    public const string KeyB = "sk-tenant-b-0123456789";
    public const string Model = "tiny-youtu";
    public const string ReplicaHeader = "x-youtu-replica";

    private static readonly string SealKey = Convert.ToHexStringLower(SHA256.HashData("replica-proof-seal"u8));
    private readonly Dictionary<string, ServerProcess> replicas = new(StringComparer.Ordinal);
    private readonly Lock gate = new();
    private WebApplication? proxy;

    private readonly bool sharedStore;

    private ReplicaCluster(GarnetProcess garnet, bool sharedStore)
    {
        Garnet = garnet;
        this.sharedStore = sharedStore;
    }

    public GarnetProcess Garnet { get; }

    /// <summary>The proxy's address: every request through it goes to the next replica in turn.</summary>
    public HttpClient Proxy { get; private set; } = null!;

    public IReadOnlyDictionary<string, ServerProcess> Replicas
    {
        get
        {
            lock (gate)
            {
                return new Dictionary<string, ServerProcess>(replicas, StringComparer.Ordinal);
            }
        }
    }

    public static Task<ReplicaCluster> StartAsync(params string[] names) => StartAsync(sharedStore: true, names);

    /// <summary>The replicas on the shared store, or (<paramref name="sharedStore"/> false) each with its own
    /// <c>--state-store memory</c>, as a baseline (Garnet still runs, unused).</summary>
    public static async Task<ReplicaCluster> StartAsync(bool sharedStore, params string[] names)
    {
        var cluster = new ReplicaCluster(GarnetProcess.Start(), sharedStore);
        try
        {
            await Task.WhenAll(names.Select(n => cluster.StartReplicaAsync(n, ServerProcess.FreePort())));
            await cluster.StartProxyAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts (or restarts, on <paramref name="port"/>) the replica <paramref name="name"/> and routes to it.</summary>
    public async Task<ServerProcess> StartReplicaAsync(string name, int port)
    {
        var server = await ServerProcess.StartOnAsync(port,
            "--state-store", sharedStore ? Garnet.StateStore : "memory", "--reasoning-key", SealKey, "--replica-id", name,
            "--api-key", KeyA, "--api-key", KeyB, "--seed", "7", "--parallel", "2", "--ctx-size", "2048", "--threads", "1");
        lock (gate)
        {
            replicas[name] = server;
        }

        UpdateRoutes();
        return server;
    }

    /// <summary>Kills a replica's process (SIGKILL: nothing is flushed) and takes it out of the rotation.</summary>
    public async Task<int> KillReplicaAsync(string name)
    {
        ServerProcess server;
        lock (gate)
        {
            server = replicas[name];
            replicas.Remove(name);
        }

        UpdateRoutes();
        var port = server.Port;
        await server.DisposeAsync();
        return port;
    }

    /// <summary>A client of one replica directly (no proxy), with tenant A's key.</summary>
    public HttpClient Direct(string name)
    {
        var c = new HttpClient { BaseAddress = Replicas[name].BaseAddress, Timeout = TimeSpan.FromMinutes(3) };
        c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", KeyA);
        return c;
    }

    /// <summary>Sends through the proxy with tenant <paramref name="key"/>; the body (or null) and the replica that answered.</summary>
    public async Task<Reply> SendAsync(HttpMethod method, string path, string? json = null, string key = KeyA, HttpClient? via = null)
    {
        using var req = new HttpRequestMessage(method, path);
        req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        req.Headers.Add("anthropic-version", "2023-06-01");
        if (json is not null)
        {
            req.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        using var res = await (via ?? Proxy).SendAsync(req);
        var text = await res.Content.ReadAsStringAsync();
        var replica = res.Headers.TryGetValues(ReplicaHeader, out var v) ? v.Single() : null;
        var retryAfter = res.Headers.RetryAfter?.Delta;
        var warning = res.Headers.TryGetValues("Warning", out var w) ? string.Join(";", w) : null;
        return new Reply(res.StatusCode, text, replica, retryAfter, warning);
    }

    /// <summary>Until every replica's /health/ready reports the store as <paramref name="up"/> (each answer is the event).</summary>
    public async Task WaitStoreAsync(bool up)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        foreach (var (name, server) in Replicas)
        {
            while (true)
            {
                cts.Token.ThrowIfCancellationRequested();
                using var res = await server.Client.GetAsync("/health/ready", cts.Token);
                var node = JsonNode.Parse(await res.Content.ReadAsStringAsync(cts.Token));
                if (res.StatusCode == HttpStatusCode.OK && node?["state_store"]?["up"]?.GetValue<bool>() == up)
                {
                    break;
                }

                // The multiplexer retries with backoff; ask again after a short pause (the answer, not the pause, decides).
                await Task.Delay(100, cts.Token);
            }

            _ = name;
        }
    }

    private async Task StartProxyAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddReverseProxy().LoadFromMemory(Routes(), Clusters());
        proxy = builder.Build();
        proxy.MapReverseProxy();
        await proxy.StartAsync();
        var address = proxy.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Proxy = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromMinutes(3) };
    }

    private void UpdateRoutes() => proxy?.Services.GetRequiredService<InMemoryConfigProvider>().Update(Routes(), Clusters());

    private static RouteConfig[] Routes() =>
        [new RouteConfig { RouteId = "all", ClusterId = "replicas", Match = new RouteMatch { Path = "{**catch-all}" } }];

    private ClusterConfig[] Clusters() =>
    [
        new ClusterConfig
        {
            ClusterId = "replicas",
            LoadBalancingPolicy = Yarp.ReverseProxy.LoadBalancing.LoadBalancingPolicies.RoundRobin,
            // A turn on a loaded CI machine may take longer than YARP's default 100 s of silence.
            HttpRequest = new Yarp.ReverseProxy.Forwarder.ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromMinutes(5) },
            Destinations = Replicas.OrderBy(r => r.Key, StringComparer.Ordinal)
                .ToDictionary(r => r.Key, r => new DestinationConfig { Address = r.Value.BaseAddress.ToString() }, StringComparer.Ordinal),
        },
    ];

    public async ValueTask DisposeAsync()
    {
        Proxy?.Dispose();
        if (proxy is not null)
        {
            await proxy.StopAsync();
            await proxy.DisposeAsync();
        }

        foreach (var server in Replicas.Values)
        {
            await server.DisposeAsync();
        }

        await Garnet.DisposeAsync();
    }
}

/// <summary>One answer: status, body, the replica that gave it, Retry-After and Warning headers.</summary>
public sealed record Reply(HttpStatusCode Status, string Text, string? Replica, TimeSpan? RetryAfter, string? Warning)
{
    public JsonNode Json => JsonNode.Parse(Text)!;

    public Reply Ok()
    {
        Assert.True(Status == HttpStatusCode.OK, $"{(int)Status} from {Replica}: {Text}");
        return this;
    }
}
