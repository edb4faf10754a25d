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
    private const string Help = """
        youtu-server bench engine --model FILE [options]
          --parallel LIST     sequence counts to run, e.g. 1,8,32 (default 1,4,8)
          --tokens N          decode steps per sequence (default 32)
          --prompt N          prompt tokens per sequence (default 64)
          --ctx-size N        KV cells; default: sized from the run (largest --parallel x (prompt + tokens + 1)), at least 4096
          --threads N         llama.cpp threads (default: cores)
          --repeat R          alternate raw/scheduler runs R times, report medians (default 1)
          --sampling MODE     greedy (default; arg-max on both sides) | thinking (Youtu's preset: temp 1, top_k 20,
                              top_p 0.95, repetition 1.05; raw = llama.cpp's chain per sequence, as llama-server samples)
          --sampler-mode M    managed (default) | llama (the scheduler samples through llama.cpp's full chain too)
          --sampling-threads N  threads sampling a step's sequences (0 auto, 1 off)
          --extra-bufts on|off|auto  --mmap on|off|auto  --flash-attn -1|0|1
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Any(a => a is "--help" or "-h"))
        {
            Console.WriteLine(Help);
            return 0;
        }

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
        var ctxArg = cli.GetInt("ctx-size", 0);
        var samplingName = cli.Get("sampling") ?? "greedy";
        var sampling = samplingName switch
        {
            "greedy" => new SamplingParams { Temperature = 0 },
            "thinking" => new SamplingParams { Temperature = 1.0f, TopP = 0.95f, TopK = 20, RepetitionPenalty = 1.05f, Seed = 1 },
            _ => throw new CliException($"--sampling must be greedy or thinking, got '{samplingName}'"),
        };
        var samplerMode = (cli.Get("sampler-mode") ?? "managed") switch
        {
            "managed" => SamplerMode.Managed,
            "llama" => SamplerMode.LlamaChain,
            var m => throw new CliException($"--sampler-mode must be managed or llama, got '{m}'"),
        };
        var samplingThreads = cli.GetInt("sampling-threads", 0);
        var repeat = Math.Max(1, cli.GetInt("repeat", 1));
        bool? OnOffAuto(string key) => cli.Get(key) is null or "auto" ? null : cli.GetBool(key);
        var extraBufts = OnOffAuto("extra-bufts");
        var mmap = OnOffAuto("mmap");
        var flash = cli.GetInt("flash-attn", -1);
        cli.RejectUnknown();

        var maxN = parallel.Max();
        // Every sequence keeps prompt + tokens + 1 cells (the scheduler asks for one more token than it times).
        var needed = (long)maxN * (prompt + steps + 1);
        var ctxSize = ctxArg > 0 ? ctxArg : (int)Math.Max(4096, (needed + 255) / 256 * 256);
        if (ctxSize < needed)
        {
            throw new CliException($"--ctx-size {ctxSize} is too small for {maxN} sequences of {prompt} + {steps} tokens: need at least {needed} cells (omit --ctx-size to size it from the run)");
        }

        var options = new EngineOptions
        {
            ModelPath = modelPath, Parallel = maxN, CtxSize = ctxSize, Threads = threads, PrefixCache = false,
            UseExtraBufts = extraBufts, UseMmap = mmap, FlashAttention = flash, SamplerMode = samplerMode,
            SamplingThreads = samplingThreads, BatchSize = Math.Max(512, maxN),
        };
        using var model = LlamaModel.Load(options);
        Console.Error.WriteLine($"bench: {model.Name}: {model.Description}, {model.ParameterCount:N0} params; threads {(threads > 0 ? threads : Environment.ProcessorCount)}; prompt {prompt}, {steps} tokens per sequence; ctx {ctxSize}; sampling {samplingName} (scheduler: {samplerMode}, sampling threads {(samplingThreads > 0 ? samplingThreads.ToString(System.Globalization.CultureInfo.InvariantCulture) : "auto")}); backends: {string.Join(", ", YoutuServer.Engine.LlamaRuntime.Backends)}");

        var rows = new List<(int N, RawDecodeResult Raw, double Sched, double OverheadUs, double DecodeMsPerStep, double SampleMsPerStep)>();
        // Greedy tokens of the first request (same prompt in every run), per sequence count: does batching change them?
        var firstTokens = new Dictionary<int, int[]>();
        var rawFirstTokens = new Dictionary<int, int[]>();
        foreach (var n in parallel)
        {
            // Raw and scheduler runs alternate (A B A B ...) and the medians are reported, so a noisy
            // neighbour hurts both sides alike instead of whichever happened to run during it.
            var raws = new List<RawDecodeResult>();
            var scheds = new List<(double TokPerSec, double OverheadUs, double DecodeMsPerStep, double SampleMsPerStep, int[] First)>();
            for (var r = 0; r < repeat; r++)
            {
                Console.Error.Write($"bench: [{r + 1}/{repeat}] raw llama.cpp, {n} sequence(s)... ");
                var raw = RawDecodeBenchmark.Run(model, options, n, prompt, steps, sampling);
                Console.Error.WriteLine($"{raw.TokensPerSecond:F2} tok/s");
                raws.Add(raw);
                Console.Error.Write($"bench: [{r + 1}/{repeat}] scheduler, {n} concurrent request(s)... ");
                var sched = await SchedulerRunAsync(model, options, n, prompt, steps, sampling);
                Console.Error.WriteLine($"{sched.TokPerSec:F2} tok/s");
                scheds.Add(sched);
            }

            var medianRaw = raws.OrderBy(x => x.TokensPerSecond).ElementAt(raws.Count / 2);
            var medianSched = scheds.OrderBy(x => x.TokPerSec).ElementAt(scheds.Count / 2);
            firstTokens[n] = scheds[0].First;
            rawFirstTokens[n] = raws[0].FirstSequence ?? [];
            rows.Add((n, medianRaw, medianSched.TokPerSec, medianSched.OverheadUs, medianSched.DecodeMsPerStep, medianSched.SampleMsPerStep));
        }

        Console.WriteLine();
        Console.WriteLine($"| sequences | raw decode tok/s | scheduler tok/s | scheduler/raw | raw ms/step | scheduler llama_decode ms/step (synchronized) | scheduler sampling ms/step | raw prompt tok/s | loop overhead µs/step |");
        Console.WriteLine($"|---|---|---|---|---|---|---|---|---|");
        foreach (var (n, raw, sched, overhead, decodeMs, sampleMs) in rows)
        {
            Console.WriteLine($"| {n} | {raw.TokensPerSecond:F2} | {sched:F2} | {sched / raw.TokensPerSecond:F3} | {raw.DecodeSeconds * 1000 / raw.Steps:F1} | {decodeMs:F1} | {sampleMs:F2} | {raw.PromptTokensPerSecond:F1} | {overhead:F1} |");
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
    private static async Task<(double TokPerSec, double OverheadUs, double DecodeMsPerStep, double SampleMsPerStep, int[] First)> SchedulerRunAsync(LlamaModel model, EngineOptions options, int n, int prompt, int steps, SamplingParams sampling)
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
                Sampling = sampling.IsGreedy ? sampling : sampling with { Seed = sampling.Seed + (uint)i },
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
        var sample0 = s0.SampleMsTotal;
        overhead0 = s0.LoopOverheadUsPerStep * s0.Steps;
        await Task.WhenAll(readers);
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var s1 = scheduler.Stats;
        var stepCount = Math.Max(1, s1.Steps - steps0);
        var overheadPerStep = (s1.LoopOverheadUsPerStep * s1.Steps - overhead0) / stepCount;
        return (n * steps / elapsed, overheadPerStep, (s1.DecodeMsTotal - decode0) / stepCount, (s1.SampleMsTotal - sample0) / stepCount, [.. firstRequest]);
    }
}
