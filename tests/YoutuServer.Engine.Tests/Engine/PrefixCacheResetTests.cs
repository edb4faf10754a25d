using YoutuServer.Engine.Sampling;
using YoutuServer.Engine.Scheduling;
using YoutuServer.TestSupport;

namespace YoutuServer.Engine.Tests.Engine;

/// <summary>Clearing the prefix cache returns a shared engine to its state after start (what shared test servers rely on).</summary>
[Collection("engine")]
public sealed class PrefixCacheResetTests
{
    private static GenerationRequest Req(int[] prompt, uint seed) => new()
    {
        Prompt = prompt,
        MaxTokens = 6,
        IgnoreEos = true,
        Sampling = new SamplingParams { Temperature = 1, Seed = seed },
    };

    [Fact]
    public async Task After_a_clear_nothing_is_reused_and_the_same_request_gives_the_same_tokens()
    {
        await using var engine = await InferenceEngine.StartAsync(TinyModel.Options(parallel: 2) with { Threads = 1 });
        var p = engine.Tokenize("<|User|>the same question twice<|Assistant|>");
        var other = engine.Tokenize("<|User|>something else entirely, and longer than that<|Assistant|>");
        var first = await engine.GenerateAsync(Req(p, 3));
        Assert.Equal(0, first.Usage.CachedTokens);
        _ = await engine.GenerateAsync(Req(other, 4));
        Assert.True(engine.Stats.KvCellsUsed > 0);

        await engine.ClearPrefixCacheAsync();
        Assert.Equal(0, engine.Stats.KvCellsUsed);
        var again = await engine.GenerateAsync(Req(p, 3));
        Assert.Equal(0, again.Usage.CachedTokens);
        Assert.Equal(first.Choices[0].Tokens, again.Choices[0].Tokens);

        // Concurrent clears share one; a clear requested while idle does not wait for a request to arrive.
        await Task.WhenAll(engine.ClearPrefixCacheAsync(), engine.ClearPrefixCacheAsync()).WaitAsync(TestTimeouts.Seconds(30));
        Assert.Equal(0, engine.Stats.KvCellsUsed);
    }
}
