using System.Diagnostics.Metrics;

namespace YoutuServer.State;

/// <summary>
/// The state store's instruments on the "YoutuServer" meter (exported with the rest on /metrics and OTLP):
/// <c>youtu_state_store_up</c> (1 connected, 0 not; absent with the in-memory store),
/// <c>youtu_state_store_latency_seconds</c> (one round trip, by operation),
/// <c>youtu_state_store_errors_total</c> (operations that failed because the store was unreachable, by operation),
/// <c>youtu_state_store_skipped_total</c> (entries read but ignored: <c>corrupt</c> or written by a <c>newer</c> version).
/// </summary>
internal static class StateStoreMetrics
{
    private static readonly double[] Buckets = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
    private static readonly Meter Meter = new("YoutuServer", typeof(StateStoreMetrics).Assembly.GetName().Version?.ToString());
    private static readonly Lock Gate = new();
    private static Func<bool>[] upSources = [];

    public static readonly Histogram<double> Latency = Meter.CreateHistogram(
        "youtu.state_store.latency", "s", "Time of one state store round trip, by operation.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Buckets });

    public static readonly Counter<long> Errors = Meter.CreateCounter<long>(
        "youtu.state_store.errors", "{operation}", "State store operations that failed because the store was unreachable or timed out, by operation.");

    public static readonly Counter<long> Skipped = Meter.CreateCounter<long>(
        "youtu.state_store.skipped", "{entry}", "Stored entries ignored on read: corrupt (half-written, altered) or newer (written by a newer version).");

    static StateStoreMetrics()
    {
        Meter.CreateObservableGauge("youtu.state_store.up", ObserveUp, "{store}", "1 when the shared state store is connected, 0 when not (absent with the in-memory store).");
    }

    /// <summary>Adds a store whose connection state the gauge reports; dispose the result to remove it.</summary>
    public static IDisposable AddStore(Func<bool> isUp)
    {
        lock (Gate)
        {
            upSources = [.. upSources, isUp];
        }

        return new Removal(isUp);
    }

    private static IEnumerable<Measurement<int>> ObserveUp()
    {
        foreach (var s in Volatile.Read(ref upSources))
        {
            yield return new Measurement<int>(s() ? 1 : 0);
        }
    }

    private sealed class Removal(Func<bool> source) : IDisposable
    {
        public void Dispose()
        {
            lock (Gate)
            {
                upSources = [.. upSources.Where(s => s != source)];
            }
        }
    }
}
