using System.Text;
using YoutuServer.Engine.Sampling;
using YoutuServer.Engine.Scheduling;

namespace YoutuServer.Engine.Tests.Engine;

/// <summary>
/// Constraints that leave no token to sample: a complete grammar (only end-of-generation allowed) while ignore_eos,
/// min_tokens or a logit_bias forbid end-of-generation; a logit_bias banning every token the grammar allows; a
/// reasoning budget whose forced close tokens the grammar refuses. Each must end cleanly, never with an error:
/// the grammar wins (it is what the client parses), a complete grammar finishes with Stop.
/// </summary>
[Collection("engine")]
public sealed class ConstraintConflictTests
{
    private const string Prompt = "<|User|>Answer in JSON<|Assistant|>";

    private static Task<InferenceEngine> Start() => InferenceEngine.StartAsync(TinyModel.Options(parallel: 1) with { Threads = 1 });

    private static GenerationRequest Req(InferenceEngine e, string gbnf, uint seed, int max = 8) => new()
    {
        Prompt = e.Tokenize(Prompt),
        MaxTokens = max,
        Sampling = new SamplingParams { Temperature = 1, Seed = seed, Grammar = new GrammarConstraint(gbnf) },
    };

    /// <summary>Every token whose bytes are a non-empty prefix of <paramref name="text"/> (all a grammar for it allows first).</summary>
    private static Dictionary<int, float> BanPrefixesOf(InferenceEngine e, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var ban = new Dictionary<int, float>();
        for (var t = 0; t < e.Model.VocabSize; t++)
        {
            var p = e.Model.TokenBytes(t);
            if (p.Length > 0 && p.Length <= bytes.Length && bytes.AsSpan(0, p.Length).SequenceEqual(p))
            {
                ban[t] = float.NegativeInfinity;
            }
        }

        return ban;
    }

    /// <summary>The choice ended well: no error, finish_reason stop, exactly <paramref name="text"/>.</summary>
    private static void AssertStopped(GenerationChoice c, string text)
    {
        Assert.Null(c.Error);
        Assert.Equal(FinishReason.Stop, c.FinishReason);
        Assert.Equal(text, c.Text);
    }

    private static Dictionary<int, float> BanEndOfGeneration(InferenceEngine e) =>
        e.Model.EndOfGenerationTokens.ToDictionary(t => t, _ => float.NegativeInfinity);

    [Theory]
    [InlineData(0u)]
    [InlineData(1u)]
    [InlineData(2u)]
    public async Task A_complete_grammar_stops_although_ignore_eos_forbids_the_end(uint seed)
    {
        await using var engine = await Start();
        var r = await engine.GenerateAsync(Req(engine, "root ::= \"{}\"\n", seed) with { IgnoreEos = true });
        AssertStopped(r.Choices[0], "{}");
    }

    [Fact]
    public async Task A_complete_grammar_stops_before_min_tokens()
    {
        await using var engine = await Start();
        var r = await engine.GenerateAsync(Req(engine, "root ::= \"{}\"\n", 4) with { MinTokens = 6 });
        AssertStopped(r.Choices[0], "{}");
        Assert.True(r.Choices[0].CompletionTokens < 6);
    }

    [Fact]
    public async Task A_complete_grammar_stops_when_logit_bias_bans_end_of_generation()
    {
        await using var engine = await Start();
        var req = Req(engine, "root ::= \"{}\"\n", 5);
        var r = await engine.GenerateAsync(req with { Sampling = req.Sampling with { LogitBias = BanEndOfGeneration(engine) } });
        AssertStopped(r.Choices[0], "{}");
    }

    [Fact]
    public async Task A_complete_grammar_stops_with_every_constraint_against_the_end_at_once()
    {
        await using var engine = await Start();
        var req = Req(engine, "root ::= \"{}\"\n", 6) with { IgnoreEos = true, MinTokens = 5 };
        var r = await engine.GenerateAsync(req with { Sampling = req.Sampling with { LogitBias = BanEndOfGeneration(engine) } });
        AssertStopped(r.Choices[0], "{}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_logit_bias_that_bans_every_token_the_grammar_allows_yields_to_the_grammar(bool greedy)
    {
        await using var engine = await Start();
        var req = Req(engine, "root ::= \"hello\"\n", 7);
        var sampling = req.Sampling with { LogitBias = BanPrefixesOf(engine, "hello"), Temperature = greedy ? 0 : 1 };
        var r = await engine.GenerateAsync(req with { Sampling = sampling, IgnoreEos = true });
        AssertStopped(r.Choices[0], "hello");
    }

    [Fact]
    public async Task A_logit_bias_is_still_obeyed_where_the_grammar_leaves_a_choice()
    {
        await using var engine = await Start();
        var req = Req(engine, "root ::= \"a\" | \"b\"\n", 8);
        var ban = BanPrefixesOf(engine, "a");
        for (uint seed = 0; seed < 6; seed++)
        {
            var r = await engine.GenerateAsync(req with { Sampling = req.Sampling with { LogitBias = ban, Seed = seed } });
            Assert.Equal("b", r.Choices[0].Text);
            Assert.Equal(FinishReason.Stop, r.Choices[0].FinishReason);
        }
    }

    [Fact]
    public async Task A_reasoning_budget_whose_close_tokens_the_grammar_refuses_lets_the_grammar_finish()
    {
        // Inside reasoning from the start (forced thinking), with a grammar that has no think block at all: the
        // budget cannot write </think> there. Accepting a refused token would throw inside llama.cpp.
        await using var engine = await Start();
        var close = engine.Tokenize("</think>\n\n");
        var req = Req(engine, "root ::= \"[\" [a-z]{3,6} \"]\"\n", 9, max: 12) with
        {
            ReasoningBudget = new ReasoningBudget(1, close, StartsInReasoning: true),
            IgnoreEos = true,
        };
        var r = await engine.GenerateAsync(req);
        var c = r.Choices[0];
        Assert.Null(c.Error);
        Assert.Equal(FinishReason.Stop, c.FinishReason);
        Assert.Matches("^\\[[a-z]{3,6}\\]$", c.Text);
    }

    // The shape of the fuzz case that failed on fresh clones: thinking on, a grammar with an optional think block
    // before a JSON value, reasoning_budget 2, ignore_eos, min_tokens 1 and a few tokens. Every seed must end well.
    private const string ThinkThenJson =
        "root ::= think? value\n" +
        "think ::= \"<think>\" [^<]* \"</think>\" [ \\t\\r\\n]{0,4}\n" +
        "value ::= \"{}\" | \"[]\" | \"{\\\"a\\\":\" value \"}\"\n";

    [Fact]
    public async Task A_reasoning_budget_closing_inside_a_grammar_then_a_complete_grammar_under_ignore_eos_ends_cleanly()
    {
        await using var engine = await Start();
        var close = engine.Tokenize("</think>\n\n");
        var bad = new List<string>();
        for (uint seed = 0; seed < 24; seed++)
        {
            foreach (var startsInReasoning in new[] { false, true })
            {
                var req = Req(engine, ThinkThenJson, seed, max: 4 + (int)(seed % 8)) with
                {
                    ReasoningBudget = new ReasoningBudget(2, close, StartsInReasoning: startsInReasoning),
                    SamplerPrefill = startsInReasoning ? engine.Tokenize("<think>") : [],
                    IgnoreEos = true,
                    MinTokens = 1,
                };
                var r = await engine.GenerateAsync(req);
                var c = r.Choices[0];
                if (c.Error is not null || c.FinishReason is not (FinishReason.Stop or FinishReason.Length))
                {
                    bad.Add($"seed {seed} think {startsInReasoning}: {c.FinishReason} {c.Error} '{c.Text}'");
                }
            }
        }

        Assert.True(bad.Count == 0, string.Join("\n", bad));
    }

    [Theory]
    [InlineData(SamplerMode.Managed)]
    [InlineData(SamplerMode.LlamaChain)]
    public async Task Constraint_conflicts_end_the_same_way_when_sampling_workers_sample_the_choices(SamplerMode mode)
    {
        // Four choices sampled on worker threads each step: End (a complete grammar under ignore_eos/min_tokens) and
        // the bias relaxation come back from the workers and are finished on the inference thread as above.
        var options = TinyModel.Options(parallel: 4) with
        {
            SamplerMode = mode,
            SamplingThreads = 4,
            ParallelSamplingMinSequences = 2,
            ParallelSamplingMinVocab = 0,
        };
        await using var engine = await InferenceEngine.StartAsync(options);
        var complete = Req(engine, "root ::= \"{}\"\n", 9) with { IgnoreEos = true, MinTokens = 5, N = 4 };
        var r = await engine.GenerateAsync(complete with { Sampling = complete.Sampling with { LogitBias = BanEndOfGeneration(engine) } });
        Assert.All(r.Choices, c => AssertStopped(c, "{}"));

        var hello = Req(engine, "root ::= \"hello\"\n", 10) with { IgnoreEos = true, N = 4 };
        r = await engine.GenerateAsync(hello with { Sampling = hello.Sampling with { LogitBias = BanPrefixesOf(engine, "hello") } });
        Assert.All(r.Choices, c => AssertStopped(c, "hello"));

        Assert.True(engine.Stats.ParallelSampledSteps > 0);
    }
}
