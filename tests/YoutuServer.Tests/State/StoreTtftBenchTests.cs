using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Xunit.Abstractions;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.State;

/// <summary>Runs only with <c>YOUTU_BENCH_REPLICAS=1</c> (a benchmark, minutes long); skipped with the reason otherwise.</summary>
public sealed class ReplicaBenchFact : FactAttribute
{
    public ReplicaBenchFact()
    {
        if (Environment.GetEnvironmentVariable("YOUTU_BENCH_REPLICAS") != "1")
        {
            Skip = "a benchmark: set YOUTU_BENCH_REPLICAS=1 to run it (see the class summary for the command)";
        }
    }
}

/// <summary>
/// The shared store's added TTFT (issue 23's done-when): `youtu-server bench serve --url PROXY` through YARP over two
/// replicas, once with each replica on <c>--state-store memory</c> and once on the shared store (Garnet), then
/// `bench sessions --api chat` (multi-turn: each turn resends the history, so the output memory is read before
/// generating) the same two ways. Prints TTFT p50 of both, the difference and the error counts; fails on any error.
/// Run (one line):
/// <c>YOUTU_BENCH_REPLICAS=1 dotnet test tests/YoutuServer.Tests --filter "FullyQualifiedName~StoreTtftBenchTests" --logger "console;verbosity=detailed"</c>;
/// <c>YOUTU_BENCH_SERVE_ARGS</c> / <c>YOUTU_BENCH_SESSIONS_ARGS</c> replace the default bench options (short ones, for
/// a check), <c>YOUTU_BENCH_REPORT=FILE</c> also writes the summary there.
/// </summary>
[Collection(ReplicaClusterCollection.Name)]
public sealed class StoreTtftBenchTests(ITestOutputHelper output)
{
    private const string DefaultServeArgs = "--endpoint chat --temperature default --scenarios ttft,load --ratio-prompt 128 --ttft-requests 40 --requests 32 --concurrency 4 --prompt-tokens 64,256 --max-tokens 16";
    private const string DefaultSessionsArgs = "--api chat --sessions 4 --turns 4 --system-tokens 300 --task-tokens 60 --tool-words 40 --max-tokens 8";

    [ReplicaBenchFact]
    public async Task Bench_serve_through_the_proxy_over_two_replicas_in_memory_then_on_the_shared_store()
    {
        var serveArgs = Environment.GetEnvironmentVariable("YOUTU_BENCH_SERVE_ARGS") ?? DefaultServeArgs;
        var sessionsArgs = Environment.GetEnvironmentVariable("YOUTU_BENCH_SESSIONS_ARGS") ?? DefaultSessionsArgs;
        var results = new Dictionary<string, Run>(StringComparer.Ordinal);
        foreach (var shared in new[] { false, true })
        {
            var name = shared ? "redis (Garnet)" : "memory";
            await using var cluster = await ReplicaCluster.StartAsync(shared, "A", "B");
            var proxy = cluster.Proxy.BaseAddress!.ToString();
            var serve = await BenchAsync("serve", proxy, serveArgs);
            var sessions = await BenchAsync("sessions", proxy, sessionsArgs);
            results[name] = new Run(
                serve.Exit,
                serve.Json?["ttft"]?["ttft_ms"]?["p50"]?.GetValue<double>(),
                serve.Json?["load"]?["ttft_ms"]?["p50"]?.GetValue<double>(),
                (serve.Json?["load"]?["failed"]?.GetValue<int>() ?? 0) + (serve.Exit == 0 ? 0 : 1),
                LaterTurnsTtftP50(sessions.Json),
                (sessions.Json?["failed"]?.GetValue<int>() ?? 0) + (sessions.Exit == 0 ? 0 : 1));
        }

        var m = results["memory"];
        var r = results["redis (Garnet)"];
        string F(double? v) => v is { } x ? x.ToString("0.00", CultureInfo.InvariantCulture) : "n/a";
        string D(double? a, double? b) => a is { } x && b is { } y ? (y - x).ToString("+0.00;-0.00", CultureInfo.InvariantCulture) : "n/a";
        var sb = new StringBuilder();
        sb.AppendLine("| store | bench serve TTFT p50 (ms, sequential) | load TTFT p50 (ms) | errors | sessions turns 2+ TTFT p50 (ms) | errors |");
        sb.AppendLine("|---|---|---|---|---|---|");
        foreach (var (name, x) in results)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {F(x.TtftP50)} | {F(x.LoadTtftP50)} | {x.ServeErrors} | {F(x.SessionsLaterTtft)} | {x.SessionsErrors} |");
        }

        sb.AppendLine(CultureInfo.InvariantCulture, $"| store's added TTFT | {D(m.TtftP50, r.TtftP50)} | {D(m.LoadTtftP50, r.LoadTtftP50)} | | {D(m.SessionsLaterTtft, r.SessionsLaterTtft)} | |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"bench serve {serveArgs}; bench sessions {sessionsArgs}; two replicas (--parallel 2 --ctx-size 2048 --threads 1, tiny random-weight model) behind round-robin YARP");
        output.WriteLine(sb.ToString());
        if (Environment.GetEnvironmentVariable("YOUTU_BENCH_REPORT") is { Length: > 0 } file)
        {
            await File.WriteAllTextAsync(file, sb.ToString());
        }

        Assert.All(results, kv => Assert.True(kv.Value.ServeErrors == 0 && kv.Value.SessionsErrors == 0, $"{kv.Key}: errors\n{sb}"));
        Assert.All(results, kv => Assert.True(kv.Value.TtftP50 is not null, $"{kv.Key}: no TTFT p50\n{sb}"));
    }

    /// <summary>The median TTFT of the sessions' answered requests after their first turn (those resend earlier answers).</summary>
    private static double? LaterTurnsTtftP50(JsonNode? report)
    {
        var ttfts = (report?["requests"]?.AsArray() ?? [])
            .Where(r => r!["turn"]!.GetValue<int>() > 1 && r["ok"]!.GetValue<bool>() && r["ttft_ms"] is not null)
            .Select(r => r!["ttft_ms"]!.GetValue<double>()).Order().ToList();
        return ttfts.Count == 0 ? null : ttfts.Count % 2 == 1 ? ttfts[ttfts.Count / 2] : (ttfts[(ttfts.Count / 2) - 1] + ttfts[ttfts.Count / 2]) / 2;
    }

    private sealed record Run(int Exit, double? TtftP50, double? LoadTtftP50, int ServeErrors, double? SessionsLaterTtft, int SessionsErrors);

    /// <summary>`youtu-server bench KIND --url PROXY ARGS --json FILE`: its exit code and JSON report.</summary>
    private async Task<(int Exit, JsonNode? Json)> BenchAsync(string kind, string proxy, string args)
    {
        var json = Path.Combine(Path.GetTempPath(), $"youtu-bench-{kind}-{Guid.NewGuid():N}.json");
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var a in (string[])[Path.Combine(AppContext.BaseDirectory, "youtu-server.dll"), "bench", kind, "--url", proxy, "--api-key", ReplicaCluster.KeyA, "--json", json, .. (kind == "serve" ? (string[])["--no-progress"] : [])])
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var a in args.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TestTimeouts.Seconds(1800));
        await process.WaitForExitAsync(cts.Token);
        output.WriteLine($"--- bench {kind} (exit {process.ExitCode})\n{await stdout}\n{await stderr}");
        try
        {
            return (process.ExitCode, File.Exists(json) ? JsonNode.Parse(await File.ReadAllTextAsync(json)) : null);
        }
        finally
        {
            File.Delete(json);
        }
    }
}
