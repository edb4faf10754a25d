using System.Diagnostics;
using System.Globalization;
using YoutuServer.Engine;
using YoutuServer.Engine.Sampling;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Engine.Synthesis;

namespace YoutuServer.Cli;

/// <summary>
/// `youtu-server bench engine --model FILE --adapters 0,1,2,4 [--parallel 8] [--tokens N] [--prompt N] [--lora-rank R]
/// [--lora FILE,FILE...] [--quantum STEPS] [--threads T] [--repeat R]`: aggregate decode tok/s of N concurrent streams
/// on the base model (0) and spread evenly over 1, 2, 4... LoRA adapters. One engine holds every adapter; llama.cpp
/// applies adapters per context, so each step decodes one adapter group and more adapters mean smaller batches and
/// more switches. Without --lora, random adapters are synthesized for the model file (synth --lora-for).
/// </summary>
internal static class AdapterBench
{
    public static async Task<int> RunAsync(CliArgs cli)
    {
        var modelPath = cli.Require("model");
        var spreads = cli.Require("adapters").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var streams = cli.GetInt("parallel", 8);
        var steps = cli.GetInt("tokens", 32);
        var prompt = cli.GetInt("prompt", 16);
        var threads = cli.GetInt("threads", 0);
        var ctxSize = cli.GetInt("ctx-size", 4096);
        var repeat = Math.Max(1, cli.GetInt("repeat", 1));
        var rank = cli.GetInt("lora-rank", 8);
        var quantum = cli.GetInt("quantum", 4);
        var given = cli.Get("lora")?.Split(',', StringSplitOptions.RemoveEmptyEntries);
        cli.RejectUnknown();
        if (spreads.Any(k => k < 0 || k > streams))
        {
            throw new CliException($"--adapters: each count must be between 0 and --parallel ({streams})");
        }

        var needed = spreads.Max();
        var files = given?.ToList() ?? [];
        if (files.Count < needed)
        {
            var dir = Path.Combine(Path.GetTempPath(), $"youtu-bench-lora-{Environment.ProcessId}");
            Directory.CreateDirectory(dir);
            for (var i = files.Count; i < needed; i++)
            {
                var f = LoraSynthesizer.Synthesize(modelPath, Path.Combine(dir, $"lora-{i}.gguf"), rank, seed: (ulong)(i + 1));
                Console.Error.WriteLine($"bench: synthesized LoRA {i} (rank {f.Rank}, {f.TensorPairs} pairs, {f.FileLength:N0} bytes)");
                files.Add(f.Path);
            }
        }

        var options = new EngineOptions
        {
            ModelPath = modelPath, Parallel = streams, CtxSize = ctxSize, Threads = threads, PrefixCache = false,
            AdapterQuantumSteps = quantum,
            Adapters = [.. files.Take(needed).Select((f, i) => new LoraAdapterOptions($"lora{i}", f))],
        };
        await using var engine = await InferenceEngine.StartAsync(options);
        Console.Error.WriteLine($"bench: {engine.Model.Name}: {engine.Model.Description}; {streams} streams, prompt {prompt}, {steps} tokens each; threads {(threads > 0 ? threads : Environment.ProcessorCount)}; adapter quantum {quantum} step(s)");

        var rows = new List<(int Adapters, double TokPerSec, double TokPerCpuSec, double StepsPerToken, double SwitchesPerStep, double DecodeMs)>();
        foreach (var k in spreads)
        {
            var runs = new List<(double TokPerSec, double TokPerCpuSec, double StepsPerToken, double SwitchesPerStep, double DecodeMs)>();
            for (var r = 0; r < repeat; r++)
            {
                Console.Error.Write($"bench: [{r + 1}/{repeat}] {streams} streams over {(k == 0 ? "the base model" : $"{k} adapter(s)")}... ");
                var run = await RunOnceAsync(engine, streams, k, prompt, steps, seed: 1234 + r);
                Console.Error.WriteLine($"{run.TokPerSec:F2} tok/s, {run.TokPerCpuSec:F2} tok per CPU-second");
                runs.Add(run);
            }

            var median = runs.OrderBy(x => x.TokPerSec).ElementAt(runs.Count / 2);
            var medianCpu = runs.Select(x => x.TokPerCpuSec).Order().ElementAt(runs.Count / 2);
            rows.Add((k, median.TokPerSec, medianCpu, median.StepsPerToken, median.SwitchesPerStep, median.DecodeMs));
        }

        var one = rows.FirstOrDefault(x => x.Adapters == 1);
        Console.WriteLine();
        // Tokens per CPU-second (process CPU time over the decode phase) is the figure to compare on a shared machine:
        // wall-clock rates there depend on what else runs.
        Console.WriteLine("| streams | spread over | aggregate tok/s | vs 1 adapter | tok per CPU-second | vs 1 adapter | decode steps per stream token | adapter switches per step | llama_decode ms/step |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var (k, tps, cpu, spt, sw, ms) in rows)
        {
            var vs = one.TokPerSec > 0 ? (tps / one.TokPerSec).ToString("F2", CultureInfo.InvariantCulture) : "-";
            var vsCpu = one.TokPerCpuSec > 0 ? (cpu / one.TokPerCpuSec).ToString("F2", CultureInfo.InvariantCulture) : "-";
            Console.WriteLine($"| {streams} | {(k == 0 ? "base model" : $"{k} adapter{(k > 1 ? "s" : "")}")} | {tps:F2} | {vs} | {cpu:F2} | {vsCpu} | {spt:F2} | {sw:F2} | {ms:F1} |");
        }

        Console.WriteLine($"peak RSS: {Process.GetCurrentProcess().PeakWorkingSet64 / (1024 * 1024)} MiB");
        return 0;
    }

    /// <summary>Stream i uses adapter i mod k (k = 0: the base); the rate is taken over the decode phase.</summary>
    private static async Task<(double TokPerSec, double TokPerCpuSec, double StepsPerToken, double SwitchesPerStep, double DecodeMs)> RunOnceAsync(
        InferenceEngine engine, int n, int k, int prompt, int steps, int seed)
    {
        var rng = new Random(seed);
        var handles = new List<GenerationHandle>();
        for (var i = 0; i < n; i++)
        {
            handles.Add(engine.Submit(new GenerationRequest
            {
                Prompt = Enumerable.Range(0, prompt).Select(_ => rng.Next(engine.Model.VocabSize)).ToArray(),
                MaxTokens = steps + 1,
                IgnoreEos = true,
                Sampling = new SamplingParams { Temperature = 0 },
                Adapter = k == 0 ? null : engine.Adapters[i % k].Id,
            }));
        }

        var allStarted = new TaskCompletionSource();
        var seen = 0;
        long start = 0;
        var cpuStart = TimeSpan.Zero;
        var readers = handles.Select(async h =>
        {
            var first = true;
            await foreach (var e in h.ReadAllAsync())
            {
                if (e is TokenEvent && first)
                {
                    first = false;
                    if (Interlocked.Increment(ref seen) == n)
                    {
                        start = Stopwatch.GetTimestamp();
                        cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
                        allStarted.TrySetResult();
                    }
                }
            }
        }).ToArray();
        await allStarted.Task;
        var s0 = engine.Stats;
        await Task.WhenAll(readers);
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds;
        var s1 = engine.Stats;
        var stepCount = Math.Max(1, s1.Steps - s0.Steps);
        return (n * steps / elapsed, n * steps / Math.Max(cpu, 1e-9), (double)stepCount / steps, (double)(s1.AdapterSwitches - s0.AdapterSwitches) / stepCount, (s1.DecodeMsTotal - s0.DecodeMsTotal) / stepCount);
    }
}
