using System.Diagnostics;
using System.Diagnostics.Metrics;
using YoutuServer.Engine.Scheduling;

namespace YoutuServer.Operations;

/// <summary>
/// The "YoutuServer" meter. OpenTelemetry exports it on /metrics (Prometheus text) and by OTLP; the Prometheus
/// exporter turns dots into underscores, appends the unit ("s" → "_seconds") and "_total" on counters, so
/// "youtu.time_to_first_token" [s] is scraped as youtu_time_to_first_token_seconds and "youtu.queue_depth" (no
/// unit) as youtu_queue_depth, the name deploy/k8s autoscales on.
/// </summary>
/// <remarks>
/// Static on purpose: the endpoints report through one-line hooks, and a process serves one model. Gauges read the
/// engine snapshot of every registered host (tests run several hosts in one process).
/// </remarks>
public static class ServerMetrics
{
    public const string MeterName = "YoutuServer";

    // Latency buckets in seconds: tokens take milliseconds on a GPU and up to seconds on a busy CPU.
    private static readonly double[] LatencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
    private static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 60, 120, 300, 600];

    private static readonly Meter Meter = new(MeterName, typeof(ServerMetrics).Assembly.GetName().Version?.ToString());
    private static readonly Lock SourcesLock = new();
    private static Func<(string Model, EngineStats Stats)?>[] sources = [];

    public static readonly Counter<long> Requests = Meter.CreateCounter<long>(
        "youtu.requests", "{request}", "HTTP requests by route, method and status code.");

    public static readonly Histogram<double> RequestDuration = Meter.CreateHistogram(
        "youtu.request.duration", "s", "Time from request start to the end of the response (streams included).",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });

    public static readonly Histogram<double> TimeToFirstToken = Meter.CreateHistogram(
        "youtu.time_to_first_token", "s", "Time from the parsed request to its first generated token (queue and prompt evaluation included).",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });

    public static readonly Histogram<double> TimePerOutputToken = Meter.CreateHistogram(
        "youtu.time_per_output_token", "s", "Mean time between generated tokens after the first, per request.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });

    public static readonly Counter<long> PromptTokens = Meter.CreateCounter<long>(
        "youtu.prompt_tokens", "{token}", "Prompt tokens of finished requests (cached ones included).");

    public static readonly Counter<long> GenerationTokens = Meter.CreateCounter<long>(
        "youtu.generation_tokens", "{token}", "Generated (completion) tokens of finished requests.");

    public static readonly Counter<long> PrefixCacheHitTokens = Meter.CreateCounter<long>(
        "youtu.prefix_cache_hit_tokens", "{token}", "Prompt tokens served from the prefix cache instead of being evaluated.");

    public static readonly Counter<long> Rejections = Meter.CreateCounter<long>(
        "youtu.rejections", "{request}", "Requests refused before generation, by reason.");

    static ServerMetrics()
    {
        Meter.CreateObservableGauge("youtu.queue_depth", () => Observe(s => s.QueueDepth), null, "Requests waiting for a sequence slot.");
        Meter.CreateObservableGauge("youtu.active_sequences", () => Observe(s => s.ActiveSequences), null, "Sequences being decoded.");
        Meter.CreateObservableGauge("youtu.kv_cells_used", () => Observe(s => s.KvCellsUsed), null, "KV-cache cells holding tokens (prefix cache included).");
        Meter.CreateObservableGauge("youtu.kv_cells_total", () => Observe(s => s.KvCellsTotal), null, "KV-cache cells of the context.");
        Meter.CreateObservableGauge("youtu.gpu_layers", ObserveBackend, null, "Layers offloaded to a GPU (output layer counted; 0 = CPU only), tagged with the backend the weights run on.");
        Meter.CreateObservableGauge("youtu.draining", () => Observe(s => s.Draining ? 1 : 0), null, "1 while the server drains before shutting down.");
    }

    /// <summary>Adds an engine whose snapshot the gauges report; dispose the result to remove it.</summary>
    public static IDisposable AddSource(Func<(string Model, EngineStats Stats)?> source)
    {
        lock (SourcesLock)
        {
            sources = [.. sources, source];
        }

        return new Removal(source);
    }

    /// <summary>Counts a refused request: queue_full, shutting_down, context_length_exceeded, request_too_large,
    /// invalid (other client errors), unauthorized, rate_limited.</summary>
    public static void Rejected(string reason) => Rejections.Add(1, new KeyValuePair<string, object?>("reason", reason));

    private static IEnumerable<Measurement<int>> Observe(Func<EngineStats, int> value)
    {
        foreach (var source in Volatile.Read(ref sources))
        {
            if (source() is { } s)
            {
                yield return new Measurement<int>(value(s.Stats), new KeyValuePair<string, object?>("model", s.Model));
            }
        }
    }

    private static IEnumerable<Measurement<int>> ObserveBackend()
    {
        foreach (var source in Volatile.Read(ref sources))
        {
            if (source() is { } s)
            {
                yield return new Measurement<int>(s.Stats.GpuLayers, new KeyValuePair<string, object?>("model", s.Model),
                    new KeyValuePair<string, object?>("backend", s.Stats.Backend));
            }
        }
    }

    private sealed class Removal(Func<(string Model, EngineStats Stats)?> source) : IDisposable
    {
        public void Dispose()
        {
            lock (SourcesLock)
            {
                sources = [.. sources.Where(s => s != source)];
            }
        }
    }

    /// <summary>Tag list helper (no allocation of a params array per call site).</summary>
    internal static TagList Tags(string k1, object? v1, string k2, object? v2, string k3, object? v3) => new()
    {
        { k1, v1 },
        { k2, v2 },
        { k3, v3 },
    };
}
