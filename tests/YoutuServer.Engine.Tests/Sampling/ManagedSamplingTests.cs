using YoutuServer.Engine.Sampling;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Engine.Tests.Engine;
using YoutuServer.Native;

namespace YoutuServer.Engine.Tests.Sampling;

/// <summary>
/// The managed sampling stages (O(window) penalties and bias, top-k/greedy selected from the row) must pick exactly
/// the tokens llama.cpp's full chain picks, for the same seed: first on synthetic 128,256-entry rows (with many exact
/// ties, to check the selection orders equal logits as std::partial_sort does), then end to end on the tiny model,
/// one after another and in parallel.
/// </summary>
public sealed class ManagedSamplingTests
{
    public static TheoryData<string> Settings => [.. Presets.Keys];

    private static readonly Dictionary<string, SamplingParams> Presets = new()
    {
        ["greedy+repeat"] = new() { Temperature = 0, RepetitionPenalty = 1.05f },
        ["greedy+bias+presence"] = new() { Temperature = 0, PresencePenalty = 0.8f, LogitBias = new Dictionary<int, float> { [5] = 3f, [77] = -2f, [4000] = 1.5f } },
        ["greedy-plain"] = new() { Temperature = 0 },
        ["youtu-thinking"] = new() { Temperature = 1.0f, TopP = 0.95f, TopK = 20, RepetitionPenalty = 1.05f },
        ["youtu-normal"] = new() { Temperature = 0.7f, TopP = 0.8f, TopK = 20 },
        ["llama-server-default"] = new() { Temperature = 0.8f, TopK = 40, TopP = 0.95f, MinP = 0.05f },
        ["topk128+freq+presence+bias"] = new() { Temperature = 1.2f, TopK = 128, FrequencyPenalty = 0.5f, PresencePenalty = 0.3f, RepetitionPenalty = 1.1f, LogitBias = new Dictionary<int, float> { [1] = 2f, [9] = -100f } },
        ["topk1"] = new() { Temperature = 0.9f, TopK = 1, RepetitionPenalty = 1.3f },
        ["no-topk+repeat"] = new() { Temperature = 0.9f, TopP = 0.9f, RepetitionPenalty = 1.1f },
        ["topk200(buckets)+repeat"] = new() { Temperature = 0.9f, TopK = 200, RepetitionPenalty = 1.1f },
        ["minp+negative-freq"] = new() { Temperature = 1f, TopK = 30, MinP = 0.1f, FrequencyPenalty = -0.4f, PenaltyLastN = 8 },
        ["repeat<1,window 3"] = new() { Temperature = 0.6f, TopK = 10, RepetitionPenalty = 0.7f, PenaltyLastN = 3 },
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public unsafe void Managed_stages_pick_the_tokens_llama_cpp_picks_on_a_128k_vocabulary(string setting)
    {
        LlamaNativeLibrary.Initialize();
        const int vocab = 128_256;
        var logits = new float[vocab];
        foreach (var seed in new uint[] { 1, 2, 3, 1234 })
        {
            var p = Presets[setting] with { Seed = seed };
            // Tokens 0-3 stand for the end of generation (they are among the hot tokens below, so masking them matters).
            int[] ends = [0, 1, 2, 3];
            using var reference = SamplerChain.Create(0, vocab, p, endOfGeneration: ends, mode: SamplerMode.LlamaChain);
            using var managed = SamplerChain.Create(0, vocab, p, endOfGeneration: ends, mode: SamplerMode.Managed);
            var rng = new Random((int)seed);
            var history = new List<int>();
            for (var step = 0; step < 150; step++)
            {
                // Logits on a coarse grid (many exact ties), a hot set of tokens so repeats happen, and now and then
                // recent tokens pushed up, so penalties decide the outcome.
                for (var i = 0; i < vocab; i++)
                {
                    logits[i] = MathF.Round((float)(rng.NextDouble() * 8 - 6) * 4) / 4;
                }

                for (var h = 0; h < 60; h++)
                {
                    logits[rng.Next(64)] = MathF.Round((float)(rng.NextDouble() * 6 + 3) * 2) / 2;
                }

                foreach (var t in history.TakeLast(5))
                {
                    logits[t] += 2f;
                }

                var endForbidden = step % 7 == 3;
                int a, b;
                fixed (float* l = logits)
                {
                    a = reference.Sample(l, endForbidden);
                    b = managed.Sample(l, endForbidden);
                }

                Assert.True(a == b, $"{setting}, seed {seed}, step {step}: llama.cpp chain picked {a}, managed picked {b}");
                history.Add(a);
            }

            Assert.True(history.Distinct().Count() > 1);
        }
    }

    [Fact]
    public void Penalty_window_counts_only_the_last_n_tokens()
    {
        var w = new PenaltyWindow(3, 2f, 1f, 0.5f);
        foreach (var t in new[] { 7, 7, 8, 9 })
        {
            w.Accept(t);
        }

        // Window now 7, 8, 9: token 7 once.
        Assert.Equal(3, w.DistinctCount);
        Assert.Equal(4f / 2f - (1f * 1f + 0.5f), w.Apply(7, 4f));
        Assert.Equal(-4f * 2f - 1.5f, w.Apply(8, -4f));
        Assert.Equal(5f, w.Apply(10, 5f));
        w.Accept(10);
        w.Accept(10);
        Assert.Equal(2, w.DistinctCount); // 9, 10, 10
        Assert.Equal(1f / 2f - (2f + 0.5f), w.Apply(10, 1f));
    }

    [Fact]
    public void Parallel_workers_run_every_item_exactly_once()
    {
        var hits = new int[64];
        using var workers = new SamplingWorkers(3, i => Interlocked.Increment(ref hits[i]));
        for (var round = 0; round < 300; round++)
        {
            var n = 1 + (round % 64);
            Array.Clear(hits);
            workers.Run(n);
            for (var i = 0; i < 64; i++)
            {
                Assert.Equal(i < n ? 1 : 0, hits[i]);
            }
        }
    }
}

[Collection("engine")]
public sealed class ManagedSamplingEngineTests
{
    private static readonly (string Name, SamplingParams Sampling, bool IgnoreEos, int MinTokens)[] Cases =
    [
        ("greedy", new() { Temperature = 0 }, true, 0),
        ("greedy+repeat", new() { Temperature = 0, RepetitionPenalty = 1.05f }, true, 0),
        ("youtu-thinking", new() { Temperature = 1.0f, TopP = 0.95f, TopK = 20, RepetitionPenalty = 1.05f }, false, 6),
        ("youtu-normal", new() { Temperature = 0.7f, TopP = 0.8f, TopK = 20 }, true, 0),
        ("llama-server-default", new() { Temperature = 0.8f, TopK = 40, TopP = 0.95f, MinP = 0.05f }, true, 0),
        ("presence+frequency+bias", new() { Temperature = 1.1f, TopK = 64, PresencePenalty = 0.6f, FrequencyPenalty = 0.4f, LogitBias = new Dictionary<int, float> { [10] = 2f } }, true, 0),
        ("top-p only+repeat", new() { Temperature = 0.9f, TopP = 0.9f, RepetitionPenalty = 1.2f }, true, 0),
        ("json grammar+repeat", new() { Temperature = 0.8f, TopK = 20, RepetitionPenalty = 1.05f, Grammar = new GrammarConstraint("root ::= \"{\" [a-z ]{0,40} \"}\"") }, false, 0),
    ];

    private static async Task<(List<IReadOnlyList<int>> Tokens, long ParallelSteps)> RunAll(SamplerMode mode, int samplingThreads)
    {
        var options = TinyModel.Options(parallel: 8) with
        {
            SamplerMode = mode,
            SamplingThreads = samplingThreads,
            ParallelSamplingMinSequences = 2,
            ParallelSamplingMinVocab = 0,
        };
        await using var engine = await InferenceEngine.StartAsync(options);
        var results = new List<IReadOnlyList<int>>();
        foreach (var (name, sampling, ignoreEos, minTokens) in Cases)
        {
            // One request with eight choices: every step samples eight sequences (the first step all from one shared
            // row), and the batches are the same in every run, so any difference comes from sampling alone.
            var r = await engine.GenerateAsync(new GenerationRequest
            {
                Prompt = engine.Tokenize($"<|User|>{name} story<|Assistant|>"),
                MaxTokens = 32,
                N = 8,
                IgnoreEos = ignoreEos,
                MinTokens = minTokens,
                Sampling = sampling with { Seed = 100 },
            });
            foreach (var c in r.Choices)
            {
                results.Add(c.Tokens);
            }
        }

        return (results, engine.Stats.ParallelSampledSteps);
    }

    [Fact]
    public async Task Managed_and_parallel_sampling_give_the_same_tokens_as_the_llama_cpp_chain()
    {
        var (reference, none) = await RunAll(SamplerMode.LlamaChain, samplingThreads: 1);
        var (managed, _) = await RunAll(SamplerMode.Managed, samplingThreads: 1);
        var (parallel, parallelSteps) = await RunAll(SamplerMode.Managed, samplingThreads: 4);
        Assert.Equal(0, none);
        Assert.True(parallelSteps > 0, "the parallel run never sampled in parallel");
        Assert.Equal(reference.Count, managed.Count);
        for (var i = 0; i < reference.Count; i++)
        {
            var name = Cases[i / 8].Name;
            Assert.True(reference[i].SequenceEqual(managed[i]), $"{name} choice {i % 8}: managed tokens differ from llama.cpp's chain");
            Assert.True(reference[i].SequenceEqual(parallel[i]), $"{name} choice {i % 8}: parallel tokens differ from llama.cpp's chain");
        }

        Assert.Contains(reference, r => r.Count >= 8);
    }
}
