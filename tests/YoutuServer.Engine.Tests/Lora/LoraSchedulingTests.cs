using System.Diagnostics;
using YoutuServer.Engine.Sampling;
using YoutuServer.Engine.Scheduling;
using YoutuServer.TestSupport;

namespace YoutuServer.Engine.Tests.Lora;

/// <summary>
/// LoRA adapters on the real engine with the tiny model and random adapters from synth --lora-for: an adapter changes
/// greedy output (scale 0 does not), the base and three adapters interleave in one process with each request getting
/// exactly its solo tokens, groups are served fairly, and the prefix cache never crosses adapters.
/// </summary>
[Collection("engine")]
public sealed class LoraSchedulingTests
{
    private static GenerationRequest Greedy(int[] prompt, int max, string? adapter) => new()
    {
        Prompt = prompt,
        MaxTokens = max,
        IgnoreEos = true,
        Sampling = new SamplingParams { Temperature = 0 },
        Adapter = adapter,
    };

    private static LoraAdapterOptions A(string id, int seed, float scale = 1f) => new(id, LoraFiles.Get(seed), scale);

    [Fact]
    public async Task An_adapter_changes_greedy_output_and_scale_zero_equals_the_base()
    {
        await using var engine = await InferenceEngine.StartAsync(LoraFiles.Options(2, A("sql", 1), A("off", 1, scale: 0)));
        Assert.Equal(["sql", "off"], engine.Adapters.Select(a => a.Id));
        Assert.Equal(8, engine.Adapters[0].Rank);
        var p = engine.Tokenize("<|User|>Write a query for the orders table<|Assistant|>");

        var baseOut = await engine.GenerateAsync(Greedy(p, 16, null));
        var sql = await engine.GenerateAsync(Greedy(p, 16, "sql"));
        var off = await engine.GenerateAsync(Greedy(p, 16, "off"));

        Assert.NotEqual(baseOut.Choices[0].Tokens, sql.Choices[0].Tokens);
        Assert.Equal(baseOut.Choices[0].Tokens, off.Choices[0].Tokens);
        Assert.True(engine.Stats.AdapterSwitches >= 2, $"switches {engine.Stats.AdapterSwitches}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public async Task Base_and_three_adapters_interleaved_each_get_exactly_their_solo_tokens(int quantum)
    {
        await using var engine = await InferenceEngine.StartAsync(LoraFiles.Options(8, A("a", 1), A("b", 2), A("c", 3)) with { AdapterQuantumSteps = quantum });
        string?[] models = [null, "a", "b", "c"];
        var prompts = Enumerable.Range(0, 8).Select(i => engine.Tokenize($"<|User|>request {i}: tell me something about topic {i * 7}<|Assistant|>")).ToArray();

        // Alone, one after the other (the prefix cache is per adapter, so a cold start per prompt is not needed).
        var solo = new List<int>[prompts.Length];
        for (var i = 0; i < prompts.Length; i++)
        {
            solo[i] = [.. (await engine.GenerateAsync(Greedy(prompts[i], 24, models[i % 4]))).Choices[0].Tokens];
        }

        // All at once: base, a, b, c, base, a, b, c interleaved in the same steps.
        var switchesBefore = engine.Stats.AdapterSwitches;
        var together = await Task.WhenAll(prompts.Select((p, i) => engine.GenerateAsync(Greedy(p, 24, models[i % 4]))));
        for (var i = 0; i < prompts.Length; i++)
        {
            Assert.True(solo[i].SequenceEqual(together[i].Choices[0].Tokens), $"request {i} ({models[i % 4] ?? "base"}) differs when interleaved");
        }

        // Four groups with work: the context switched adapters many times (one group per decode step).
        Assert.True(engine.Stats.AdapterSwitches - switchesBefore >= 24 / quantum, $"switches {engine.Stats.AdapterSwitches - switchesBefore}");
        Assert.Equal(4, (await engine.GenerateAsync(Greedy(prompts[0], 4, "c"))).Choices[0].CompletionTokens);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public async Task A_busy_adapter_does_not_starve_another(int quantum)
    {
        await using var engine = await InferenceEngine.StartAsync(LoraFiles.Options(4, A("busy", 1), A("rare", 2)) with { AdapterQuantumSteps = quantum });
        var p = engine.Tokenize("<|User|>go on and on<|Assistant|>");
        var busy = Enumerable.Range(0, 3).Select(_ => engine.GenerateAsync(Greedy(p, 60, "busy"))).ToList();
        var rare = engine.GenerateAsync(Greedy(p, 12, "rare"));

        var finished = await Task.WhenAny(busy.Append(rare));
        await Task.WhenAll(busy.Append(rare));
        // Round-robin between the groups: 12 tokens of "rare" need ~24 steps, the 60-token "busy" streams ~120.
        Assert.Same(rare, finished);
        Assert.Equal(12, (await rare).Choices[0].CompletionTokens);
    }

    [Fact]
    public async Task The_prefix_cache_is_reused_within_an_adapter_and_never_across()
    {
        await using var engine = await InferenceEngine.StartAsync(LoraFiles.Options(1, A("a", 1)));
        var p = engine.Tokenize("<|User|>a prompt long enough to be worth caching, about many things<|Assistant|>");

        var base1 = await engine.GenerateAsync(Greedy(p, 4, null));
        var a1 = await engine.GenerateAsync(Greedy(p, 4, "a"));
        var a2 = await engine.GenerateAsync(Greedy(p, 4, "a"));
        var base2 = await engine.GenerateAsync(Greedy(p, 4, null));

        Assert.Equal(0, base1.Usage.CachedTokens);
        Assert.Equal(0, a1.Usage.CachedTokens);            // the base's cells were computed without the adapter
        Assert.Equal(p.Length - 1, a2.Usage.CachedTokens); // same adapter: reused
        Assert.Equal(0, base2.Usage.CachedTokens);          // the only slot now holds the adapter's cells
        Assert.Equal(a1.Choices[0].Tokens, a2.Choices[0].Tokens);
        Assert.Equal(base1.Choices[0].Tokens, base2.Choices[0].Tokens);
    }

    [Fact]
    public async Task An_unknown_adapter_is_refused_as_an_invalid_request()
    {
        await using var engine = await InferenceEngine.StartAsync(LoraFiles.Options(1, A("a", 1)));
        var e = Assert.Throws<EngineRejectedException>(() => engine.Submit(Greedy(engine.Tokenize("hi"), 2, "nope")));
        Assert.Equal(RejectionReason.InvalidRequest, e.Reason);
        Assert.Contains("nope", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Adapter_stats_list_running_and_waiting_adapters()
    {
        await using var engine = await InferenceEngine.StartAsync(LoraFiles.Options(1, A("a", 1), A("b", 2)));
        Assert.Equal(2, engine.Stats.MaxAdapters);
        var p = engine.Tokenize("<|User|>stats<|Assistant|>");
        var running = engine.Submit(Greedy(p, 1500, "a")); // cancelled below: long enough to be running when stats are read
        var waiting = engine.Submit(Greedy(p, 2, "b"));
        var sw = Stopwatch.StartNew();
        while (!(engine.Stats.RunningAdapters.SequenceEqual(["a"]) && engine.Stats.WaitingAdapters.SequenceEqual(["b"])) && sw.Elapsed < TestTimeouts.Seconds(20))
        {
            await Task.Delay(5);
        }

        Assert.Equal(["a"], engine.Stats.RunningAdapters);
        Assert.Equal(["b"], engine.Stats.WaitingAdapters);
        running.Cancel();
        await foreach (var _ in running.ReadAllAsync())
        {
        }

        await foreach (var _ in waiting.ReadAllAsync())
        {
        }
    }
}
