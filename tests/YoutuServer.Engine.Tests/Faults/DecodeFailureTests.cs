using YoutuServer.Engine.Sampling;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Engine.Tests.Engine;
using YoutuServer.TestSupport;

namespace YoutuServer.Engine.Tests.Faults;

/// <summary>
/// A request whose tokens make llama_decode fail (an id outside the vocabulary, which the HTTP layer would refuse)
/// shares a batch with healthy requests: it alone ends with an error, its sequences are freed natively, and the
/// healthy requests produce exactly what they produce alone.
/// </summary>
[Collection("engine")]
public sealed class DecodeFailureTests
{
    private static GenerationRequest Healthy(InferenceEngine e, int max, string text = "<|User|>hello there<|Assistant|>") => new()
    {
        Prompt = e.Tokenize(text),
        MaxTokens = max,
        IgnoreEos = true,
        // Seeded sampling, not greedy: a sequence that sampled from another's logits would visibly diverge.
        Sampling = new SamplingParams { Temperature = 1, Seed = 1234 },
    };

    private static GenerationRequest Poisoned(InferenceEngine e, int badToken, int n = 1)
    {
        var prompt = e.Tokenize("<|User|>this prompt hides a bad token<|Assistant|>").ToList();
        prompt.Insert(prompt.Count / 2, badToken);
        return new GenerationRequest { Prompt = prompt, MaxTokens = 8, N = n, Sampling = new SamplingParams { Temperature = 0 } };
    }

    private sealed record Outcome(List<ChoiceFinishedEvent> Finished, RequestCompletedEvent? Completed, string Text, int Tokens);

    private static Func<EngineStats>? Stats { get; set; }

    private static async Task<Outcome> ReadAsync(GenerationHandle h, Func<int, Task>? onToken = null)
    {
        var finished = new List<ChoiceFinishedEvent>();
        RequestCompletedEvent? completed = null;
        var text = new System.Text.StringBuilder();
        var tokens = 0;
        // Generous: on a loaded 2-core machine the tiny model has run at 130 ms per step (400 steps = 52 s).
        using var timeout = new CancellationTokenSource(TestTimeouts.Seconds(180));
        var reader = h.ReadAllAsync(timeout.Token).GetAsyncEnumerator(timeout.Token);
        while (true)
        {
            try
            {
                if (!await reader.MoveNextAsync())
                {
                    break;
                }
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"the stream did not end within 180 s: {tokens} tokens, finished [{string.Join(",", finished.Select(f => f.Reason))}], completed {completed is not null}, stats {Stats?.Invoke()}");
            }

            var e = reader.Current;
            switch (e)
            {
                case TokenEvent t:
                    text.Append(t.Text);
                    tokens++;
                    if (onToken is not null)
                    {
                        await onToken(tokens);
                    }

                    break;
                case ChoiceFinishedEvent f:
                    text.Append(f.Text);
                    finished.Add(f);
                    break;
                case RequestCompletedEvent c:
                    completed = c;
                    break;
            }
        }

        await reader.DisposeAsync();
        return new Outcome(finished, completed, text.ToString(), tokens);
    }

    private static void AssertFailedAlone(Outcome bad, int n = 1)
    {
        Assert.Equal(n, bad.Finished.Count);
        Assert.All(bad.Finished, f =>
        {
            Assert.Equal(FinishReason.Error, f.Reason);
            Assert.Contains("llama_decode", f.Error, StringComparison.Ordinal);
        });
        Assert.NotNull(bad.Completed); // the stream always ends with RequestCompleted
        Assert.Equal(0, bad.Tokens);
    }

    private static void AssertHealthy(Outcome o, int tokens)
    {
        var f = Assert.Single(o.Finished);
        Assert.True(f.Reason == FinishReason.Length, $"a healthy request ended with {f.Reason}: {f.Error}");
        Assert.Equal(tokens, o.Tokens);
    }

    private static void AssertAllSequencesFree(InferenceEngine engine, int parallel)
    {
        Assert.Equal(0, engine.Stats.ActiveSequences);
        Assert.Equal(0, engine.Stats.QueueDepth);
        for (var seq = 0; seq < parallel; seq++)
        {
            // Failed sequences are truncated; with PrefixCache on, healthy finished ones may remain as a cache,
            // but never beyond what the scheduler accounts for.
            var (_, max) = engine.Scheduler.NativeSequenceRange(seq);
            Assert.True(max + 1 <= engine.Stats.KvCellsUsed, $"seq {seq} holds cells up to {max} the scheduler does not count");
        }
    }

    // Regression: RecoverFromDecodeFailure re-decodes each request's part alone; each group must be sampled right
    // after its own sub-decode, or healthy groups read the LAST sub-decode's logits rows.
    [Theory]
    [InlineData(1)] // vocab + 1
    [InlineData(-1)]
    [InlineData(int.MaxValue)]
    public async Task A_bad_token_in_the_same_batch_fails_only_its_own_request(int which)
    {
        await using var engine = await InferenceEngine.StartAsync(TinyModel.Options(parallel: 4) with { PrefixCache = false, Threads = 1 });
        var bad = which == 1 ? engine.Model.VocabSize + 1 : which;
        var alone = await engine.GenerateAsync(Healthy(engine, 24));
        var alone2 = await engine.GenerateAsync(Healthy(engine, 24, "<|User|>another one<|Assistant|>"));

        // A blocker keeps the loop stepping; the three submissions (microseconds apart) land in one of its steps,
        // so a single llama_decode carries the blocker's token, both healthy prompts and the poisoned one.
        var blocker = Healthy(engine, 200, "<|User|>keep the loop busy<|Assistant|>") with { N = 1 };
        var aloneBlocker = await engine.GenerateAsync(blocker);
        var hBlock = engine.Submit(blocker);
        await hBlock.Events.WaitToReadAsync();
        var h1 = engine.Submit(Healthy(engine, 24));
        var hBad = engine.Submit(Poisoned(engine, bad));
        var h2 = engine.Submit(Healthy(engine, 24, "<|User|>another one<|Assistant|>"));
        var results = await Task.WhenAll(ReadAsync(h1), ReadAsync(hBad), ReadAsync(h2), ReadAsync(hBlock));
        AssertHealthy(results[3], 200);
        Assert.Equal(aloneBlocker.Choices[0].Text, results[3].Text);
        AssertFailedAlone(results[1]);
        AssertHealthy(results[0], 24);
        AssertHealthy(results[2], 24);
        Assert.Equal(alone.Choices[0].Text, results[0].Text);
        Assert.Equal(alone2.Choices[0].Text, results[2].Text);
        Assert.Equal(24, results[0].Completed!.Usage.CompletionTokens);

        AssertAllSequencesFree(engine, 4);
        for (var seq = 0; seq < 4; seq++)
        {
            Assert.Equal(-1, engine.Scheduler.NativeSequenceRange(seq).PosMax); // PrefixCache off: nothing left
        }

        Assert.Equal(0, engine.Stats.KvCellsUsed);
        var after = await engine.GenerateAsync(Healthy(engine, 24));
        Assert.Equal(alone.Choices[0].Text, after.Choices[0].Text);
    }

    [Fact]
    public async Task A_bad_prompt_arriving_mid_generation_fails_alone_and_the_stream_goes_on()
    {
        await using var engine = await InferenceEngine.StartAsync(TinyModel.Options(parallel: 2) with { Threads = 1 });
        var alone = await engine.GenerateAsync(Healthy(engine, 64));
        var running = engine.Submit(Healthy(engine, 64));
        Task<Outcome>? badTask = null;
        var good = await ReadAsync(running, tokens =>
        {
            if (tokens == 5)
            {
                // This step's batch: the running sequence's next token + the poisoned prompt.
                badTask = ReadAsync(engine.Submit(Poisoned(engine, engine.Model.VocabSize + 100)));
            }

            return Task.CompletedTask;
        });
        Assert.NotNull(badTask);
        AssertFailedAlone(await badTask);
        AssertHealthy(good, 64);
        Assert.Equal(alone.Choices[0].Text, good.Text);
        AssertAllSequencesFree(engine, 2);
    }

    /// <summary>
    /// Deterministic: two healthy sequences are generating when a poisoned prompt joins their batch. The recovery
    /// re-decodes each request's part alone; every healthy sequence must then sample from its own logits.
    /// </summary>
    [Fact]
    public async Task Two_running_streams_survive_a_bad_prompt_joining_their_batch_unchanged()
    {
        await using var engine = await InferenceEngine.StartAsync(TinyModel.Options(parallel: 3) with { Threads = 1 });
        Stats = () => engine.Stats;
        const int max = 200;
        var reqA = Healthy(engine, max, "<|User|>first stream<|Assistant|>");
        var reqB = Healthy(engine, max, "<|User|>a different second stream<|Assistant|>");
        var soloA = await engine.GenerateAsync(reqA);
        var soloB = await engine.GenerateAsync(reqB);
        // The engine does not wait for readers: on a busy machine it can finish both streams before the reader of A
        // sees its sixth token. Such an attempt did not test the case (the bad prompt ran alone); its outcomes must
        // still be right, and the scenario is run again until the bad prompt did arrive while both were generating.
        var tested = 0;
        for (var attempt = 0; attempt < 5 && tested == 0; attempt++)
        {
            var a = engine.Submit(reqA);
            var b = engine.Submit(reqB);
            var bTokens = 0;
            Task<Outcome>? badTask = null;
            var bothActive = false;
            var readB = ReadAsync(b, t =>
            {
                Volatile.Write(ref bTokens, t);
                return Task.CompletedTask;
            });
            var readA = ReadAsync(a, t =>
            {
                if (t >= 6 && badTask is null && Volatile.Read(ref bTokens) >= 3)
                {
                    // Both are generating: the next step batches A, B and the bad prompt.
                    bothActive = engine.Stats.ActiveSequences == 2;
                    badTask = ReadAsync(engine.Submit(Poisoned(engine, engine.Model.VocabSize + 7)));
                }

                return Task.CompletedTask;
            });
            var goodA = await readA;
            var goodB = await readB;
            Assert.NotNull(badTask);
            AssertFailedAlone(await badTask);
            AssertHealthy(goodA, max);
            AssertHealthy(goodB, max);
            Assert.Equal(soloA.Choices[0].Text, goodA.Text);
            Assert.Equal(soloB.Choices[0].Text, goodB.Text);
            tested += bothActive ? 1 : 0;
        }

        Assert.True(tested > 0, "setup: in 5 attempts the engine never still had both streams generating when the bad prompt arrived");
        AssertAllSequencesFree(engine, 3);
    }

    [Fact]
    public async Task A_bad_request_with_several_choices_fails_every_choice_and_frees_every_slot()
    {
        await using var engine = await InferenceEngine.StartAsync(TinyModel.Options(parallel: 3) with { PrefixCache = false, Threads = 1 });
        var hBad = engine.Submit(Poisoned(engine, engine.Model.VocabSize, n: 2));
        var hGood = engine.Submit(Healthy(engine, 16));
        var bad = await ReadAsync(hBad);
        var good = await ReadAsync(hGood);
        AssertFailedAlone(bad, n: 2);
        AssertHealthy(good, 16);
        Assert.Equal(0, engine.Stats.KvCellsUsed);
        for (var seq = 0; seq < 3; seq++)
        {
            Assert.Equal(-1, engine.Scheduler.NativeSequenceRange(seq).PosMax);
        }

        // All three slots are usable again: a request with n = 3.
        var three = await engine.GenerateAsync(Healthy(engine, 8) with { N = 3 });
        Assert.All(three.Choices, c => Assert.Equal(8, c.CompletionTokens));
    }
}
