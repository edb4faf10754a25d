using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Api.Responses;

/// <summary>
/// The real server on Kestrel (a loopback port, so real WebSocket clients connect) with an API key and small
/// WebSocket limits: 2 connections, 64 KiB messages.
/// </summary>
public class ResponsesWebSocketFixture : WebApplicationFactory<Program>
{
    public const string ModelId = "tiny-youtu-ws";
    public const string Key = "sk-test-websocket-0123456789";
    public const int MaxConnections = 2;
    public const int MaxMessageBytes = 64 * 1024;

    public ResponsesWebSocketFixture()
    {
        UseKestrel();
        StartServer();
    }

    /// <summary>Seconds without a client message before an idle connection is closed.</summary>
    protected virtual string IdleTimeoutSeconds => "600";

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("urls", "http://127.0.0.1:0");
        builder.UseSetting("Youtu:Model", TinyModelFiles.Get(seed: 42));
        builder.UseSetting("Youtu:ModelAlias", ModelId);
        builder.UseSetting("Youtu:Parallel", "2");
        builder.UseSetting("Youtu:CtxSize", "4096");
        builder.UseSetting("Youtu:Threads", "2");
        builder.UseSetting("Youtu:Seed", ColdEngine.Seed);
        builder.UseSetting("Youtu:ApiKeys:0", Key);
        builder.UseSetting("Youtu:WsMaxConnections", MaxConnections.ToString(System.Globalization.CultureInfo.InvariantCulture));
        builder.UseSetting("Youtu:WsMaxMessageBytes", MaxMessageBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        builder.UseSetting("Youtu:WsIdleTimeoutSeconds", IdleTimeoutSeconds);
    }

    /// <summary>ws://127.0.0.1:PORT/v1/responses</summary>
    public Uri SocketUri => new UriBuilder(ClientOptions.BaseAddress) { Scheme = "ws", Path = "/v1/responses" }.Uri;

    public async Task<ClientWebSocket> ConnectAsync(string? key = Key)
    {
        var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        if (key is not null)
        {
            ws.Options.SetRequestHeader("Authorization", "Bearer " + key);
        }

        await ws.ConnectAsync(SocketUri, CancellationToken.None);
        return ws;
    }
}

/// <summary>The same server with a 0.3 s idle timeout.</summary>
public sealed class IdleWebSocketFixture : ResponsesWebSocketFixture
{
    protected override string IdleTimeoutSeconds => "0.3";
}

/// <summary>Frames on a Responses WebSocket: sending client events, reading server events.</summary>
internal static class WsFrames
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    public static Task SendAsync(WebSocket ws, string json) =>
        ws.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>The next message as JSON, or null when the server closed the connection.</summary>
    public static async Task<JsonNode?> ReceiveAsync(WebSocket ws)
    {
        using var cts = new CancellationTokenSource(Patience);
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var r = await ws.ReceiveAsync(buffer, cts.Token);
            if (r.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }

            message.Write(buffer, 0, r.Count);
            if (r.EndOfMessage)
            {
                return JsonNode.Parse(message.ToArray());
            }
        }
    }

    /// <summary>The events of one response, up to and including its terminal event (or a request-level error).</summary>
    public static async Task<List<JsonNode>> TurnAsync(WebSocket ws, string createJson)
    {
        await SendAsync(ws, createJson);
        var events = new List<JsonNode>();
        while (true)
        {
            var e = await ReceiveAsync(ws) ?? throw new InvalidOperationException("closed mid-response after " + events.Count + " events");
            events.Add(e);
            var type = (string)e["type"]!;
            if (type is "response.completed" or "response.incomplete" or "response.failed" || (type == "error" && e["status"] is not null))
            {
                return events;
            }
        }
    }

    public static JsonNode Terminal(List<JsonNode> events) => events[^1]["response"] ?? throw new InvalidOperationException(events[^1].ToJsonString());
}
