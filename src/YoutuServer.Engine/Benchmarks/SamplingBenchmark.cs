using System.Diagnostics;
using YoutuServer.Engine.Sampling;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Native;

namespace YoutuServer.Engine.Benchmarks;

/// <summary>One sampling configuration's cost: milliseconds per sampled token, and per step of all sequences.</summary>
public sealed record SamplingBenchResult(string Preset, string Mode, int Sequences, int Threads, double MsPerToken, double MsPerStep);

/// <summary>
/// Sampling alone, no model: <c>sequences</c> random logits rows of a 128,256-entry vocabulary (as after a decode),
/// each sampled by its own chain for <c>steps</c> steps, the way the scheduler does it (llama.cpp's chain over a full
/// candidate array, or the managed stages; one after another or on <see cref="SamplingWorkers"/>).
/// </summary>
public static unsafe class SamplingBenchmark
{
    public static readonly IReadOnlyDictionary<string, SamplingParams> Presets = new Dictionary<string, SamplingParams>
    {
        ["youtu-thinking (rep 1.05, top_k 20, top_p 0.95, temp 1)"] = new() { Temperature = 1.0f, TopP = 0.95f, TopK = 20, RepetitionPenalty = 1.05f, Seed = 1 },
        ["youtu-normal (top_k 20, top_p 0.8, temp 0.7)"] = new() { Temperature = 0.7f, TopP = 0.8f, TopK = 20, Seed = 1 },
        ["llama-server default (top_k 40, top_p 0.95, min_p 0.05, temp 0.8)"] = new() { Temperature = 0.8f, TopK = 40, TopP = 0.95f, MinP = 0.05f, Seed = 1 },
        ["greedy + rep 1.05"] = new() { Temperature = 0, RepetitionPenalty = 1.05f },
        ["top_p 0.95 only + rep 1.05 (full candidate array)"] = new() { Temperature = 0.8f, TopP = 0.95f, RepetitionPenalty = 1.05f, Seed = 1 },
    };

    public static SamplingBenchResult Run(string preset, SamplerMode mode, int sequences, int threads, int steps, int vocab = 128_256)
    {
        LlamaNativeLibrary.Initialize();
        var p = Presets[preset];
        var rows = new float[sequences][];
        var rng = new Random(42);
        for (var s = 0; s < sequences; s++)
        {
            rows[s] = new float[vocab];
            for (var i = 0; i < vocab; i++)
            {
                // Roughly a trained model's shape: a broad low mass and a few dozen strong candidates.
                var u = 1.0 - rng.NextDouble();
                rows[s][i] = (float)(Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * rng.NextDouble()) * 1.5 - 2);
            }

            for (var h = 0; h < 30; h++)
            {
                rows[s][rng.Next(vocab)] = (float)(8 + rng.NextDouble() * 6);
            }
        }

        var chains = new SamplerChain[sequences];
        for (var s = 0; s < sequences; s++)
        {
            chains[s] = SamplerChain.Create(0, vocab, p with { Seed = (uint)s + 1 }, mode: mode);
            // A full 64-token penalty window from the start, as in a running conversation.
            for (var t = 0; t < 64; t++)
            {
                chains[s].Accept(rng.Next(vocab));
            }
        }

        void One(int s)
        {
            fixed (float* l = rows[s])
            {
                chains[s].Sample(l);
            }
        }

        using var workers = threads > 1 ? new SamplingWorkers(threads - 1, One) : null;
        try
        {
            // Warm-up (long enough for the JIT's tiered recompilation), then the timed steps.
            var warm = Stopwatch.StartNew();
            for (var w = 0; w < 3 || warm.ElapsedMilliseconds < 400; w++)
            {
                for (var s = 0; s < sequences; s++)
                {
                    One(s);
                }
            }

            var sw = Stopwatch.StartNew();
            for (var step = 0; step < steps; step++)
            {
                if (workers is not null)
                {
                    workers.Run(sequences);
                }
                else
                {
                    for (var s = 0; s < sequences; s++)
                    {
                        One(s);
                    }
                }
            }

            var ms = sw.Elapsed.TotalMilliseconds;
            return new SamplingBenchResult(preset, mode == SamplerMode.Managed ? "managed" : "llama.cpp chain", sequences, threads,
                ms / (steps * (double)sequences), ms / steps);
        }
        finally
        {
            foreach (var c in chains)
            {
                c.Dispose();
            }
        }
    }
}
