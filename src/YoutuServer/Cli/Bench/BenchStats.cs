using System.Diagnostics;
using System.Text.Json.Nodes;

namespace YoutuServer.Cli.Bench;

/// <summary>Mean and percentiles of a sample (linear interpolation between closest ranks, as numpy).</summary>
internal sealed record Distribution(int Count, double Mean, double P50, double P90, double P99, double Min, double Max)
{
    public static readonly Distribution Empty = new(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);

    public static Distribution Of(IEnumerable<double> values)
    {
        var v = values.Where(x => !double.IsNaN(x)).Order().ToArray();
        return v.Length == 0 ? Empty : new Distribution(v.Length, v.Average(), Percentile(v, 50), Percentile(v, 90), Percentile(v, 99), v[0], v[^1]);
    }

    public static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = p / 100.0 * (sorted.Length - 1);
        var lo = (int)Math.Floor(rank);
        var hi = (int)Math.Ceiling(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }

    public static double Median(IEnumerable<double> values) => Of(values).P50;

    public string Triple => $"{Fmt(P50)} / {Fmt(P90)} / {Fmt(P99)}";

    public static string Fmt(double v, string format = "F1") => double.IsNaN(v) || double.IsInfinity(v) ? "n/a" : v.ToString(format, System.Globalization.CultureInfo.InvariantCulture);

    public JsonObject ToJson() => new()
    {
        ["count"] = Count,
        ["mean"] = Num(Mean),
        ["p50"] = Num(P50),
        ["p90"] = Num(P90),
        ["p99"] = Num(P99),
        ["min"] = Num(Min),
        ["max"] = Num(Max),
    };

    public static JsonNode? Num(double v) => double.IsNaN(v) || double.IsInfinity(v) ? null : JsonValue.Create(Math.Round(v, 3));
}

/// <summary>Aggregates of one run of many requests.</summary>
internal sealed record RunSummary(
    int Requests,
    int Completed,
    int Failed,
    double DurationSeconds,
    long OutputTokens,
    long PromptTokens,
    Distribution TtftMs,
    Distribution TpotMs,
    Distribution ItlMs,
    Distribution LatencyMs,
    IReadOnlyDictionary<string, int> Errors,
    int LengthMismatches,
    int MissingUsage,
    int Retries)
{
    public double RequestsPerSecond => Completed / DurationSeconds;
    public double OutputTokensPerSecond => OutputTokens / DurationSeconds;
    public double TotalTokensPerSecond => (OutputTokens + PromptTokens) / DurationSeconds;

    public static RunSummary Of(IReadOnlyList<StreamResult> results, IReadOnlyList<int> expectedOutput, long start, long end)
    {
        var ok = results.Where(r => r.Ok).ToList();
        var errors = results.Where(r => !r.Ok).GroupBy(r => r.Error!).OrderByDescending(g => g.Count()).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var mismatches = 0;
        for (var i = 0; i < results.Count; i++)
        {
            if (results[i].Ok && results[i].UsageSeen && results[i].CompletionTokens != expectedOutput[i])
            {
                mismatches++;
            }
        }

        return new RunSummary(
            results.Count,
            ok.Count,
            results.Count - ok.Count,
            Math.Max(1e-9, Stopwatch.GetElapsedTime(start, end).TotalSeconds),
            ok.Sum(r => (long)r.OutputTokens),
            ok.Sum(r => (long)r.PromptTokens),
            Distribution.Of(ok.Select(r => r.TtftMs)),
            Distribution.Of(ok.Select(r => r.TpotMs)),
            Distribution.Of(ok.SelectMany(r => r.ItlMs())),
            Distribution.Of(ok.Select(r => r.LatencyMs)),
            errors,
            mismatches,
            ok.Count(r => !r.UsageSeen),
            results.Sum(r => r.Retries));
    }

    public string ErrorText => (Errors.Count == 0 ? "0" : string.Join(", ", Errors.Select(e => $"{e.Key} ×{e.Value}")))
        + (Retries > 0 ? $" ({Retries} connection retries)" : "");

    public JsonObject ToJson()
    {
        var errors = new JsonObject();
        foreach (var (k, v) in Errors)
        {
            errors[k] = v;
        }

        return new JsonObject
        {
            ["requests"] = Requests,
            ["completed"] = Completed,
            ["failed"] = Failed,
            ["duration_s"] = Distribution.Num(DurationSeconds),
            ["request_throughput"] = Distribution.Num(RequestsPerSecond),
            ["output_tokens"] = OutputTokens,
            ["prompt_tokens"] = PromptTokens,
            ["output_tok_s"] = Distribution.Num(OutputTokensPerSecond),
            ["total_tok_s"] = Distribution.Num(TotalTokensPerSecond),
            ["ttft_ms"] = TtftMs.ToJson(),
            ["tpot_ms"] = TpotMs.ToJson(),
            ["itl_ms"] = ItlMs.ToJson(),
            ["e2e_latency_ms"] = LatencyMs.ToJson(),
            ["errors"] = errors,
            ["output_length_mismatches"] = LengthMismatches,
            ["missing_usage"] = MissingUsage,
            ["connection_retries"] = Retries,
        };
    }
}

/// <summary>A one-line progress bar on stderr (a line every few seconds when stderr is not a terminal).</summary>
internal sealed class ProgressBar : IAsyncDisposable
{
    private readonly string label;
    private readonly int total;
    private readonly bool enabled;
    private readonly bool redirected = Console.IsErrorRedirected;
    private readonly long start = Stopwatch.GetTimestamp();
    private readonly CancellationTokenSource stop = new();
    private readonly Task loop;
    private int done;
    private int failed;
    private long tokens;

    public ProgressBar(string label, int total, bool enabled)
    {
        this.label = label;
        this.total = total;
        this.enabled = enabled;
        loop = enabled ? RunAsync() : Task.CompletedTask;
    }

    public void Completed(StreamResult r)
    {
        Interlocked.Increment(ref done);
        if (!r.Ok)
        {
            Interlocked.Increment(ref failed);
        }

        Interlocked.Add(ref tokens, r.OutputTokens);
    }

    private async Task RunAsync()
    {
        var every = redirected ? TimeSpan.FromSeconds(5) : TimeSpan.FromMilliseconds(250);
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(every, stop.Token);
                Draw(final: false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Draw(bool final)
    {
        var d = Volatile.Read(ref done);
        var secs = Stopwatch.GetElapsedTime(start).TotalSeconds;
        const int width = 30;
        var filled = total == 0 ? width : Math.Min(width, d * width / total);
        var line = $"{label} [{new string('#', filled)}{new string('.', width - filled)}] {d}/{total} requests, {Volatile.Read(ref failed)} failed, {Interlocked.Read(ref tokens) / Math.Max(secs, 1e-3):F1} output tok/s, {secs:F1}s";
        Console.Error.Write(redirected ? line + "\n" : "\r" + line + (final ? "\n" : ""));
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        await loop;
        if (enabled)
        {
            Draw(final: true);
        }

        stop.Dispose();
    }
}
