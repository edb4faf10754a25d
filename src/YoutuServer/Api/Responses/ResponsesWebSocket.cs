using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using YoutuServer.Api.Common;
using YoutuServer.Api.Serving;
using YoutuServer.Generation;
using YoutuServer.Hosting;
using YoutuServer.Http;
using YoutuServer.Operations;
using YoutuServer.State;

namespace YoutuServer.Api.Responses;

/// <summary>
/// The Responses API's WebSocket mode: <c>GET /v1/responses</c> upgraded to a WebSocket (API key in the upgrade's
/// header, as for every route). The client sends <c>response.create</c> events (the create body, without
/// <c>stream</c>); the server answers each with the same events the SSE stream carries, one JSON text message each.
/// Responses run one at a time, in the order sent. A turn continues the connection's last response by
/// <c>previous_response_id</c> from connection-local state, so also with <c>store: false</c> (older ids are looked up in
/// the store). A request the server refuses gets an <c>error</c> event (<c>status</c> and <c>error</c> as the HTTP error
/// body) and the connection stays open. While the connection is open, its last turn's tokens stay pinned in the
/// engine's prefix cache.
/// </summary>
/// <remarks>
/// Limits (serve options): <c>--ws-max-connections</c> (more: close 1013 Try Again Later), <c>--ws-idle-timeout</c>
/// (no client message while nothing runs: close 1001 Going Away), <c>--ws-max-message-bytes</c> (larger message:
/// close 1009 Message Too Big), <c>--ws-max-lifetime</c> (then, after the running response, an <c>error</c> event
/// <c>websocket_connection_limit_reached</c> and close 1001). A binary message is closed with 1003. A client that
/// goes away mid-response cancels it. On shutdown, connections close with 1001 once their response finished.
/// </remarks>
internal static partial class ResponsesWebSocket
{
    /// <summary>Responses received but not yet started, per connection; one more gets an error event.</summary>
    public const int MaxQueued = 8;

    /// <summary>RFC 6455 close code 1013 (not in <see cref="WebSocketCloseStatus"/>).</summary>
    private const WebSocketCloseStatus TryAgainLater = (WebSocketCloseStatus)1013;

    public static void Map(WebApplication app)
    {
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(30) });
        app.MapGet("/v1/responses", HandleAsync).WithName("ResponsesWebSocket").WithTags("Responses")
            .WithSummary("Responses API WebSocket mode (GET with Upgrade: websocket)")
            .WithDescription("Send {\"type\":\"response.create\", ...create body without stream...} text messages; each is answered with the " +
                "events of the SSE stream (response.created ... response.completed), one JSON message each, or an error event " +
                "{\"type\":\"error\",\"status\":N,\"error\":{type,code,message,param}}. One response runs at a time per connection, in order; " +
                "previous_response_id continues the connection's last response also with store:false. Close codes: 1001 idle timeout, " +
                "lifetime or shutdown; 1003 binary message; 1009 message too big; 1013 too many connections.")
            .Produces(101).Produces<ErrorResponse>(401, "application/json").Produces<ErrorResponse>(426, "application/json");
    }

    private static async Task HandleAsync(HttpContext http, EngineHost host, GenerationLifecycle lifecycle, IResponseStore store, ReasoningSeal seal,
        ServerOptions options, ResponsesWebSocketConnections connections, IHostApplicationLifetime lifetime, ILoggerFactory loggers)
    {
        if (!http.WebSockets.IsWebSocketRequest)
        {
            http.Response.Headers.Upgrade = "websocket";
            throw new ApiException(426, "GET /v1/responses is the Responses WebSocket mode: send a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket), " +
                "or POST /v1/responses for HTTP.", "invalid_request_error", null, "websocket_upgrade_required");
        }

        var logger = loggers.CreateLogger("YoutuServer.Api.Responses.WebSocket");
        using var socket = await http.WebSockets.AcceptWebSocketAsync();
        using var state = new ResponsesConnectionState(host);
        var services = new Services(http, lifecycle, new ResponsesEndpoint(host, store, seal, options, loggers) { Connection = state });
        if (connections.Enter() > options.WsMaxConnections)
        {
            try
            {
                ServerMetrics.Rejected("too_many_connections");
                using var connection = new Connection(socket, services, options, logger, lifetime.ApplicationStopping, http.RequestAborted);
                await connection.SendErrorAsync(new ApiException(429, $"Too many WebSocket connections: this server keeps at most {options.WsMaxConnections} open (--ws-max-connections). Try again later.",
                    "rate_limit_error", null, "too_many_websocket_connections"), CancellationToken.None);
                await connection.CloseAsync(TryAgainLater, "too many connections");
                return;
            }
            finally
            {
                connections.Exit();
            }
        }

        try
        {
            var tenant = http.Tenant();
            Log.Opened(logger, tenant.Value);
            using var connection = new Connection(socket, services, options, logger, lifetime.ApplicationStopping, http.RequestAborted);
            await connection.RunAsync();
        }
        finally
        {
            connections.Exit();
        }

        http.Items["youtu.status"] = 101;
    }

    /// <summary>One client connection: a receive loop, a FIFO of requests, one turn at a time, a watchdog for the limits.</summary>
    /// <summary>What a connection's turns run on: the upgrade's context, the lifecycle and the connection's adapter.</summary>
    private sealed record Services(HttpContext Http, GenerationLifecycle Lifecycle, ResponsesEndpoint Adapter);

    private sealed class Connection(WebSocket socket, Services services, ServerOptions options, ILogger logger,
        CancellationToken stopping, CancellationToken aborted) : IDisposable
    {
        private readonly SemaphoreSlim sendLock = new(1, 1);
        private readonly System.Threading.Channels.Channel<byte[]> queue =
            System.Threading.Channels.Channel.CreateBounded<byte[]>(new System.Threading.Channels.BoundedChannelOptions(MaxQueued) { SingleReader = true, SingleWriter = true });
        private readonly CancellationTokenSource gone = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        private readonly long opened = Environment.TickCount64;
        private long lastActivity = Environment.TickCount64;
        private int busy;
        private int closing;
        private bool started;

        private long MaxMessage => options.WsMaxMessageBytes > 0 ? options.WsMaxMessageBytes : options.MaxRequestBodyBytes;

        public async Task RunAsync()
        {
            var turns = Task.Run(TurnsAsync);
            var watchdog = Task.Run(WatchdogAsync);
            try
            {
                await ReceiveAsync();
            }
            finally
            {
                queue.Writer.TryComplete();
                // A close from the client (or a broken socket) ends what runs: the turn's token is the connection's.
                if (socket.State is not WebSocketState.Open)
                {
                    await gone.CancelAsync();
                }

                await turns;
                await gone.CancelAsync();
                await watchdog;
                Log.Closed(logger, (int?)socket.CloseStatus ?? 0, socket.CloseStatusDescription ?? "");
            }
        }

        public void Dispose()
        {
            gone.Dispose();
            sendLock.Dispose();
        }

        private async Task ReceiveAsync()
        {
            var buffer = new byte[16 * 1024];
            using var message = new MemoryStream();
            while (socket.State is WebSocketState.Open or WebSocketState.CloseSent)
            {
                WebSocketReceiveResult r;
                try
                {
                    r = await socket.ReceiveAsync(buffer, gone.Token);
                }
                catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
                {
                    return; // the client went away without a close frame, or the server is closing it
                }

                if (Volatile.Read(ref closing) != 0 && r.MessageType != WebSocketMessageType.Close)
                {
                    continue; // we are closing: what the client still sends is dropped until its close arrives
                }

                if (r.MessageType == WebSocketMessageType.Close)
                {
                    // The client's close: answer it (after which the socket is closed) and stop what runs.
                    await gone.CancelAsync();
                    await CloseAsync(WebSocketCloseStatus.NormalClosure, "");
                    return;
                }

                if (r.MessageType == WebSocketMessageType.Binary)
                {
                    await CloseAsync(WebSocketCloseStatus.InvalidMessageType, "binary messages are not supported: send JSON text");
                    return;
                }

                if (message.Length + r.Count > MaxMessage)
                {
                    await CloseAsync(WebSocketCloseStatus.MessageTooBig, $"message larger than {MaxMessage} bytes (--ws-max-message-bytes)");
                    return;
                }

                message.Write(buffer, 0, r.Count);
                if (!r.EndOfMessage)
                {
                    continue;
                }

                var bytes = message.ToArray();
                message.SetLength(0);
                Volatile.Write(ref lastActivity, Environment.TickCount64);
                if (!queue.Writer.TryWrite(bytes))
                {
                    await SendErrorAsync(new ApiException(429, $"Too many responses queued on this connection (at most {MaxQueued} wait behind the running one).",
                        "rate_limit_error", null, "too_many_queued_responses"), gone.Token);
                }
            }
        }

        private async Task TurnsAsync()
        {
            try
            {
                await foreach (var bytes in queue.Reader.ReadAllAsync(gone.Token))
                {
                    Volatile.Write(ref busy, 1);
                    try
                    {
                        await OneAsync(bytes);
                    }
                    finally
                    {
                        Volatile.Write(ref lastActivity, Environment.TickCount64);
                        Volatile.Write(ref busy, 0);
                    }
                }
            }
            catch (OperationCanceledException) when (gone.IsCancellationRequested)
            {
            }
        }

        private async Task OneAsync(byte[] bytes)
        {
            var ct = gone.Token;
            started = false;
            try
            {
                var request = ParseCreate(bytes);
                await services.Lifecycle.RunAsync(new GenerationContext(services.Http, ct), services.Adapter, request, new Sink(this));
            }
            catch (ApiException e) when (!started)
            {
                // Refused before the response began (the lifecycle maps intent and state failures to these): an error event.
                await SendErrorAsync(e, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }
            catch (Exception e) when (e is not OperationCanceledException && !started)
            {
                Log.TurnFailed(logger, e);
                await SendErrorAsync(new ApiException(500, "The server had an error while processing your request.", "server_error", null, "server_error"), ct);
            }
        }

        /// <summary>A <c>response.create</c> event's body as a create request; anything else is a 400 error event.</summary>
        private static ResponsesRequest ParseCreate(byte[] bytes)
        {
            WsClientEnvelope envelope;
            ResponsesRequest request;
            try
            {
                envelope = JsonSerializer.Deserialize(bytes, WebSocketJsonContext.Default.WsClientEnvelope)
                    ?? throw ApiException.BadRequest("A WebSocket message must be a JSON object with a 'type'.", "type");
                if (envelope.Type != "response.create")
                {
                    throw ApiException.BadRequest(envelope.Type is null
                        ? "A WebSocket message needs a 'type': this server accepts 'response.create'."
                        : $"Unsupported client event type '{envelope.Type}': this server accepts 'response.create'.", "type", "unsupported_event_type");
                }

                request = JsonSerializer.Deserialize(bytes, ResponsesJsonContext.Wire.ResponsesRequest)!;
            }
            catch (JsonException e)
            {
                var param = RequestBody.ParamFromPath(e.Path);
                throw new ApiException(400, param is null ? "The message is not valid JSON." : $"Invalid type or value for '{param}'.", "invalid_request_error", param, param is null ? "invalid_json" : "invalid_type");
            }

            if (envelope.StreamId is not null)
            {
                throw ApiException.BadRequest("'stream_id' (several lanes on one connection) is not supported by this server: responses on a connection run one at a time, in order; open another connection for a parallel conversation.", "stream_id");
            }

            if (envelope.Generate == false)
            {
                throw ApiException.BadRequest("'generate': false (preparing state without output) is not supported by this server; send the turn with generate omitted.", "generate");
            }

            request.Stream = true; // implicit over a WebSocket; a client's stream field is ignored
            return request;
        }

        public async Task SendErrorAsync(ApiException e, CancellationToken ct)
        {
            var error = new WsErrorEvent
            {
                Status = e.Status,
                // The Open Responses WebSocketErrorEvent requires a code string: an error without its own code gives its type.
                Error = new WsErrorBody { Type = e.Type, Code = e.Code ?? e.Type, Message = e.Message, Param = e.Param },
            };
            await SendAsync(JsonSerializer.SerializeToUtf8Bytes(error, WebSocketJsonContext.Default.WsErrorEvent), ct);
        }

        public async Task SendAsync(ReadOnlyMemory<byte> json, CancellationToken ct)
        {
            await sendLock.WaitAsync(ct);
            try
            {
                if (socket.State == WebSocketState.Open)
                {
                    await socket.SendAsync(json, WebSocketMessageType.Text, endOfMessage: true, ct);
                }
            }
            catch (Exception e) when (e is WebSocketException or IOException)
            {
                // The client went away mid-send: what runs is cancelled like on a close.
                await gone.CancelAsync();
                throw new OperationCanceledException("the WebSocket client went away", e, gone.Token);
            }
            finally
            {
                sendLock.Release();
            }
        }

        /// <summary>
        /// Starts the closing handshake once: what runs is cancelled, and the receive loop waits (5 s at most) for the
        /// client's close.
        /// </summary>
        public async Task CloseAsync(WebSocketCloseStatus status, string reason)
        {
            if (Interlocked.Exchange(ref closing, 1) != 0)
            {
                return;
            }

            if (socket.State == WebSocketState.Open)
            {
                gone.CancelAfter(TimeSpan.FromSeconds(5));
            }

            await sendLock.WaitAsync(CancellationToken.None);
            try
            {
                if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                {
                    await socket.CloseOutputAsync(status, reason, CancellationToken.None);
                }
            }
            catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException)
            {
                // Already gone.
            }
            finally
            {
                sendLock.Release();
            }
        }

        /// <summary>Idle timeout, lifetime and shutdown: each closes the connection once nothing runs.</summary>
        private async Task WatchdogAsync()
        {
            var idle = TimeSpan.FromSeconds(Math.Max(0.05, options.WsIdleTimeoutSeconds));
            var lifetime = TimeSpan.FromMinutes(Math.Max(0.001, options.WsMaxLifetimeMinutes));
            var period = TimeSpan.FromMilliseconds(Math.Clamp(idle.TotalMilliseconds / 4, 20, 1000));
            using var timer = new PeriodicTimer(period);
            try
            {
                while (await timer.WaitForNextTickAsync(gone.Token))
                {
                    if (Volatile.Read(ref busy) != 0 || queue.Reader.Count > 0)
                    {
                        continue;
                    }

                    var now = Environment.TickCount64;
                    if (stopping.IsCancellationRequested)
                    {
                        await CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "server shutting down");
                        return;
                    }

                    if (now - opened >= (long)lifetime.TotalMilliseconds)
                    {
                        await SendErrorAsync(new ApiException(400, $"This WebSocket connection reached its limit of {options.WsMaxLifetimeMinutes} minutes (--ws-max-lifetime): open a new one and continue.",
                            "invalid_request_error", null, "websocket_connection_limit_reached"), CancellationToken.None);
                        await CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "connection lifetime reached");
                        return;
                    }

                    if (now - Volatile.Read(ref lastActivity) >= (long)idle.TotalMilliseconds)
                    {
                        await CloseAsync(WebSocketCloseStatus.EndpointUnavailable, $"idle for {options.WsIdleTimeoutSeconds} s (--ws-idle-timeout)");
                        return;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        /// <summary>Each event one text message, sent as it comes (the socket does its own batching); no [DONE], no comments.</summary>
        private sealed class Sink(Connection connection) : IResultSink
        {
            public bool Started => connection.started;

            public ValueTask WriteEventAsync<T>(string? name, T value, JsonTypeInfo<T> type, CancellationToken cancellationToken) =>
                WriteBodyAsync(value, type, cancellationToken);

            public ValueTask WriteBodyAsync<T>(T value, JsonTypeInfo<T> type, CancellationToken cancellationToken) =>
                WriteBodyAsync(JsonSerializer.SerializeToUtf8Bytes(value, type), cancellationToken);

            public ValueTask WriteBodyAsync(ReadOnlyMemory<byte> json, CancellationToken cancellationToken)
            {
                connection.started = true;
                return new(connection.SendAsync(json, cancellationToken));
            }

            public ValueTask KeepAliveAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask; // the WebSocket pings itself

            public ValueTask WriteDoneAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

            public ValueTask FlushAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1410, Level = LogLevel.Information, Message = "Responses WebSocket opened (tenant {Tenant})")]
        public static partial void Opened(ILogger logger, string tenant);

        [LoggerMessage(EventId = 1411, Level = LogLevel.Information, Message = "Responses WebSocket closed ({Status} {Reason})")]
        public static partial void Closed(ILogger logger, int status, string reason);

        [LoggerMessage(EventId = 1413, Level = LogLevel.Error, Message = "Responses WebSocket: a turn failed before it began")]
        public static partial void TurnFailed(ILogger logger, Exception exception);
    }
}

/// <summary>
/// A WebSocket connection's memory of its last response: continued by <c>previous_response_id</c> without the store
/// (so also with <c>store: false</c>), and its tokens (prompt and output) pinned in the engine's prefix cache while
/// the connection is open.
/// </summary>
internal sealed class ResponsesConnectionState(EngineHost host) : IDisposable
{
    private readonly Lock gate = new();
    private string? lastId;
    private ResponsesContinuation? last;
    private Engine.Caching.PrefixPin? pin;

    public ResponsesContinuation? Find(string id)
    {
        lock (gate)
        {
            return id == lastId ? last : null;
        }
    }

    public void Remember(string id, ResponsesContinuation continuation, GenerationPlan plan)
    {
        var tokens = continuation.PrefixTokens ?? plan.Request.Prompt;
        var next = host.Engine.PinPrefix(tokens, plan.Request.Adapter, plan.Request.CacheSalt);
        Engine.Caching.PrefixPin? old;
        lock (gate)
        {
            (lastId, last, old, pin) = (id, continuation, pin, next);
        }

        old?.Dispose();
    }

    public void Dispose()
    {
        lock (gate)
        {
            pin?.Dispose();
            pin = null;
        }
    }
}

/// <summary>This server's open Responses WebSocket connections (for the connection limit).</summary>
internal sealed class ResponsesWebSocketConnections
{
    private int open;

    public int Open => Volatile.Read(ref open);

    /// <summary>Counts one more; the count including it.</summary>
    public int Enter() => Interlocked.Increment(ref open);

    public void Exit() => Interlocked.Decrement(ref open);
}

/// <summary>The fields of a client event the WebSocket mode reads before the create body.</summary>
internal sealed class WsClientEnvelope
{
    [JsonPropertyName("type")] public string? Type { get; set; }
    [JsonPropertyName("stream_id")] public string? StreamId { get; set; }
    [JsonPropertyName("generate")] public bool? Generate { get; set; }
}

/// <summary>A request-level error over the WebSocket: the HTTP status and the error body a POST would have got.</summary>
internal sealed class WsErrorEvent
{
    [JsonPropertyName("type")] public string Type { get; set; } = "error";
    [JsonPropertyName("status")] public int Status { get; set; }
    [JsonPropertyName("error")] public required WsErrorBody Error { get; set; }
}

internal sealed class WsErrorBody
{
    [JsonPropertyName("type")] public required string Type { get; set; }
    [JsonPropertyName("code")] public required string Code { get; set; }
    [JsonPropertyName("message")] public required string Message { get; set; }
    [JsonPropertyName("param"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? Param { get; set; }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, MaxDepth = 64)]
[JsonSerializable(typeof(WsClientEnvelope))]
[JsonSerializable(typeof(WsErrorEvent))]
internal sealed partial class WebSocketJsonContext : JsonSerializerContext
{
}
