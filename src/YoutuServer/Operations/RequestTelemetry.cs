using System.Diagnostics;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Generation;

namespace YoutuServer.Operations;

/// <summary>
/// Per-request timing for logs and metrics (TTFT, time per output token) and the request's trace events. Every wire
/// format's handler begins and ends it; the result stream feeds it each engine event.
/// </summary>
internal sealed class RequestTelemetry : IGenerationObserver
{
    private long start;
    private long firstToken;
    private int tokens;

    public void Begin(HttpContext http, string model, int promptTokens, bool stream)
    {
        start = Stopwatch.GetTimestamp();
        http.Items["youtu.model"] = model;
        http.Items["youtu.prompt_tokens"] = promptTokens;
        http.Items["youtu.stream"] = stream;
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

    public void End(HttpContext http, int status, UsageRecord? usage)
    {
        http.Items["youtu.status"] = status;
        http.Items[UsageItem] = usage;
        http.Items["youtu.ttft_ms"] = TtftMs;
        http.Items["youtu.tpot_ms"] = TpotMs;
        http.Items["youtu.duration_ms"] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    internal const string UsageItem = "youtu.usage";
}
