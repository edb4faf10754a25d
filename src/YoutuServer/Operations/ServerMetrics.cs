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
internal static class ServerMetrics
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

    public static readonly Histogram<double> PrefixCacheRestoreDuration = Meter.CreateHistogram(
        "youtu.prefix_cache.restore.duration", "s", "Time a request spent restoring saved prefix states (host RAM or disk) into its sequence, per request that restored one.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });

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

        // The model-server protocol of the Gateway API Inference Extension (deploy/inference-gateway/): the endpoint
        // picker reads these through its engineConfigs (names may differ from vLLM's; types and meaning match).
        // Queued requests are youtu_queue_depth above.
        Meter.CreateObservableGauge("youtu.running_requests", () => Observe(s => s.ActiveRequests), null,
            "Requests being served now (admitted to sequence slots).");
        Meter.CreateObservableGauge("youtu.kv_cache_utilization", () => ObserveDouble(s => s.KvCellsTotal == 0 ? 0 : Math.Min(1.0, (double)s.KvCellsActive / s.KvCellsTotal)), null,
            "Fraction (0-1) of the KV cells held by running requests; idle prefix caches are evictable and not counted.");
        Meter.CreateObservableGauge("youtu.cache_config_info", () => ObserveLabelled(s => (1.0, CacheConfigLabels(s))), null,
            "KV cache configuration as labels: block_size (tokens per block as the router hashes prefixes) and num_gpu_blocks (cells / block_size); value 1.");
        Meter.CreateObservableGauge("youtu.lora_requests_info", () => ObserveLabelled(s => (s.AdaptersChangedAt.ToUnixTimeMilliseconds() / 1000.0, LoraLabels(s))), null,
            "LoRA adapters in vLLM's label format: max_lora, running_lora_adapters and waiting_lora_adapters (comma-separated ids); value = Unix time of the last change.");
        Meter.CreateObservableCounter("youtu.adapter_switches", () => ObserveLong(s => s.AdapterSwitches), null,
            "Times the engine switched the context's LoRA adapter between decode steps.");

        // The engine loop (vLLM's iteration stats): steps, where their time went, and the tokens they carried.
        Meter.CreateObservableCounter("youtu.engine.steps", () => ObserveLong(s => s.Steps), "{step}",
            "Engine steps (one llama_decode of a batch of decode tokens and prompt chunks each).");
        Meter.CreateObservableCounter("youtu.engine.time", () => ObserveSplit("phase", s =>
            [("decode", s.DecodeMsTotal / 1000), ("sample", s.SampleMsTotal / 1000), ("loop", s.LoopOverheadUsPerStep * s.Steps / 1e6)]), "s",
            "Time the engine thread spent in llama_decode, in sampling, and in the rest of its loop.");
        Meter.CreateObservableCounter("youtu.engine.tokens", () => ObserveSplit("kind", s =>
            [("prompt", s.PromptTokensEvaluated), ("generated", s.TokensGenerated)]), "{token}",
            "Tokens the engine evaluated from prompts (cached ones not counted) and generated.");

        // The prefix cache's tiers (the engine's PrefixCacheStats): where reused prompt tokens came from, what each
        // tier holds, and what moved between tiers.
        Meter.CreateObservableCounter("youtu.prefix_cache.reused_tokens", () => ObserveTiers(p =>
            [("resident", p.ReusedTokensResident), ("shared", p.ReusedTokensShared), ("ram", p.ReusedTokensRam), ("disk", p.ReusedTokensDisk)]), "{token}",
            "Prompt tokens reused from the prefix cache, by tier: resident (the sequence's own cells), shared (another sequence's cells), ram, disk (restored states).");
        Meter.CreateObservableGauge("youtu.prefix_cache.size", () => ObserveTiers(p => [("ram", p.RamBytes), ("disk", p.DiskBytes)]), "By",
            "Bytes of saved prefix states held, by tier.");
        Meter.CreateObservableGauge("youtu.prefix_cache.limit", () => ObserveTiers(p => [("ram", p.RamLimitBytes), ("disk", p.DiskLimitBytes)]), "By",
            "Bound of each tier in bytes (0 = the tier is off).");
        Meter.CreateObservableGauge("youtu.prefix_cache.entries", () => ObserveTiers(p => [("ram", p.RamEntries), ("disk", p.DiskEntries)]), "{state}",
            "Saved prefix states held, by tier.");
        Meter.CreateObservableCounter("youtu.prefix_cache.restores", () => ObserveTiers(p => [("ok", p.Restores), ("failed", p.RestoreFailures)], "result"), "{state}",
            "Saved states restored into a sequence (result ok), or refused so that the prompt was evaluated instead (failed).");
        Meter.CreateObservableCounter("youtu.prefix_cache.restore.time", () => ObserveTiers(p => [("all", p.RestoreMsTotal / 1000)], "tier"), "s",
            "Total time spent restoring saved states (reading files included).");
        Meter.CreateObservableCounter("youtu.prefix_cache.saves", () => ObserveTiers(p => [("ram", p.Saves), ("disk", p.Spills)]), "{state}",
            "States saved from the KV cache into RAM, and written (spilled) to disk.");
        Meter.CreateObservableCounter("youtu.prefix_cache.evictions", () => ObserveTiers(p => [("kv", p.KvEvictions), ("ram", p.RamEvictions), ("disk", p.DiskEvictions)]), "{entry}",
            "Evictions by tier: idle sequences whose cells were taken (kv), states dropped from RAM with nowhere to go, files removed to stay under the disk bound.");
        Meter.CreateObservableCounter("youtu.prefix_cache.files_rejected", () => ObserveLong(s => s.PrefixCache.FilesRejected), "{file}",
            "Disk-tier files skipped and removed: truncated, corrupt, foreign (another model or KV layout) or of an old format.");
        Meter.CreateObservableGauge("youtu.prefix_cache.pins", () => Observe(s => s.PrefixCache.Pins), "{prefix}",
            "Prefixes pinned by open sessions right now.");
        Meter.CreateObservableGauge("youtu.prefix_cache.disk_writing_stopped", () => Observe(s => s.PrefixCache.DiskWritingStopped ? 1 : 0), null,
            "1 when the disk tier stopped writing (disk full or unwritable); it is still read.");
    }

    /// <summary>
    /// Tokens per KV block reported in cache_config_info. llama.cpp allocates KV cells one token at a time and the
    /// prefix cache reuses any common prefix, so every block-aligned prefix the router hashes is reusable here; 16 is
    /// vLLM's default block size, for which the endpoint picker's prefix hashing is tuned.
    /// </summary>
    public const int KvBlockTokens = 16;

    private static KeyValuePair<string, object?>[] CacheConfigLabels(EngineStats s) =>
    [
        new("block_size", KvBlockTokens.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        new("num_gpu_blocks", (s.KvCellsTotal / KvBlockTokens).ToString(System.Globalization.CultureInfo.InvariantCulture)),
    ];

    private static KeyValuePair<string, object?>[] LoraLabels(EngineStats s) =>
    [
        new("max_lora", s.MaxAdapters.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        new("running_lora_adapters", string.Join(',', s.RunningAdapters)),
        new("waiting_lora_adapters", string.Join(',', s.WaitingAdapters)),
    ];

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

    private static IEnumerable<Measurement<double>> ObserveDouble(Func<EngineStats, double> value) =>
        ObserveLabelled(s => (value(s), []));

    private static IEnumerable<Measurement<long>> ObserveLong(Func<EngineStats, long> value)
    {
        foreach (var source in Volatile.Read(ref sources))
        {
            if (source() is { } s)
            {
                yield return new Measurement<long>(value(s.Stats), new KeyValuePair<string, object?>("model", s.Model));
            }
        }
    }

    private static IEnumerable<Measurement<double>> ObserveLabelled(Func<EngineStats, (double Value, KeyValuePair<string, object?>[] Labels)> value)
    {
        foreach (var source in Volatile.Read(ref sources))
        {
            if (source() is { } s)
            {
                var (v, labels) = value(s.Stats);
                yield return new Measurement<double>(v, [new KeyValuePair<string, object?>("model", s.Model), .. labels]);
            }
        }
    }

    /// <summary>One measurement per (label value, value) of every engine's prefix-cache stats, labelled model and <paramref name="label"/>.</summary>
    private static IEnumerable<Measurement<double>> ObserveTiers(Func<Engine.Caching.PrefixCacheStats, (string Tier, double Value)[]> values, string label = "tier") =>
        ObserveSplit(label, s => values(s.PrefixCache));

    /// <summary>One measurement per (label value, value) of every engine's stats, labelled model and <paramref name="label"/>.</summary>
    private static IEnumerable<Measurement<double>> ObserveSplit(string label, Func<EngineStats, (string Part, double Value)[]> values)
    {
        foreach (var source in Volatile.Read(ref sources))
        {
            if (source() is { } s)
            {
                foreach (var (part, v) in values(s.Stats))
                {
                    yield return new Measurement<double>(v, new KeyValuePair<string, object?>("model", s.Model), new KeyValuePair<string, object?>(label, part));
                }
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
