using YoutuServer.Engine.Sampling;
using YoutuServer.Engine.Scheduling;
using YoutuServer.TestSupport;

namespace YoutuServer.Engine.Tests.Engine;

[Collection("engine")]
public sealed class SchedulerTests
{
    private static GenerationRequest Req(int[] prompt, int max, uint seed, int n = 1) => new()
    {
        Prompt = prompt,
        MaxTokens = max,
        IgnoreEos = true,
        N = n,
        Sampling = new SamplingParams { Temperature = 1, Seed = seed },
    };

    private static int[] Prompt(InferenceEngine e, string text) => e.Tokenize(text);

    [Fact]
    public async Task Second_turn_reuses_the_cached_prefix_and_evaluates_only_the_suffix()
    {
        await using var engine = await InferenceEngine.StartAsync(TinyModel.Options(parallel: 2));
        var turn1 = Prompt(engine, "<|begin_of_text|>You are a helpful assistant.<|User|>" + string.Concat(Enumerable.Repeat("Tell me about the history of the town. ", 8)) + "<|Assistant|>");
        var first = await engine.GenerateAsync(Req(turn1, 6, 1));
        Assert.Equal(0, first.Usage.CachedTokens);

        var before = engine.Stats.PromptTokensEvaluated;
        var turn2 = turn1.Concat(first.Choices[0].Tokens).Concat(Prompt(engine, "<|end_of_text|><|User|>And then?<|Assistant|>")).ToArray();
        var second = await engine.GenerateAsync(Req(turn2, 4, 2));
        var evaluated = engine.Stats.PromptTokensEvaluated - before;

        // Everything but the last generated token is in the KV cache (that token was sampled, never decoded).
        var cachedExpected = turn1.Length + first.Choices[0].Tokens.Count - 1;
        Assert.Equal(cachedExpected, second.Usage.CachedTokens);
        Assert.Equal(turn2.Length - cachedExpected, evaluated);
        Assert.Equal(4, second.Choices[0].CompletionTokens);
    }

    [Fact]
    public async Task Identical_prompt_reuses_all_but_the_last_token()
    {
        await using var engine = await InferenceEngine.StartAsync(TinyModel.Options(parallel: 1));
        var p = Prompt(engine, "<|User|>hello there, how are you doing today?<|Assistant|>");
        var a = await engine.GenerateAsync(Req(p, 3, 5));
        var b = await engine.GenerateAsync(Req(p, 3, 5));
        Assert.Equal(p.Length - 1, b.Usage.CachedTokens);
        Assert.Equal(a.Choices[0].Tokens, b.Choices[0].Tokens); // same seed, reused cells: same output
    }

    [Fact]
    public async Task N_completions_evaluate_the_prompt_once_and_sample_independently()
    {
        await using var engine = await InferenceEngine.StartAsync(TinyModel.Options(parallel: 4));
        var p = Prompt(engine, "<|User|>Write three different words<|Assistant|>");
        var before = engine.Stats.PromptTokensEvaluated;
        var r = await engine.GenerateAsync(Req(p, 12, 11, n: 3));
        Assert.Equal(p.Length, engine.Stats.PromptTokensEvaluated - before);
        Assert.Equal(3, r.Choices.Count);
        Assert.All(r.Choices, c => Assert.Equal(12, c.CompletionTokens));
        Assert.Equal(36, r.Usage.CompletionTokens);
        Assert.True(r.Choices.Select(c => string.Join(",", c.Tokens)).Distinct().Count() > 1, "choices should not all be identical");
    }

    [Fact]
    public async Task A_request_gives_the_same_tokens_alone_and_in_a_batch()
    {
        await using var engine = await InferenceEngine.StartAsync(TinyModel.Options(parallel: 4));
        var p = Prompt(engine, "<|User|>Deterministic please<|Assistant|>");
        var alone = await engine.GenerateAsync(Req(p, 16, 42));

        var others = Enumerable.Range(0, 3).Select(i => engine.GenerateAsync(Req(Prompt(engine, $"<|User|>other request number {i} with a longer prompt<|Assistant|>"), 20, (uint)(100 + i)))).ToList();
        var batched = await engine.GenerateAsync(Req(p, 16, 42));
        await Task.WhenAll(others);
        Assert.Equal(alone.Choices[0].Tokens, batched.Choices[0].Tokens);
    }

    [Fact]
    public async Task Full_queue_and_too_long_requests_are_refused_with_reasons()
    {
        await using var engine = await InferenceEngine.StartAsync(TinyModel.Options(parallel: 1) with { QueueSize = 1, CtxSize = 512 });
        var p = Prompt(engine, "<|User|>hi<|Assistant|>");
        using var cts = new CancellationTokenSource();
        var running = engine.Submit(Req(p, 400, 1), cts.Token);
        await running.Events.WaitToReadAsync(); // admitted: the slot is busy
        var queued = engine.Submit(Req(p, 4, 1), cts.Token);
        var full = Assert.Throws<EngineRejectedException>(() => engine.Submit(Req(p, 4, 1)));
        Assert.Equal(RejectionReason.QueueFull, full.Reason);

        var tooLong = Assert.Throws<EngineRejectedException>(() => engine.Submit(Req(p, 600, 1)));
        Assert.Equal(RejectionReason.ContextLengthExceeded, tooLong.Reason);
        Assert.Equal(512, tooLong.ContextLimit);
        Assert.Equal(p.Length + 600, tooLong.RequestedTokens);
        Assert.Contains("512", tooLong.Message, StringComparison.Ordinal);

        await cts.CancelAsync();
        await foreach (var _ in running.ReadAllAsync())
        {
        }

        await foreach (var _ in queued.ReadAllAsync())
        {
        }

        engine.Scheduler.BeginDrain();
        var closed = Assert.Throws<EngineRejectedException>(() => engine.Submit(Req(p, 4, 1)));
        Assert.Equal(RejectionReason.ShuttingDown, closed.Reason);
    }

    [Fact]
    public async Task Cancelled_queued_request_leaves_without_running()
    {
        await using var engine = await InferenceEngine.StartAsync(TinyModel.Options(parallel: 1));
        var p = Prompt(engine, "<|User|>hi<|Assistant|>");
        using var stopFirst = new CancellationTokenSource();
        var first = engine.Submit(Req(p, 1000, 1), stopFirst.Token);
        await first.Events.WaitToReadAsync();
        using var cts = new CancellationTokenSource();
        var second = engine.Submit(Req(p, 5, 1), cts.Token);
        await cts.CancelAsync();
        var reasons = new List<FinishReason>();
        await foreach (var e in second.ReadAllAsync())
        {
            if (e is ChoiceFinishedEvent f)
            {
                reasons.Add(f.Reason);
            }

            Assert.IsNotType<TokenEvent>(e);
        }

        Assert.Equal([FinishReason.Cancelled], reasons);
        await stopFirst.CancelAsync();
        await foreach (var _ in first.ReadAllAsync())
        {
        }

        // The stats are a snapshot the loop publishes after its step: the stream can end just before it.
        var stats = await SettledStats(engine, s => s.QueueDepth == 0 && s.ActiveSequences == 0);
        Assert.Equal(0, stats.QueueDepth);
        Assert.Equal(0, stats.ActiveSequences);
    }

    /// <summary>The engine's stats once <paramref name="settled"/> holds, or after 5 s scaled (the caller's asserts then fail).</summary>
    private static async Task<EngineStats> SettledStats(InferenceEngine engine, Func<EngineStats, bool> settled)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Seconds(5);
        while (!settled(engine.Stats) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        return engine.Stats;
    }

    [Fact]
    public async Task Reasoning_budget_closes_the_think_block()
    {
        await using var engine = await InferenceEngine.StartAsync(TinyModel.Options(parallel: 1));
        var close = engine.Tokenize("</think>\n\n");
        var think = engine.Tokenize("<think>")[0];
        var p = Prompt(engine, "<|User|>think<|Assistant|>");
        // Force the model to open a think block (+100 on <think> for the first token only is not expressible,
        // so start inside reasoning instead, as forced thinking does).
        var r = await engine.GenerateAsync(Req(p, 30, 3) with { ReasoningBudget = new ReasoningBudget(5, close, StartsInReasoning: true) });
        var tokens = r.Choices[0].Tokens;
        var at = tokens.ToList().IndexOf(close[0]);
        Assert.Equal(5, at); // five thinking tokens, then the engine writes </think>
        Assert.Equal(close, tokens.Skip(5).Take(close.Length));
        Assert.Contains("</think>", r.Choices[0].Text, StringComparison.Ordinal);
        _ = think;
    }
}

[Collection("engine")]
public sealed class KvPressureTests
{
    [Fact]
    public async Task Prompts_that_overbook_the_kv_pool_wait_instead_of_failing()
    {
        await using var engine = await InferenceEngine.StartAsync(TinyModel.Options(parallel: 2, ctx: 256));
        var prompt = engine.Tokenize(string.Concat(Enumerable.Repeat("word ", 150)));
        Assert.InRange(prompt.Length, 120, 200);
        var a = engine.GenerateAsync(new GenerationRequest { Prompt = prompt, MaxTokens = 8, IgnoreEos = true, Sampling = new SamplingParams { Temperature = 0 } });
        var b = engine.GenerateAsync(new GenerationRequest { Prompt = prompt.Reverse().ToArray(), MaxTokens = 8, IgnoreEos = true, Sampling = new SamplingParams { Temperature = 0 } });
        var results = await Task.WhenAll(a, b).WaitAsync(TestTimeouts.Seconds(60));
        Assert.All(results, r => Assert.Equal(FinishReason.Length, r.Choices[0].FinishReason));
        Assert.All(results, r => Assert.Equal(8, r.Choices[0].CompletionTokens));
    }
}
