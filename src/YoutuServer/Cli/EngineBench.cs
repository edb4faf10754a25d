using System.Diagnostics;
using YoutuServer.Engine;
using YoutuServer.Engine.Benchmarks;
using YoutuServer.Engine.Model;
using YoutuServer.Engine.Sampling;
using YoutuServer.Engine.Scheduling;

namespace YoutuServer.Cli;

/// <summary>
/// `youtu-server bench engine --model FILE [--parallel 1,4,8] [--tokens N] [--prompt N] [--repeat R]`: raw llama.cpp loops and
/// the scheduler on the same model file and threads, side by side, with their ratios and the loop's own overhead.
/// </summary>
internal static class EngineBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var cli = new CliArgs(args);
        if (cli.Get("adapters") is not null)
        {
            return await AdapterBench.RunAsync(cli); // --adapters 0,1,2,4: streams spread over LoRA adapters
        }

        var modelPath = cli.Require("model");
        var parallel = (cli.Get("parallel") ?? "1,4,8").Split(',').Select(int.Parse).ToArray();
        var steps = cli.GetInt("tokens", 32);
        var prompt = cli.GetInt("prompt", 64);
        var threads = cli.GetInt("threads", 0);
        var ctxSize = cli.GetInt("ctx-size", 4096);
        var repeat = Math.Max(1, cli.GetInt("repeat", 1));
        bool? OnOffAuto(string key) => cli.Get(key) is null or "auto" ? null : cli.GetBool(key);
        var extraBufts = OnOffAuto("extra-bufts");
        var mmap = OnOffAuto("mmap");
        var flash = cli.GetInt("flash-attn", -1);
        cli.RejectUnknown();

        var maxN = parallel.Max();
        var options = new EngineOptions
        {
            ModelPath = modelPath, Parallel = maxN, CtxSize = ctxSize, Threads = threads, PrefixCache = false,
            UseExtraBufts = extraBufts, UseMmap = mmap, FlashAttention = flash,
        };
        using var model = LlamaModel.Load(options);
        Console.Error.WriteLine($"bench: {model.Name}: {model.Description}, {model.ParameterCount:N0} params; threads {(threads > 0 ? threads : Environment.ProcessorCount)}; prompt {prompt}, {steps} tokens per sequence");

        var rows = new List<(int N, RawDecodeResult Raw, double Sched, double OverheadUs, double DecodeMsPerStep)>();
        // Greedy tokens of the first request (same prompt in every run), per sequence count: does batching change them?
        var firstTokens = new Dictionary<int, int[]>();
        var rawFirstTokens = new Dictionary<int, int[]>();
        foreach (var n in parallel)
        {
            // Raw and scheduler runs alternate (A B A B ...) and the medians are reported, so a noisy
            // neighbour hurts both sides alike instead of whichever happened to run during it.
            var raws = new List<RawDecodeResult>();
            var scheds = new List<(double TokPerSec, double OverheadUs, double DecodeMsPerStep, int[] First)>();
            for (var r = 0; r < repeat; r++)
            {
                Console.Error.Write($"bench: [{r + 1}/{repeat}] raw llama.cpp, {n} sequence(s)... ");
                var raw = RawDecodeBenchmark.Run(model, options, n, prompt, steps);
                Console.Error.WriteLine($"{raw.TokensPerSecond:F2} tok/s");
                raws.Add(raw);
                Console.Error.Write($"bench: [{r + 1}/{repeat}] scheduler, {n} concurrent request(s)... ");
                var sched = await SchedulerRunAsync(model, options, n, prompt, steps);
                Console.Error.WriteLine($"{sched.TokPerSec:F2} tok/s");
                scheds.Add(sched);
            }

            var medianRaw = raws.OrderBy(x => x.TokensPerSecond).ElementAt(raws.Count / 2);
            var medianSched = scheds.OrderBy(x => x.TokPerSec).ElementAt(scheds.Count / 2);
            firstTokens[n] = scheds[0].First;
            rawFirstTokens[n] = raws[0].FirstSequence ?? [];
            rows.Add((n, medianRaw, medianSched.TokPerSec, medianSched.OverheadUs, medianSched.DecodeMsPerStep));
        }

        Console.WriteLine();
        Console.WriteLine($"| sequences | raw decode tok/s | scheduler tok/s | scheduler/raw | raw ms/step | scheduler llama_decode ms/step | raw prompt tok/s | loop overhead µs/step |");
        Console.WriteLine($"|---|---|---|---|---|---|---|---|");
        foreach (var (n, raw, sched, overhead, decodeMs) in rows)
        {
            Console.WriteLine($"| {n} | {raw.TokensPerSecond:F2} | {sched:F2} | {sched / raw.TokensPerSecond:F3} | {raw.DecodeSeconds * 1000 / raw.Steps:F1} | {decodeMs:F1} | {raw.PromptTokensPerSecond:F1} | {overhead:F1} |");
        }

        if (rows.Count > 1 && rows[0].N == 1)
        {
            var best = rows[^1];
            Console.WriteLine($"\naggregate with {best.N} concurrent requests / single request: {best.Sched / rows[0].Sched:F2}x");
        }

        CompareFirst("scheduler: request 0", firstTokens, parallel.Min());
        CompareFirst("raw loop: sequence 0", rawFirstTokens, parallel.Min());

        Console.WriteLine($"peak RSS: {Process.GetCurrentProcess().PeakWorkingSet64 / (1024 * 1024)} MiB");
        return 0;
    }

    /// <summary>Same greedy tokens for the first request whatever the batch size? Says where they part if not.</summary>
    private static void CompareFirst(string what, Dictionary<int, int[]> byN, int baseN)
    {
        if (!byN.TryGetValue(baseN, out var solo))
        {
            return;
        }

        foreach (var (n, toks) in byN.Where(kv => kv.Key != baseN))
        {
            var diverge = Enumerable.Range(0, Math.Min(solo.Length, toks.Length)).FirstOrDefault(i => solo[i] != toks[i], -1);
            Console.WriteLine(diverge < 0 && solo.Length == toks.Length
                ? $"{what} with {n} sequences: the same {toks.Length} greedy tokens as with {baseN}"
                : $"{what} with {n} sequences: greedy tokens differ from the {baseN}-sequence run from token {diverge} of {toks.Length}");
        }
    }

    /// <summary>n concurrent requests with fixed lengths; rate measured over the decode phase (after every prompt is in).</summary>
    private static async Task<(double TokPerSec, double OverheadUs, double DecodeMsPerStep, int[] First)> SchedulerRunAsync(LlamaModel model, EngineOptions options, int n, int prompt, int steps)
    {
        await using var scheduler = new InferenceScheduler(model, options);
        await scheduler.StartAsync();
        var rng = new Random(1234);
        var handles = new List<GenerationHandle>();
        for (var i = 0; i < n; i++)
        {
            var tokens = Enumerable.Range(0, prompt).Select(_ => rng.Next(model.VocabSize)).ToArray();
            handles.Add(scheduler.Submit(new GenerationRequest
            {
                Prompt = tokens,
                MaxTokens = steps + 1,
                IgnoreEos = true,
                Sampling = new SamplingParams { Temperature = 0 },
            }));
        }

        // Start the clock when every sequence has its first token (prompts done), stop at the last token.
        var firstTokens = new TaskCompletionSource();
        var seen = 0;
        long start = 0;
        var firstRequest = new List<int>();
        var readers = handles.Select(async (h, index) =>
        {
            var first = true;
            await foreach (var e in h.ReadAllAsync())
            {
                if (index == 0 && e is TokenEvent te)
                {
                    firstRequest.Add(te.Token);
                }

                if (e is TokenEvent && first)
                {
                    first = false;
                    if (Interlocked.Increment(ref seen) == n)
                    {
                        start = Stopwatch.GetTimestamp();
                        firstTokens.TrySetResult();
                    }
                }
            }
        }).ToArray();
        var steps0 = 0L;
        var overhead0 = 0.0;
        await firstTokens.Task;
        var s0 = scheduler.Stats;
        steps0 = s0.Steps;
        var decode0 = s0.DecodeMsTotal;
        overhead0 = s0.LoopOverheadUsPerStep * s0.Steps;
        await Task.WhenAll(readers);
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var s1 = scheduler.Stats;
        var stepCount = Math.Max(1, s1.Steps - steps0);
        var overheadPerStep = (s1.LoopOverheadUsPerStep * s1.Steps - overhead0) / stepCount;
        return (n * steps / elapsed, overheadPerStep, (s1.DecodeMsTotal - decode0) / stepCount, [.. firstRequest]);
    }
}
