using System.Text.Json.Nodes;
using YoutuServer.Engine;
using YoutuServer.Engine.Benchmarks;
using YoutuServer.Engine.Model;

namespace YoutuServer.Cli.Bench;

/// <summary>The raw llama.cpp numbers the HTTP results are divided by (same model file, threads and batch size).</summary>
internal sealed record RawBaselineResult(
    string Model,
    int PromptTokens,
    int Steps,
    IReadOnlyList<double> SingleRuns,
    IReadOnlyList<double> EightRuns,
    IReadOnlyList<double> WarmPromptMsRuns,
    double ColdPromptMs)
{
    /// <summary>Median single-sequence decode tok/s.</summary>
    public double Single => Distribution.Median(SingleRuns);
    /// <summary>Median aggregate decode tok/s of 8 sequences in one batch per step.</summary>
    public double Eight => Distribution.Median(EightRuns);
    /// <summary>Median time to decode one prompt of <see cref="PromptTokens"/> tokens and sample its first token, warm.</summary>
    public double WarmPromptMs => Distribution.Median(WarmPromptMsRuns);

    public JsonObject ToJson() => new()
    {
        ["model"] = Model,
        ["prompt_tokens"] = PromptTokens,
        ["decode_steps"] = Steps,
        ["single_tok_s"] = Distribution.Num(Single),
        ["eight_tok_s"] = Distribution.Num(Eight),
        ["single_runs"] = new JsonArray([.. SingleRuns.Select(Distribution.Num)]),
        ["eight_runs"] = new JsonArray([.. EightRuns.Select(Distribution.Num)]),
        ["prompt_eval_ms_warm"] = Distribution.Num(WarmPromptMs),
        ["prompt_eval_ms_warm_runs"] = new JsonArray([.. WarmPromptMsRuns.Select(Distribution.Num)]),
        ["prompt_eval_ms_first_in_context"] = Distribution.Num(ColdPromptMs),
    };
}

internal static class RawBaseline
{
    /// <summary>
    /// Loads the model, runs RawDecodeBenchmark (1 and 8 sequences, <c>repeats</c> times each, after a warm-up),
    /// and measures warm prompt evaluation by difference: a run with two prompts minus a run with one (each run
    /// opens a fresh context, so the first decode's one-off cost cancels out).
    /// </summary>
    public static RawBaselineResult Run(BenchSettings s, TextWriter log)
    {
        var options = new EngineOptions
        {
            ModelPath = s.Model!,
            Parallel = Math.Max(8, s.Parallel),
            CtxSize = s.CtxSize,
            Threads = s.Threads,
            BatchSize = s.BatchSize,
            GpuLayers = s.GpuLayers,
            PrefixCache = false,
        };
        using var model = LlamaModel.Load(options);
        log.WriteLine($"bench: raw llama.cpp baseline on {model.Name} ({model.Description}, {model.ParameterCount:N0} params), threads {(s.Threads > 0 ? s.Threads : Environment.ProcessorCount)}");
        RawDecodeBenchmark.Run(model, options, 1, Math.Min(32, s.RatioPrompt), 8); // warm-up: first context, first graphs
        var single = new List<double>();
        var eight = new List<double>();
        var warm = new List<double>();
        var cold = new List<double>();
        for (var r = 0; r < s.Repeats; r++)
        {
            var one = RawDecodeBenchmark.Run(model, options, 1, s.RatioPrompt, s.RatioTokens);
            single.Add(one.TokensPerSecond);
            var many = RawDecodeBenchmark.Run(model, options, 8, s.RatioPrompt, s.RatioTokens);
            eight.Add(many.TokensPerSecond);
            log.WriteLine($"bench: raw run {r + 1}/{s.Repeats}: 1 sequence {one.TokensPerSecond:F1} tok/s, 8 sequences {many.TokensPerSecond:F1} tok/s");
        }

        for (var r = 0; r < Math.Max(3, s.Repeats * 2); r++)
        {
            var a = RawDecodeBenchmark.Run(model, options, 1, s.RatioPrompt, 1);
            var b = RawDecodeBenchmark.Run(model, options, 2, s.RatioPrompt, 1);
            var oneMs = s.RatioPrompt / a.PromptTokensPerSecond * 1000;
            var twoMs = 2 * s.RatioPrompt / b.PromptTokensPerSecond * 1000;
            cold.Add(oneMs);
            warm.Add(Math.Max(0, twoMs - oneMs));
        }

        log.WriteLine($"bench: raw prompt evaluation of {s.RatioPrompt} tokens: {Distribution.Median(warm):F2} ms warm, {Distribution.Median(cold):F2} ms as a context's first decode");
        return new RawBaselineResult(model.Name, s.RatioPrompt, s.RatioTokens, single, eight, warm, Distribution.Median(cold));
    }
}
