using System.Text;
using YoutuServer.Engine.Sampling;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Engine.Tests.Engine;

namespace YoutuServer.Engine.Tests.Faults;

/// <summary>
/// A grammar that only allows multi-byte words, on the tiny model whose tokens are single bytes: every generated
/// byte sequence must be valid UTF-8 (no U+FFFD in the text), whatever the seed.
/// </summary>
[Collection("engine")]
public sealed class Utf8GrammarTests
{
    // llama.cpp's grammar decodes token bytes without rejecting overlong forms, so on a byte-level vocabulary it
    // accepts F0 86 97 A5 for 日 (U+65E5) or F0 84 B8 AD for 中; before the engine's Utf8TokenGuard the text then
    // held U+FFFD (seeds 1, 3, 5, 12, 27, 39 here).
    [Fact]
    public async Task A_grammar_of_multi_byte_words_yields_valid_utf8_for_every_seed()
    {
        await using var engine = await InferenceEngine.StartAsync(TinyModel.Options(parallel: 1) with { Threads = 1 });
        const string gbnf = "root ::= \"\\\"\" (\"日本語\" | \"中文字符\" | \"ünï\" | \"😀\") \"\\\"\"\n";
        var bad = new List<string>();
        for (uint seed = 0; seed < 40; seed++)
        {
            var r = await engine.GenerateAsync(new GenerationRequest
            {
                Prompt = engine.Tokenize("<|User|>word<|Assistant|>"),
                MaxTokens = 40,
                Sampling = new SamplingParams { Temperature = 1, Seed = seed, Grammar = new GrammarConstraint(gbnf) },
            });
            var c = r.Choices[0];
            if (c.Text.Contains('\uFFFD', StringComparison.Ordinal))
            {
                var bytes = c.Tokens.Select(t =>
                {
                    var buf = new byte[64];
                    var n = engine.Model.TokenToPiece(t, buf);
                    return Convert.ToHexString(buf, 0, n);
                });
                bad.Add($"seed {seed}: '{c.Text}' tokens [{string.Join(",", c.Tokens)}] bytes [{string.Join(" ", bytes)}]");
            }
        }

        Assert.True(bad.Count == 0, string.Join("\n", bad));
    }

    [Fact]
    public async Task A_grammar_that_allows_only_invalid_utf8_still_completes()
    {
        // A lone surrogate (ED A0 80) is the only text this grammar accepts: the guard must not turn it into a failure.
        await using var engine = await InferenceEngine.StartAsync(TinyModel.Options(parallel: 1) with { Threads = 1 });
        var r = await engine.GenerateAsync(new GenerationRequest
        {
            Prompt = engine.Tokenize("<|User|>x<|Assistant|>"),
            MaxTokens = 10,
            Sampling = new SamplingParams { Temperature = 1, Seed = 1, Grammar = new GrammarConstraint("root ::= \"a\\uD800b\"\n") },
        });
        var c = r.Choices[0];
        Assert.Null(c.Error);
        Assert.Equal(FinishReason.Stop, c.FinishReason);
        Assert.Matches("^a\uFFFD+b$", c.Text);
    }
}
