using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using YoutuServer.Hosting;

namespace YoutuServer.Tests.Api.Responses;

/// <summary>The Responses WebSocket mode with raw frames (ClientWebSocket against the server on Kestrel).</summary>
public sealed class ResponsesWebSocketTests(ResponsesWebSocketFixture server, ITestOutputHelper output) : IClassFixture<ResponsesWebSocketFixture>
{
    private const string Model = ResponsesWebSocketFixture.ModelId;

    private static string Create(string input, string? previous = null, bool store = false, int max = 8, string extra = "") =>
        $$"""{"type":"response.create","model":"{{Model}}","store":{{(store ? "true" : "false")}},"max_output_tokens":{{max}},"reasoning":{"effort":"none"},"temperature":0,{{(previous is null ? "" : $"\"previous_response_id\":\"{previous}\",")}}{{extra}}"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"{{input}}"}]}]}""";

    private EngineHost Host => server.Services.GetRequiredService<EngineHost>();

    private YoutuServer.Api.Responses.ResponsesWebSocketConnections Connections =>
        server.Services.GetRequiredService<YoutuServer.Api.Responses.ResponsesWebSocketConnections>();

    [Fact]
    public async Task Three_turns_continue_the_connections_last_response_with_store_false_and_reuse_its_tokens()
    {
        using var ws = await server.ConnectAsync();
        string? previous = null;
        var prompts = new List<int>();
        for (var turn = 1; turn <= 3; turn++)
        {
            var create = Create($"Turn {turn}: say something.", previous, max: 16); // the specification's least max_output_tokens
            OpenResponsesSpec.AssertValid("WebSocketResponseCreateEvent", JsonNode.Parse(create)!, "the client's response.create");
            var events = await WsFrames.TurnAsync(ws, create);
            var types = events.Select(e => (string)e["type"]!).ToList();
            // Every server frame is one of the Open Responses streaming events (the specification's WebSocket mode).
            events.ForEach(OpenResponsesSpec.AssertValidEvent);
            output.WriteLine($"turn {turn}: " + string.Join(" ", types));
            Assert.Equal("response.created", types[0]);
            Assert.Equal("response.in_progress", types[1]);
            Assert.Contains(types[^1], new[] { "response.completed", "response.incomplete" });
            Assert.Equal(Enumerable.Range(0, events.Count), events.Select(e => (int)e["sequence_number"]!));
            var response = WsFrames.Terminal(events);
            Assert.False((bool)response["store"]!);
            Assert.Equal(previous, (string?)response["previous_response_id"]);
            var usage = response["usage"]!;
            output.WriteLine($"  {response["id"]}: input {usage["input_tokens"]} (cached {usage["input_tokens_details"]!["cached_tokens"]}), output {usage["output_tokens"]}");
            if (previous is not null)
            {
                // The earlier turns are in the prompt (it grew), and their start came from the cache.
                Assert.True((int)usage["input_tokens"]! > prompts[^1], usage.ToJsonString());
                Assert.True((int)usage["input_tokens_details"]!["cached_tokens"]! > 2, usage.ToJsonString());
            }

            prompts.Add((int)usage["input_tokens"]!);
            previous = (string)response["id"]!;
            // store:false: nothing in the store, the continuation lives on the connection.
            using var http = server.CreateClient();
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ResponsesWebSocketFixture.Key);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/v1/responses/{previous}")).StatusCode);
            // While the connection is open its session is pinned in the prefix cache (set once the turn's stream ended).
            await WaitUntil(() => Host.Engine.Stats.PrefixCache.Pins == 1);
        }

        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, ws.CloseStatus);
        await WaitUntil(() => Host.Engine.Stats.PrefixCache.Pins == 0);
    }

    [Fact]
    public async Task Refused_requests_get_error_events_and_the_connection_stays_open()
    {
        using var ws = await server.ConnectAsync();
        var unknown = await WsFrames.TurnAsync(ws, Create("Hi", previous: "resp_does_not_exist"));
        var e = Assert.Single(unknown);
        Assert.Equal("error", (string)e["type"]!);
        Assert.Equal(404, (int)e["status"]!);
        Assert.Equal("previous_response_not_found", (string)e["error"]!["code"]!);
        Assert.Equal("previous_response_id", (string)e["error"]!["param"]!);

        var badType = Assert.Single(await WsFrames.TurnAsync(ws, """{"type":"response.cancel"}"""));
        Assert.Equal(400, (int)badType["status"]!);
        Assert.Equal("unsupported_event_type", (string)badType["error"]!["code"]!);

        var notJson = Assert.Single(await WsFrames.TurnAsync(ws, "{not json"));
        Assert.Equal(400, (int)notJson["status"]!);
        Assert.Equal("invalid_json", (string)notJson["error"]!["code"]!);

        var badField = Assert.Single(await WsFrames.TurnAsync(ws, Create("Hi", extra: "\"temperature\":7,")));
        Assert.Equal(400, (int)badField["status"]!);
        Assert.Equal("invalid_request_error", (string)badField["error"]!["type"]!);
        Assert.Equal("invalid_request_error", (string)badField["error"]!["code"]!); // no code of its own: its type

        var lanes = Assert.Single(await WsFrames.TurnAsync(ws, Create("Hi", extra: "\"stream_id\":\"a\",")));
        Assert.Equal("stream_id", (string)lanes["error"]!["param"]!);

        // Each refusal is the specification's WebSocketErrorEvent.
        foreach (var error in new[] { e, badType, notJson, badField, lanes })
        {
            OpenResponsesSpec.AssertValid("WebSocketErrorEvent", error, "the error frame");
        }

        // Still open and working.
        var ok = await WsFrames.TurnAsync(ws, Create("Hello"));
        Assert.Contains((string)ok[^1]["type"]!, new[] { "response.completed", "response.incomplete" });
        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
    }

    [Fact]
    public async Task Stored_responses_continue_by_id_from_another_connection()
    {
        string first;
        using (var a = await server.ConnectAsync())
        {
            first = (string)WsFrames.Terminal(await WsFrames.TurnAsync(a, Create("Remember this.", store: true)))["id"]!;
            await a.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        }

        using var b = await server.ConnectAsync();
        var events = await WsFrames.TurnAsync(b, Create("And now?", previous: first));
        Assert.Equal(first, (string)WsFrames.Terminal(events)["previous_response_id"]!);
        await b.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
    }

    [Fact]
    public async Task The_upgrade_needs_the_api_key_and_a_plain_get_gets_426()
    {
        using var anonymous = new ClientWebSocket();
        anonymous.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => anonymous.ConnectAsync(server.SocketUri, CancellationToken.None));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.HttpStatusCode);

        using var http = server.CreateClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ResponsesWebSocketFixture.Key);
        var plain = await http.GetAsync("/v1/responses");
        Assert.Equal((HttpStatusCode)426, plain.StatusCode);
        Assert.Contains("websocket_upgrade_required", await plain.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Limits_close_with_their_codes()
    {
        // Too big: 1009.
        using (var big = await server.ConnectAsync())
        {
            await WsFrames.SendAsync(big, Create(new string('x', ResponsesWebSocketFixture.MaxMessageBytes)));
            Assert.Null(await WsFrames.ReceiveAsync(big));
            Assert.Equal(WebSocketCloseStatus.MessageTooBig, big.CloseStatus);
        }

        // Binary: 1003.
        using (var binary = await server.ConnectAsync())
        {
            await binary.SendAsync(new byte[] { 1, 2, 3 }, WebSocketMessageType.Binary, true, CancellationToken.None);
            Assert.Null(await WsFrames.ReceiveAsync(binary));
            Assert.Equal(WebSocketCloseStatus.InvalidMessageType, binary.CloseStatus);
        }

        // One connection more than the limit: an error event, then 1013.
        await WaitUntil(() => Connections.Open == 0);
        var held = new List<ClientWebSocket>();
        for (var i = 0; i < ResponsesWebSocketFixture.MaxConnections; i++)
        {
            held.Add(await server.ConnectAsync());
        }

        using var extra = await server.ConnectAsync();
        var refusal = await WsFrames.ReceiveAsync(extra);
        Assert.Equal(429, (int)refusal!["status"]!);
        Assert.Equal("too_many_websocket_connections", (string)refusal["error"]!["code"]!);
        Assert.Null(await WsFrames.ReceiveAsync(extra));
        Assert.Equal(1013, (int)extra.CloseStatus!);
        foreach (var h in held)
        {
            await h.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
            h.Dispose();
        }
    }

    [Fact]
    public async Task A_client_that_goes_away_mid_response_cancels_it()
    {
        var ws = await server.ConnectAsync();
        var before = Host.Engine.Stats.TokensGenerated;
        await WsFrames.SendAsync(ws, Create("Write a long story.", max: 1500, extra: "\"ignore_eos\":true,"));
        Assert.Equal("response.created", (string)(await WsFrames.ReceiveAsync(ws))!["type"]!);
        // Generating: then drop the TCP connection without a close frame.
        await WaitUntil(() => Host.Engine.Stats is { ActiveSequences: 1 } s && s.TokensGenerated > before);
        ws.Abort();
        ws.Dispose();
        await WaitUntil(() => Host.Engine.Stats.ActiveSequences == 0 && Connections.Open == 0);
        Assert.True(Host.Engine.Stats.TokensGenerated - before < 1500 - 100, "generation must stop long before max_output_tokens");
        Assert.Equal(0, Host.Engine.Stats.PrefixCache.Pins);
    }

    /// <summary>Waits for a condition the server reaches on its own (after a client's action); fails after 2 minutes.</summary>
    private static async Task WaitUntil(Func<bool> condition)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (!condition())
        {
            await Task.Delay(20, cts.Token);
        }
    }
}

/// <summary>The idle timeout: a connection without messages closes with 1001.</summary>
public sealed class ResponsesWebSocketIdleTests(IdleWebSocketFixture server) : IClassFixture<IdleWebSocketFixture>
{
    [Fact]
    public async Task An_idle_connection_is_closed_with_going_away()
    {
        using var ws = await server.ConnectAsync();
        Assert.Null(await WsFrames.ReceiveAsync(ws));
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, ws.CloseStatus);
        Assert.Contains("idle", ws.CloseStatusDescription, StringComparison.Ordinal);
    }
}
