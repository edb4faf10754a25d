using System.Text.Json;
using YoutuServer.Cli.Bench;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Load;

/// <summary>`bench serve` against a live server on the tiny model: fixed output lengths, metrics, prefix reuse, report.</summary>
public sealed class ServeBenchTests
{
    [Fact]
    public async Task Bench_serve_measures_a_live_server_and_reports_markdown_and_json()
    {
        await using var server = await LiveServer.StartAsync("--parallel", "4", "--ctx-size", "4096");
        var settings = BenchSettings.Parse([
            "--url", server.BaseAddress.ToString(), "--concurrency", "4", "--requests", "12", "--prompt-tokens", "16,64",
            "--max-tokens", "8,12", "--seed", "3", "--ratio-prompt", "32", "--ratio-tokens", "16", "--repeats", "1",
            "--ttft-requests", "3", "--prefix-tokens", "600", "--prefix-repeats", "1", "--no-progress",
        ]);
        using var client = new StreamingClient(server.BaseAddress, null, TestTimeouts.Seconds(60));
        var pool = new PromptPool(settings.Seed);
        await pool.InitializeAsync(client, 2048, wantTokens: true, CancellationToken.None);
        Assert.True(pool.ExactTokens, "youtu-server has /tokenize: prompts are exact token ids");
        var runner = new BenchRunner(settings, client, pool, "tiny-youtu", TextWriter.Null);
        await runner.WarmUpAsync(CancellationToken.None);

        var (load, results, mix) = await runner.LoadAsync(CancellationToken.None);
        Assert.Equal(12, load.Completed);
        Assert.Empty(load.Errors);
        Assert.Equal(0, load.LengthMismatches); // ignore_eos + min_tokens fix every output length
        Assert.Equal(mix.Sum(m => m.Output), load.OutputTokens);
        Assert.All(results, r => Assert.Equal(r.OutputTokens, mix[results.ToList().IndexOf(r)].Output));
        Assert.True(results.Zip(mix).All(p => p.First.PromptTokens == p.Second.Prompt), "prompt lengths are exact");
        Assert.True(load.TtftMs.Count == 12 && load.TtftMs.P50 > 0 && load.ItlMs.Count > 0 && load.TpotMs.P99 >= load.TpotMs.P50);

        var single = await runner.RatioAsync(1, CancellationToken.None);
        var eight = await runner.RatioAsync(8, CancellationToken.None);
        // A loaded machine can deliver a whole 17-token stream in one read: no measurable decode window (NaN).
        Assert.Single(single.Runs);
        Assert.Single(eight.Runs);
        Assert.All(single.Runs.Concat(eight.Runs), r => Assert.True(double.IsNaN(r) || r > 0, $"decode rate {r}"));
        var ttft = await runner.TtftAsync(CancellationToken.None);
        Assert.Equal(3, ttft.TtftMs.Count);
        var prefix = await runner.PrefixAsync(CancellationToken.None);
        Assert.Empty(prefix.Errors);
        Assert.True(prefix.WarmCached[0] >= 600, $"the second turn reuses the shared prefix (cached {prefix.WarmCached[0]})");

        var report = new BenchReport { Settings = settings, Target = "test", ServedModel = "tiny-youtu", PromptSource = pool.Source, Single = single, Eight = eight, Ttft = ttft, Load = load, Prefix = prefix };
        var md = report.ToMarkdown();
        Assert.Contains("| req/s | output tok/s |", md, StringComparison.Ordinal);
        Assert.Contains("### Prefix reuse", md, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(report.ToJson());
        Assert.Equal(12, json.RootElement.GetProperty("load").GetProperty("completed").GetInt32());
    }

    [Fact]
    public void Steady_state_counts_only_the_window_where_every_stream_decodes()
    {
        static StreamResult Stream(long first, int chunks, long every)
        {
            var r = new StreamResult { Start = 0, UsageSeen = true, CompletionTokens = chunks };
            for (var i = 0; i < chunks; i++)
            {
                r.TokenChunks.Add(first + i * every);
            }

            r.LastChunk = r.TokenChunks[^1];
            return r;
        }

        var f = System.Diagnostics.Stopwatch.Frequency;
        // Two streams at 100 tok/s each, the second starting 0.5 s later: 200 tok/s while both run.
        var a = Stream(0, 300, f / 100);
        var b = Stream(f / 2, 300, f / 100);
        var rate = BenchRunner.SteadyState([a, b]);
        Assert.InRange(rate, 190, 210);
        Assert.InRange(a.DecodeTokensPerSecond, 95, 105);
    }
}
