using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace YoutuServer.Http.Sse;

/// <summary>
/// Writes server-sent events straight into the response pipe: <c>data: {json}\n\n</c> (optionally after an <c>event:</c> line), comment
/// keep-alives and the closing <c>data: [DONE]</c>. JSON goes through a reused Utf8JsonWriter into the pipe's own
/// buffers, so a token costs no intermediate string. (System.Net.ServerSentEvents' SseFormatter writes data events
/// only; OpenAI streams also need comment keep-alives while a request waits in the queue, hence this writer.)
/// </summary>
#pragma warning disable CA1001 // the Utf8JsonWriter writes into the response pipe, which the server owns; nothing to release
internal sealed class SseWriter
#pragma warning restore CA1001
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventPrefix = "event: "u8.ToArray();
    private static readonly byte[] LineEnd = "\n"u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();
    private static readonly byte[] KeepAlive = ": keep-alive\n\n"u8.ToArray();
    private static readonly CancellationToken ClientGone = new(canceled: true);

    private readonly HttpResponse response;
    private readonly PipeWriter pipe;
    private readonly Utf8JsonWriter json;
    private bool started;
    private bool pending;

    public SseWriter(HttpResponse response)
    {
        this.response = response;
        pipe = response.BodyWriter;
        // Relaxed escaping (UTF-8 text, quotes and < > as themselves), as the JSON responses write: the serializer's
        // encoder option does not reach a writer the caller creates.
        json = new Utf8JsonWriter(pipe, new JsonWriterOptions { SkipValidation = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    public bool Started => started;

    private void Start()
    {
        pending = true;
        if (started)
        {
            return;
        }

        started = true;
        response.StatusCode = 200;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        response.Headers.Connection = "keep-alive";
        // Streams must not be buffered or compressed by middleware.
        response.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    /// <summary>Writes one event; flushes only when asked, so a burst of ready events leaves in one write.</summary>
    public ValueTask WriteAsync<T>(T value, JsonTypeInfo<T> typeInfo, bool flush, CancellationToken cancellationToken)
    {
        Start();
        pipe.Write(DataPrefix);
        json.Reset(pipe);
        JsonSerializer.Serialize(json, value, typeInfo);
        json.Flush();
        pipe.Write(EventEnd);
        return flush ? FlushAsync(cancellationToken) : ValueTask.CompletedTask;
    }

    /// <summary>
    /// Writes one named event (<c>event: NAME</c> then <c>data: {json}</c>), as the Responses and Anthropic Messages
    /// streams need; flushes only when asked.
    /// </summary>
    public ValueTask WriteEventAsync<T>(string eventName, T value, JsonTypeInfo<T> typeInfo, bool flush, CancellationToken cancellationToken)
    {
        Start();
        pipe.Write(EventPrefix);
        var span = pipe.GetSpan(System.Text.Encoding.UTF8.GetMaxByteCount(eventName.Length));
        pipe.Advance(System.Text.Encoding.UTF8.GetBytes(eventName, span));
        pipe.Write(LineEnd);
        return WriteAsync(value, typeInfo, flush, cancellationToken);
    }

    public ValueTask WriteKeepAliveAsync(CancellationToken cancellationToken)
    {
        Start();
        pipe.Write(KeepAlive);
        return FlushAsync(cancellationToken);
    }

    public ValueTask WriteDoneAsync(CancellationToken cancellationToken)
    {
        Start();
        pipe.Write(Done);
        return FlushAsync(cancellationToken);
    }

    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        // Nothing written since the last flush: nothing to send (and no headers before the first event).
        if (!pending)
        {
            return;
        }

        pending = false;
        var r = await pipe.FlushAsync(cancellationToken);
        if (r.IsCanceled || r.IsCompleted)
        {
            // Carries a cancelled token: the pipe can report the client gone before RequestAborted fires, and the
            // endpoints' "client gone" filters must match this too (else it surfaces as a 500 and an error log).
            throw new OperationCanceledException("the client went away", ClientGone);
        }
    }
}
