using System.Globalization;
using System.Net;
using System.Text.Json;
using YoutuServer.Cli.Bench;
using YoutuServer.Hosting;

namespace YoutuServer.Cli;

/// <summary>
/// `youtu-server bench serve (--url URL | --model FILE) ...`: an end-to-end load generator for OpenAI-compatible
/// servers (streaming clients over HttpClient + SseParser). With --model it first runs the raw llama.cpp baseline
/// on the file, then starts youtu-server in-process on it and prints HTTP end-to-end / raw ratios, server-added
/// TTFT, the prefix-reuse gain and the load table. Markdown goes to stdout, progress and logs to stderr.
/// </summary>
internal static class ServeBench
{
    public static Task<int> RunAsync(string[] args)
    {
        var s = BenchSettings.Parse(args);
        return BenchTarget.RunAsync(async (console, server) =>
        {
            var log = console.Log;
            RawBaselineResult? raw = null;
            if (s.Model is not null && (s.Scenarios.Contains("ratio") || s.Scenarios.Contains("ttft")))
            {
                raw = RawBaseline.Run(s, log);
            }

            var baseUri = s.Model is not null
                ? await server.StartAsync(BenchTarget.ServeArgs(s.Model, s.Parallel, s.CtxSize, s.BatchSize, s.Threads, s.GpuLayers, s.Concurrency,
                    "--step-tokens", I(s.StepTokens), "--prompt-chunk", I(s.PromptChunk)))
                : StreamingClient.BaseUriOf(s.Url!);

            using var client = new StreamingClient(baseUri, s.ApiKey ?? Environment.GetEnvironmentVariable("OPENAI_API_KEY"), TimeSpan.FromSeconds(s.TimeoutSeconds));
            var model = s.ServedModel ?? await FirstModelAsync(client, console.Token);
            var pool = new PromptPool(s.Seed);
            var needed = new[] { 4096, s.PromptTokens.Max() * 2, s.PrefixTokens + 256, s.RatioPrompt * 2 }.Max();
            await pool.InitializeAsync(client, needed, wantTokens: s.Endpoint == "completions", console.Token);
            log.WriteLine($"bench: model '{model}' at {baseUri}; prompts: {pool.Source}");

            var runner = new BenchRunner(s, client, pool, model, log);
            await runner.WarmUpAsync(console.Token);
            var report = new BenchReport
            {
                Settings = s,
                Target = s.Model is not null ? $"youtu-server in-process on {Path.GetFileName(s.Model)}" : baseUri.ToString(),
                ServedModel = model,
                PromptSource = pool.Source,
                Raw = raw,
            };
            var notes = new List<string>();
            if (s.Scenarios.Contains("ratio"))
            {
                report.Single = await runner.RatioAsync(1, console.Token);
                report.Eight = await runner.RatioAsync(8, console.Token);
                if (s.Parallel < 8 && s.Model is not null)
                {
                    notes.Add($"Note: --parallel {s.Parallel} < 8, so the 8-stream run queues requests.");
                }
            }

            if (s.Scenarios.Contains("ttft"))
            {
                report.Ttft = await runner.TtftAsync(console.Token);
            }

            if (s.Scenarios.Contains("load"))
            {
                var (summary, results, _) = await runner.LoadAsync(console.Token);
                report.Load = summary;
                foreach (var bad in results.Where(r => !r.Ok).GroupBy(r => r.Error).Select(g => g.First()))
                {
                    log.WriteLine($"bench: first '{bad.Error}' error: {bad.ErrorDetail}");
                }
            }

            if (s.Scenarios.Contains("prefix"))
            {
                report.Prefix = await runner.PrefixAsync(console.Token);
            }

            notes.Add("Method: TTFT = request sent → first chunk with text; TPOT = (latency − TTFT) / (output tokens − 1); ITL = gaps between text chunks. "
                + "HTTP decode tok/s: one stream = (tokens − 1) / (first → last chunk); 8 streams = tokens in the window where all 8 decode / window. "
                + "Raw: RawDecodeBenchmark (greedy, one llama_decode per step). Server-added TTFT = HTTP TTFT p50 − raw prompt evaluation of the same length, "
                + "measured warm as (a run with two prompts) − (a run with one), each decode including the first token's sampling; "
                + "it also counts any difference between the server's prompt evaluation and the raw one (KV cells of other cached sequences, machine noise). "
                + "TTFT − the request's own queue + prompt ms uses the server's reported timings (youtu-server, llama-server) and leaves only HTTP, planning, "
                + "tokenizing, the first sample and the SSE write, plus any textless first tokens.");
            report.Notes = notes;

            await server.StopAsync();
            await console.ReportAsync(report.ToMarkdown(), s.JsonPath, report.ToJson);
            var failed = (report.Load?.Failed ?? 0) + (report.Single?.Errors.Values.Sum() ?? 0) + (report.Eight?.Errors.Values.Sum() ?? 0)
                + (report.Ttft?.Errors.Values.Sum() ?? 0) + (report.Prefix?.Errors.Values.Sum() ?? 0);
            return failed == 0 ? 0 : 1;
        });

        static string I(int v) => v.ToString(CultureInfo.InvariantCulture);
    }

    internal static async Task<string> FirstModelAsync(StreamingClient client, CancellationToken ct)
    {
        var (status, body) = await client.JsonAsync(HttpMethod.Get, "/v1/models", null, ct);
        using (body)
        {
            if (status == HttpStatusCode.OK && body?.RootElement is { ValueKind: JsonValueKind.Object } root
                && root.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Array && data.GetArrayLength() > 0
                && data[0].TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String)
            {
                return id.GetString()!;
            }
        }

        throw new CliException($"GET /v1/models answered {(int)status} without a model id; pass --served-model NAME");
    }
}
