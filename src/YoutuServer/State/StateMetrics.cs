using System.Diagnostics.Metrics;

namespace YoutuServer.State;

/// <summary>
/// Figures of every state service on the "YoutuServer" meter (exported with the server's others on /metrics and by
/// OTLP), tagged store="responses" | "output_memory" | "tool_use_memory": youtu_state_items, youtu_state_size_bytes,
/// youtu_state_evictions_total, youtu_state_lookups_total{result="hit"|"miss"}. Several caches of one name (tests run
/// several servers in one process) are summed.
/// </summary>
internal static class StateMetrics
{
    public const string MeterName = "YoutuServer";

    private static readonly Meter Meter = new(MeterName, typeof(StateMetrics).Assembly.GetName().Version?.ToString());
    private static readonly Lock SourcesLock = new();
    private static (string Store, Func<(long Items, long Bytes)> Read)[] sources = [];

    private static readonly Counter<long> Evictions = Meter.CreateCounter<long>(
        "youtu.state.evictions", "{entry}", "State entries evicted (least recently used first) to keep a store within its bounds, by store.");

    private static readonly Counter<long> Lookups = Meter.CreateCounter<long>(
        "youtu.state.lookups", "{lookup}", "State lookups by store and result (hit, miss).");

    static StateMetrics()
    {
        Meter.CreateObservableGauge("youtu.state.items", () => Observe(s => s.Items), "{entry}", "Entries held by each state store.");
        Meter.CreateObservableGauge("youtu.state.size", () => Observe(s => s.Bytes), "By", "Approximate memory held by each state store.");
    }

    /// <summary>Adds a store whose entry count and size the gauges report; dispose the result to remove it.</summary>
    public static IDisposable Register(string store, Func<(long Items, long Bytes)> read)
    {
        var source = (store, read);
        lock (SourcesLock)
        {
            sources = [.. sources, source];
        }

        return new Removal(source);
    }

    public static void Evicted(string store, int count) => Evictions.Add(count, new KeyValuePair<string, object?>("store", store));

    public static void Looked(string store, bool hit) =>
        Lookups.Add(1, new KeyValuePair<string, object?>("store", store), new KeyValuePair<string, object?>("result", hit ? "hit" : "miss"));

    private static IEnumerable<Measurement<long>> Observe(Func<(long Items, long Bytes), long> value)
    {
        foreach (var group in Volatile.Read(ref sources).GroupBy(s => s.Store, StringComparer.Ordinal))
        {
            long sum = 0;
            foreach (var (_, read) in group)
            {
                sum += value(read());
            }

            yield return new Measurement<long>(sum, new KeyValuePair<string, object?>("store", group.Key));
        }
    }

    private sealed class Removal((string Store, Func<(long Items, long Bytes)> Read) source) : IDisposable
    {
        public void Dispose()
        {
            lock (SourcesLock)
            {
                sources = [.. sources.Where(s => s != source)];
            }
        }
    }
}
