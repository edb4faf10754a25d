using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace YoutuServer.Tests.Operations;

/// <summary>How the server answers one request (requests are numbered from 0).</summary>
public sealed record ServeBehavior
{
    public int Status { get; init; } = 200;
    public bool HonorRange { get; init; } = true;
    /// <summary>Abort the connection after this many body bytes of this response.</summary>
    public long? CutAfter { get; init; }
    /// <summary>Throw from the handler (a server error mid-way) instead of a plain abort, after <see cref="CutAfter"/>.</summary>
    public bool ThrowAtCut { get; init; }
    /// <summary>Stop sending (but keep the connection open) after <see cref="CutAfter"/> bytes.</summary>
    public bool StallAtCut { get; init; }
    public string ETag { get; init; } = "\"v1\"";
}

public sealed record SeenRequest(string? Range, string? IfRange);

/// <summary>
/// A real HTTP server on 127.0.0.1:0 (Kestrel) serving one synthesized file at /model.gguf with Range support and
/// scripted failures, so the downloader is tested over real sockets.
/// </summary>
public sealed class LoopbackFileServer : IAsyncDisposable
{
    private readonly WebApplication app;
    private int count;

    private LoopbackFileServer(WebApplication app, byte[] content)
    {
        this.app = app;
        Content = content;
        Sha256 = Convert.ToHexStringLower(SHA256.HashData(content));
    }

    public byte[] Content { get; }
    public string Sha256 { get; }
    public Uri Url { get; private set; } = null!;
    public ConcurrentQueue<SeenRequest> Requests { get; } = new();
    public Func<int, ServeBehavior> Behavior { get; set; } = _ => new ServeBehavior();

    public static async Task<LoopbackFileServer> StartAsync(int size = 3 * 1024 * 1024 + 12345, int seed = 42)
    {
        var content = new byte[size];
        new Random(seed).NextBytes(content);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var server = new LoopbackFileServer(app, content);
        app.MapGet("/model.gguf", server.ServeAsync);
        await app.StartAsync();
        server.Url = new Uri(app.Urls.First().Replace("[::]", "127.0.0.1", StringComparison.Ordinal) + "/model.gguf");
        return server;
    }

    /// <summary>A loopback port with nothing listening: connecting to it is refused at once.</summary>
    public static int ClosedPort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    private async Task ServeAsync(HttpContext ctx)
    {
        var n = Interlocked.Increment(ref count) - 1;
        var range = ctx.Request.Headers.Range.ToString();
        var ifRange = ctx.Request.Headers.IfRange.ToString();
        Requests.Enqueue(new SeenRequest(range.Length > 0 ? range : null, ifRange.Length > 0 ? ifRange : null));
        var b = Behavior(n);
        if (b.Status != 200)
        {
            ctx.Response.StatusCode = b.Status;
            await ctx.Response.WriteAsync("simulated failure");
            return;
        }

        ctx.Response.Headers.ETag = b.ETag;
        ctx.Response.Headers.AcceptRanges = "bytes";
        long start = 0;
        if (b.HonorRange && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-') &&
            long.TryParse(range.AsSpan(6, range.Length - 7), out var from) && (ifRange.Length == 0 || ifRange == b.ETag))
        {
            if (from >= Content.Length)
            {
                ctx.Response.StatusCode = StatusCodes.Status416RangeNotSatisfiable;
                ctx.Response.Headers.ContentRange = $"bytes */{Content.Length}";
                return;
            }

            start = from;
            ctx.Response.StatusCode = StatusCodes.Status206PartialContent;
            ctx.Response.Headers.ContentRange = $"bytes {start}-{Content.Length - 1}/{Content.Length}";
        }

        ctx.Response.ContentLength = Content.Length - start;
        ctx.Response.ContentType = "application/octet-stream";
        var sent = 0L;
        const int chunk = 64 * 1024;
        for (var pos = start; pos < Content.Length; pos += chunk)
        {
            var len = (int)Math.Min(chunk, Content.Length - pos);
            if (b.CutAfter is { } cut && sent + len > cut)
            {
                len = (int)(cut - sent);
                await ctx.Response.Body.WriteAsync(Content.AsMemory((int)pos, len));
                await ctx.Response.Body.FlushAsync();
                if (b.StallAtCut)
                {
                    await Task.Delay(TimeSpan.FromSeconds(30), ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                    return;
                }

                if (b.ThrowAtCut)
                {
                    throw new InvalidOperationException("simulated server error mid-way");
                }

                ctx.Abort();
                return;
            }

            await ctx.Response.Body.WriteAsync(Content.AsMemory((int)pos, len));
            sent += len;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
