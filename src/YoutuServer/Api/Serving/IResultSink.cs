using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using YoutuServer.Api.Common;
using YoutuServer.Http.Sse;

namespace YoutuServer.Api.Serving;

/// <summary>
/// Where a <see cref="ResultWriter"/> puts its output, in no transport's terms: named events of a stream, or one
/// result body. Over HTTP (<see cref="HttpResultSink"/>) events are server-sent events and the body is the JSON
/// response; another transport (a WebSocket, say) sends each event as one message. Writes are buffered until
/// <see cref="FlushAsync"/>.
/// </summary>
internal interface IResultSink
{
    /// <summary>Whether anything went out: from then on a failure is reported as an event, not as a status.</summary>
    bool Started { get; }

    /// <summary>One event of the result stream; <paramref name="name"/> null for formats whose events carry no name (OpenAI's chunks).</summary>
    ValueTask WriteEventAsync<T>(string? name, T value, JsonTypeInfo<T> type, CancellationToken cancellationToken);

    /// <summary>The whole result as one JSON value (requests that do not stream).</summary>
    ValueTask WriteBodyAsync<T>(T value, JsonTypeInfo<T> type, CancellationToken cancellationToken);

    /// <summary>The whole result, already serialized (UTF-8 JSON).</summary>
    ValueTask WriteBodyAsync(ReadOnlyMemory<byte> json, CancellationToken cancellationToken);

    /// <summary>A transport-level keep-alive during a quiet spell (SSE: a comment line).</summary>
    ValueTask KeepAliveAsync(CancellationToken cancellationToken);

    /// <summary>The end-of-stream sentinel, where the transport has one (SSE: <c>data: [DONE]</c>); others ignore it.</summary>
    ValueTask WriteDoneAsync(CancellationToken cancellationToken);

    ValueTask FlushAsync(CancellationToken cancellationToken);
}

/// <summary>The HTTP transport: server-sent events for streams, a JSON body otherwise.</summary>
internal sealed class HttpResultSink(HttpResponse response) : IResultSink
{
    private SseWriter? sse;
    private bool body;

    private SseWriter Sse => sse ??= new SseWriter(response);

    public bool Started => body || response.HasStarted || sse?.Started == true;

    public ValueTask WriteEventAsync<T>(string? name, T value, JsonTypeInfo<T> type, CancellationToken cancellationToken) =>
        name is null
            ? Sse.WriteAsync(value, type, flush: false, cancellationToken)
            : Sse.WriteEventAsync(name, value, type, flush: false, cancellationToken);

    public async ValueTask WriteBodyAsync<T>(T value, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        body = true;
        response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(response.Body, value, type, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask WriteBodyAsync(ReadOnlyMemory<byte> json, CancellationToken cancellationToken)
    {
        body = true;
        response.ContentType = "application/json";
        await response.Body.WriteAsync(json, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask KeepAliveAsync(CancellationToken cancellationToken) => Sse.WriteKeepAliveAsync(cancellationToken);

    public ValueTask WriteDoneAsync(CancellationToken cancellationToken) => Sse.WriteDoneAsync(cancellationToken);

    public ValueTask FlushAsync(CancellationToken cancellationToken) => sse?.FlushAsync(cancellationToken) ?? ValueTask.CompletedTask;
}
