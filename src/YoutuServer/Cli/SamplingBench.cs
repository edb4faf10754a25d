using YoutuServer.Engine.Benchmarks;
using YoutuServer.Engine.Sampling;

namespace YoutuServer.Cli;

/// <summary>
/// `youtu-server bench sampling [--sequences 32] [--steps 20] [--threads N]`: the cost of sampling alone (no model)
/// on a 128,256-entry vocabulary, llama.cpp's chain vs the managed stages, one after another vs in parallel.
/// All rows come from one process run, so their ratios hold even on a busy machine; absolute times do not.
/// </summary>
internal static class SamplingBench
{
    public static Task<int> RunAsync(string[] args)
    {
        var cli = new CliArgs(args);
        var sequences = cli.GetInt("sequences", 32);
        var steps = cli.GetInt("steps", 20);
        var threads = cli.GetInt("threads", Math.Min(Environment.ProcessorCount, 8));
        cli.RejectUnknown();

        Console.WriteLine($"| chain | sampler | sequences | threads | ms per sampled token | ms per step (all sequences) |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var preset in SamplingBenchmark.Presets.Keys)
        {
            foreach (var (mode, t) in new[] { (SamplerMode.LlamaChain, 1), (SamplerMode.Managed, 1), (SamplerMode.Managed, threads) }.Distinct())
            {
                var r = SamplingBenchmark.Run(preset, mode, sequences, t, steps);
                Console.WriteLine($"| {r.Preset} | {r.Mode} | {r.Sequences} | {r.Threads} | {r.MsPerToken:F3} | {r.MsPerStep:F2} |");
            }
        }

        return Task.FromResult(0);
    }
}
