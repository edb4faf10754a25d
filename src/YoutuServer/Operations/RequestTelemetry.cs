using System.Diagnostics;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Generation;

namespace YoutuServer.Operations;

/// <summary>
/// What one request did, as a typed HttpContext feature: set by <see cref="RequestObserver"/> when the request
/// starts, filled by whoever serves it (the generation lifecycle: model, tokens, timings, final status; the error
/// writer: the refusal reason), read back by the observer for the log line, the metrics and the span.
/// </summary>
internal sealed class RequestRecord
{
    /// <summary>The model the plan ran (a LoRA adapter's id when one answered); null for requests that generate nothing.</summary>
    public string? Model { get; set; }
    public int? PromptTokens { get; set; }
    public bool Stream { get; set; }

    /// <summary>The status the request ended with when the response cannot say it (499: the client went away; 200 with an error event).</summary>
    public int? Status { get; set; }
    public UsageRecord? Usage { get; set; }
    public double? TtftMs { get; set; }
    public double? TpotMs { get; set; }

    /// <summary>Why the request was refused (queue_full, shutting_down, context_length_exceeded, request_too_large, invalid, state_store_unavailable).</summary>
    public string? Rejection { get; set; }
}

internal static class RequestRecordExtensions
{
    /// <summary>This request's record; a detached one when no observer runs (a record nobody reads).</summary>
    public static RequestRecord Record(this HttpContext http)
    {
        if (http.Features.Get<RequestRecord>() is { } record)
        {
            return record;
        }

        record = new RequestRecord();
        http.Features.Set(record);
        return record;
    }
}

/// <summary>
/// Per-request timing (TTFT, time per output token) and the request's trace events: the generation lifecycle begins
/// and ends it; the result stream feeds it each engine event. Writes into the request's <see cref="RequestRecord"/>.
/// </summary>
internal sealed class RequestTelemetry(RequestRecord record) : IGenerationObserver
{
    private long start;
    private long firstToken;
    private int tokens;

    public void Begin(string model, int promptTokens, bool stream)
    {
        start = Stopwatch.GetTimestamp();
        record.Model = model;
        record.PromptTokens = promptTokens;
        record.Stream = stream;
    }

    public void OnEngineEvent(GenerationEvent e)
    {
        RequestTrace.OnEvent(e);
        if (e is TokenEvent && tokens++ == 0)
        {
            firstToken = Stopwatch.GetTimestamp();
        }
    }

    public double? TtftMs => firstToken == 0 ? null : Stopwatch.GetElapsedTime(start, firstToken).TotalMilliseconds;
    public double? TpotMs => tokens > 1 ? Stopwatch.GetElapsedTime(firstToken).TotalMilliseconds / (tokens - 1) : null;

    public void End(int status, UsageRecord? usage)
    {
        record.Status = status;
        record.Usage = usage;
        record.TtftMs = TtftMs;
        record.TpotMs = TpotMs;
    }
}

/// <summary>
/// Route metadata of a generation endpoint: the name of its trace span and its gen_ai.operation.name
/// (OpenTelemetry's semantic conventions: chat, text_completion, ...). The observer starts the span for routes that carry it.
/// </summary>
internal sealed record GenerationOperation(string SpanName, string GenAiOperation);
