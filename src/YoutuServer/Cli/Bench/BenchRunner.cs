using System.Diagnostics;
using System.Text.Json.Nodes;

namespace YoutuServer.Cli.Bench;

/// <summary>HTTP decode rates of 1 and 8 concurrent streams (the numerators of the end-to-end / raw ratios).</summary>
internal sealed record RatioResult(int Streams, IReadOnlyList<double> Runs, IReadOnlyDictionary<string, int> Errors)
{
    public double Median => Distribution.Median(Runs);

    public JsonObject ToJson()
    {
        var errors = new JsonObject();
        foreach (var (k, v) in Errors)
        {
            errors[k] = v;
        }

        return new JsonObject { ["streams"] = Streams, ["tok_s"] = Distribution.Num(Median), ["runs"] = new JsonArray([.. Runs.Select(Distribution.Num)]), ["errors"] = errors };
    }
}

/// <summary>OverServerMs: each request's TTFT minus its own queue + prompt time as the server reported it (timings).</summary>
internal sealed record TtftResult(int PromptTokens, Distribution TtftMs, IReadOnlyDictionary<string, int> Errors, Distribution? OverServerMs = null);

internal sealed record PrefixResult(int PrefixTokens, IReadOnlyList<double> ColdMs, IReadOnlyList<double> WarmMs, IReadOnlyList<int?> ColdCached, IReadOnlyList<int?> WarmCached, IReadOnlyList<int> WarmPrompt, IReadOnlyDictionary<string, int> Errors)
{
    public double Cold => Distribution.Median(ColdMs);
    public double Warm => Distribution.Median(WarmMs);
    public double Ratio => Distribution.Median(ColdMs.Zip(WarmMs, (c, w) => w / c));
}

/// <summary>The HTTP scenarios of `bench serve`, against any OpenAI-compatible URL.</summary>
internal sealed class BenchRunner(BenchSettings s, StreamingClient client, PromptPool pool, string model, TextWriter log)
{
    private const int TurnSuffix = 32;
    private const int PrefixOutput = 16;

    // --served-model a,b,c: the load run spreads its requests over these (LoRA adapters of one server); the other
    // scenarios use the first.
    private readonly string[] models = model.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private string PathFor => BenchBodies.Path(s.Endpoint);
    private bool TextPrompts => s.Endpoint == "chat";

    private Task<StreamResult> One(BenchPrompt p, int maxTokens, int seed, CancellationToken ct)
        => client.StreamAsync(PathFor, BenchBodies.Build(s.Endpoint, models[0], p, maxTokens, seed, s.Temperature), ct);

    public async Task WarmUpAsync(CancellationToken ct)
    {
        var rng = new Random(s.Seed + 7);
        for (var i = 0; i < 3; i++)
        {
            var r = await One(pool.Make(Math.Min(32, s.RatioPrompt), rng, TextPrompts), 8, i, ct);
            if (!r.Ok)
            {
                throw new CliException($"warm-up request failed: {r.Error} {r.ErrorDetail}");
            }
        }
    }

    /// <summary>
    /// <paramref name="streams"/> concurrent streams of RatioPrompt prompt tokens and RatioTokens + 1 output tokens
    /// (the first comes from the prompt, then RatioTokens decode steps, as in the raw benchmark). One stream: its
    /// decode rate. Several: the steady-state aggregate over the window where all of them are decoding (from the last
    /// stream's first token to the first stream's last token), each stream's text chunks in the window scaled by its
    /// tokens per chunk (a chunk may carry more than one token when a UTF-8 character spans tokens).
    /// </summary>
    public async Task<RatioResult> RatioAsync(int streams, CancellationToken ct)
    {
        var runs = new List<double>();
        var errors = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var rep = 0; rep < s.Repeats; rep++)
        {
            var rng = new Random(s.Seed * 7919 + rep * 31 + streams);
            var prompts = Enumerable.Range(0, streams).Select(_ => pool.Make(s.RatioPrompt, rng, TextPrompts)).ToList();
            var results = await Task.WhenAll(prompts.Select((p, i) => One(p, s.RatioTokens + 1, s.Seed + i, ct)));
            foreach (var r in results.Where(r => !r.Ok))
            {
                errors[r.Error!] = errors.GetValueOrDefault(r.Error!) + 1;
            }

            if (results.All(r => r.Ok && r.HasTokens))
            {
                var rate = streams == 1 ? results[0].DecodeTokensPerSecond : SteadyState(results);
                runs.Add(rate);
            }

            log.WriteLine($"bench: HTTP {streams} stream(s), run {rep + 1}/{s.Repeats}: {(runs.Count > 0 ? runs[^1] : double.NaN):F1} tok/s");
        }

        return new RatioResult(streams, runs, errors);
    }

    internal static double SteadyState(IReadOnlyList<StreamResult> results)
    {
        var from = results.Max(r => r.TokenChunks[0]);
        var to = results.Min(r => r.LastChunk);
        if (to <= from)
        {
            // No common window (streams ran one after another): total decode tokens over the whole span.
            var span = Stopwatch.GetElapsedTime(results.Min(r => r.TokenChunks[0]), results.Max(r => r.LastChunk)).TotalSeconds;
            return span > 0 ? results.Sum(r => Math.Max(0, r.OutputTokens - 1)) / span : double.NaN;
        }

        var tokens = results.Sum(r => r.TokensAfter(from, to));
        return tokens > 0 ? tokens / Stopwatch.GetElapsedTime(from, to).TotalSeconds : double.NaN;
    }

    /// <summary>Sequential requests (one at a time) of RatioPrompt tokens and 2 output tokens: time to first token.</summary>
    public async Task<TtftResult> TtftAsync(CancellationToken ct)
    {
        var rng = new Random(s.Seed * 104729);
        var results = new List<StreamResult>();
        for (var i = 0; i < s.TtftRequests; i++)
        {
            results.Add(await One(pool.Make(s.RatioPrompt, rng, TextPrompts), 2, s.Seed + i, ct));
        }

        var errors = results.Where(r => !r.Ok).GroupBy(r => r.Error!).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var over = results.Where(r => r.Ok && r.ServerQueueAndPromptMs is not null).Select(r => r.TtftMs - r.ServerQueueAndPromptMs!.Value).ToList();
        return new TtftResult(s.RatioPrompt, Distribution.Of(results.Where(r => r.Ok).Select(r => r.TtftMs)), errors, over.Count > 0 ? Distribution.Of(over) : null);
    }

    /// <summary>The load run: Concurrency closed-loop clients share Requests requests of the prompt/output mix.</summary>
    public async Task<(RunSummary Summary, IReadOnlyList<StreamResult> Results, IReadOnlyList<(int Prompt, int Output)> Mix)> LoadAsync(CancellationToken ct)
    {
        var rng = new Random(s.Seed);
        var mix = new List<(int Prompt, int Output)>();
        var bodies = new List<byte[]>();
        for (var i = 0; i < s.Requests; i++)
        {
            var p = s.PromptTokens[rng.Next(s.PromptTokens.Count)];
            var o = s.MaxTokens[rng.Next(s.MaxTokens.Count)];
            mix.Add((p, o));
            bodies.Add(BenchBodies.Build(s.Endpoint, models[i % models.Length], pool.Make(p, rng, TextPrompts), o, s.Seed + i, s.Temperature));
        }

        var results = new StreamResult[s.Requests];
        var next = -1;
        var start = Stopwatch.GetTimestamp();
        await using (var progress = new ProgressBar($"bench: load c={s.Concurrency}", s.Requests, s.Progress))
        {
            var workers = Enumerable.Range(0, Math.Min(s.Concurrency, s.Requests)).Select(async _ =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < s.Requests)
                {
                    results[i] = await client.StreamAsync(PathFor, bodies[i], ct);
                    progress.Completed(results[i]);
                }
            });
            await Task.WhenAll(workers);
        }

        var end = Stopwatch.GetTimestamp();
        return (RunSummary.Of(results, mix.Select(m => m.Output).ToList(), start, end), results, mix);
    }

    /// <summary>
    /// Conversations with a shared PrefixTokens-token prefix: the cold turn (prefix + 32 tokens, never seen before)
    /// then the second turn (the first turn's prompt + 32 more tokens), one after the other. TTFT of both and the
    /// cached_tokens the server reports for each.
    /// </summary>
    public async Task<PrefixResult> PrefixAsync(CancellationToken ct)
    {
        var rng = new Random(s.Seed * 15485863);
        var cold = new List<double>();
        var warm = new List<double>();
        var coldCached = new List<int?>();
        var warmCached = new List<int?>();
        var warmPrompt = new List<int>();
        var errors = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var c = 0; c < s.PrefixRepeats; c++)
        {
            var prefix = pool.Make(s.PrefixTokens, rng, TextPrompts);
            var first = pool.Extend(prefix, TurnSuffix, rng);
            var second = pool.Extend(first, TurnSuffix, rng);
            var a = await One(first, PrefixOutput, s.Seed + c, ct);
            var b = await One(second, PrefixOutput, s.Seed + c, ct);
            foreach (var r in new[] { a, b }.Where(r => !r.Ok))
            {
                errors[r.Error!] = errors.GetValueOrDefault(r.Error!) + 1;
            }

            if (a.Ok && b.Ok)
            {
                cold.Add(a.TtftMs);
                warm.Add(b.TtftMs);
                coldCached.Add(a.CachedTokens);
                warmCached.Add(b.CachedTokens);
                warmPrompt.Add(b.PromptTokens);
                log.WriteLine($"bench: prefix conversation {c + 1}/{s.PrefixRepeats}: cold TTFT {a.TtftMs:F1} ms, second turn {b.TtftMs:F1} ms ({b.CachedTokens?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"} of {b.PromptTokens} prompt tokens cached)");
            }
        }

        return new PrefixResult(s.PrefixTokens, cold, warm, coldCached, warmCached, warmPrompt, errors);
    }
}
