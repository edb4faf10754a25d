using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace YoutuServer.Cli.Bench;

/// <summary>Everything one `bench serve` run measured, as a markdown report and as JSON.</summary>
internal sealed class BenchReport
{
    public required BenchSettings Settings { get; init; }
    public required string Target { get; init; }
    public required string ServedModel { get; init; }
    public required string PromptSource { get; init; }
    public RawBaselineResult? Raw { get; set; }
    public RatioResult? Single { get; set; }
    public RatioResult? Eight { get; set; }
    public TtftResult? Ttft { get; set; }
    public RunSummary? Load { get; set; }
    public PrefixResult? Prefix { get; set; }
    public IReadOnlyList<string> Notes { get; set; } = [];

    private static string F(double v, string format = "F1") => Distribution.Fmt(v, format);

    private static string Ratio(double a, double b) => double.IsNaN(a) || double.IsNaN(b) || b == 0 ? "n/a" : (a / b).ToString("F3", CultureInfo.InvariantCulture);

    /// <summary>Server-added TTFT: HTTP TTFT minus the raw warm prompt evaluation of the same prompt length.</summary>
    public double ServerAddedTtftP50 => Ttft is null || Raw is null ? double.NaN : Ttft.TtftMs.P50 - Raw.WarmPromptMs;

    public string ToMarkdown()
    {
        var s = Settings;
        var sb = new StringBuilder();
        sb.AppendLine("## youtu-server bench serve");
        sb.AppendLine();
        sb.AppendLine($"- target: {Target}; model `{ServedModel}`; endpoint /v1/{(s.Endpoint == "chat" ? "chat/completions" : "completions")}; prompts: {PromptSource}");
        sb.AppendLine($"- fixed output lengths (ignore_eos + min_tokens = max_tokens), temperature {(double.IsNaN(s.Temperature) ? "server default" : s.Temperature.ToString(CultureInfo.InvariantCulture))}, seed {s.Seed}");
        if (s.Model is not null)
        {
            sb.AppendLine($"- server in-process: --parallel {s.Parallel} --ctx-size {s.CtxSize} --batch-size {s.BatchSize} --threads {(s.Threads > 0 ? s.Threads.ToString(CultureInfo.InvariantCulture) : "all")}; raw baseline: RawDecodeBenchmark on the same file and threads");
        }

        if (Single is not null || Eight is not null)
        {
            sb.AppendLine();
            sb.AppendLine($"### HTTP end-to-end vs raw llama.cpp decode ({s.RatioPrompt}-token prompts, {s.RatioTokens} decode steps per stream, median of {s.Repeats})");
            sb.AppendLine();
            sb.AppendLine("| streams | raw llama.cpp tok/s | HTTP end-to-end tok/s | end-to-end / raw | target |");
            sb.AppendLine("|---|---|---|---|---|");
            if (Single is not null)
            {
                sb.AppendLine($"| 1 | {F(Raw?.Single ?? double.NaN)} | {F(Single.Median)} | {Ratio(Single.Median, Raw?.Single ?? double.NaN)} | ≥ 0.97 |");
            }

            if (Eight is not null)
            {
                sb.AppendLine($"| 8 | {F(Raw?.Eight ?? double.NaN)} | {F(Eight.Median)} | {Ratio(Eight.Median, Raw?.Eight ?? double.NaN)} | ≥ 0.95 |");
            }
        }

        if (Ttft is not null)
        {
            sb.AppendLine();
            sb.AppendLine($"### Time to first token ({Ttft.PromptTokens}-token prompts, {Ttft.TtftMs.Count} sequential requests)");
            sb.AppendLine();
            sb.AppendLine("| TTFT p50 / p90 / p99 ms | raw prompt evaluation ms | TTFT p50 − raw prompt evaluation ms | TTFT − the request's own queue + prompt ms (server timings) p50 / p90 / p99 | target |");
            sb.AppendLine("|---|---|---|---|---|");
            sb.AppendLine($"| {Ttft.TtftMs.Triple} | {F(Raw?.WarmPromptMs ?? double.NaN, "F2")} | {F(ServerAddedTtftP50, "F2")} | {(Ttft.OverServerMs is { } o ? o.Triple : "n/a (no timings)")} | ≤ 5 |");
        }

        if (Prefix is not null)
        {
            sb.AppendLine();
            sb.AppendLine($"### Prefix reuse ({Prefix.PrefixTokens:N0}-token shared prefix, {Prefix.ColdMs.Count} conversations, medians)");
            sb.AppendLine();
            sb.AppendLine("| cold turn TTFT ms | second turn TTFT ms | second / cold | cached tokens (second turn) | target |");
            sb.AppendLine("|---|---|---|---|---|");
            var cached = Prefix.WarmCached.Count == 0 ? "n/a" : string.Join(", ", Prefix.WarmCached.Zip(Prefix.WarmPrompt, (c, p) => $"{c?.ToString(CultureInfo.InvariantCulture) ?? "?"}/{p}"));
            sb.AppendLine($"| {F(Prefix.Cold)} | {F(Prefix.Warm)} | {F(Prefix.Ratio, "F3")} | {cached} | ≤ 0.2 |");
        }

        if (Load is { } l)
        {
            sb.AppendLine();
            sb.AppendLine($"### Load: {s.Concurrency} concurrent streams, {s.Requests} requests, prompt tokens {string.Join(',', s.PromptTokens)} × output tokens {string.Join(',', s.MaxTokens)}");
            sb.AppendLine();
            sb.AppendLine("| req/s | output tok/s | total tok/s | TTFT p50 / p90 / p99 ms | TPOT p50 / p90 / p99 ms | ITL p50 / p90 / p99 ms | E2E p50 ms | ok | errors |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
            sb.AppendLine($"| {F(l.RequestsPerSecond, "F2")} | {F(l.OutputTokensPerSecond)} | {F(l.TotalTokensPerSecond)} | {l.TtftMs.Triple} | {l.TpotMs.Triple} | {l.ItlMs.Triple} | {F(l.LatencyMs.P50)} | {l.Completed}/{l.Requests} | {l.ErrorText} |");
            if (l.LengthMismatches > 0 || l.MissingUsage > 0)
            {
                sb.AppendLine();
                sb.AppendLine($"({l.LengthMismatches} responses had a completion_tokens other than max_tokens; {l.MissingUsage} had no usage chunk.)");
            }
        }

        foreach (var n in Notes)
        {
            sb.AppendLine();
            sb.AppendLine(n);
        }

        return sb.ToString();
    }

    public string ToJson()
    {
        var s = Settings;
        var root = new JsonObject
        {
            ["target"] = Target,
            ["model"] = ServedModel,
            ["endpoint"] = s.Endpoint,
            ["prompts"] = PromptSource,
            ["settings"] = new JsonObject
            {
                ["concurrency"] = s.Concurrency,
                ["requests"] = s.Requests,
                ["prompt_tokens"] = new JsonArray([.. s.PromptTokens.Select(p => (JsonNode)p)]),
                ["max_tokens"] = new JsonArray([.. s.MaxTokens.Select(p => (JsonNode)p)]),
                ["seed"] = s.Seed,
                ["temperature"] = double.IsNaN(s.Temperature) ? System.Text.Json.Nodes.JsonValue.Create("default") : System.Text.Json.Nodes.JsonValue.Create(s.Temperature),
                ["threads"] = s.Threads,
                ["parallel"] = s.Parallel,
                ["ctx_size"] = s.CtxSize,
                ["batch_size"] = s.BatchSize,
                ["ratio_prompt"] = s.RatioPrompt,
                ["ratio_tokens"] = s.RatioTokens,
                ["repeats"] = s.Repeats,
                ["prefix_tokens"] = s.PrefixTokens,
            },
        };
        if (Raw is not null)
        {
            root["raw"] = Raw.ToJson();
        }

        if (Single is not null || Eight is not null)
        {
            root["end_to_end_vs_raw"] = new JsonObject
            {
                ["single"] = Single?.ToJson(),
                ["eight"] = Eight?.ToJson(),
                ["single_ratio"] = Raw is null || Single is null ? null : Distribution.Num(Single.Median / Raw.Single),
                ["eight_ratio"] = Raw is null || Eight is null ? null : Distribution.Num(Eight.Median / Raw.Eight),
            };
        }

        if (Ttft is not null)
        {
            root["ttft"] = new JsonObject
            {
                ["prompt_tokens"] = Ttft.PromptTokens,
                ["ttft_ms"] = Ttft.TtftMs.ToJson(),
                ["raw_prompt_eval_ms"] = Raw is null ? null : Distribution.Num(Raw.WarmPromptMs),
                ["server_added_ttft_p50_ms"] = Distribution.Num(ServerAddedTtftP50),
                ["ttft_over_server_queue_and_prompt_ms"] = Ttft.OverServerMs?.ToJson(),
            };
        }

        if (Prefix is not null)
        {
            root["prefix_reuse"] = new JsonObject
            {
                ["prefix_tokens"] = Prefix.PrefixTokens,
                ["cold_ttft_ms"] = new JsonArray([.. Prefix.ColdMs.Select(Distribution.Num)]),
                ["second_turn_ttft_ms"] = new JsonArray([.. Prefix.WarmMs.Select(Distribution.Num)]),
                ["cold_cached_tokens"] = new JsonArray([.. Prefix.ColdCached.Select(c => c is null ? null : (JsonNode)c.Value)]),
                ["second_turn_cached_tokens"] = new JsonArray([.. Prefix.WarmCached.Select(c => c is null ? null : (JsonNode)c.Value)]),
                ["second_turn_prompt_tokens"] = new JsonArray([.. Prefix.WarmPrompt.Select(p => (JsonNode)p)]),
                ["ratio_median"] = Distribution.Num(Prefix.Ratio),
            };
        }

        if (Load is not null)
        {
            root["load"] = Load.ToJson();
        }

        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
