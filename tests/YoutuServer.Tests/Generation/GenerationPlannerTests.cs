using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using YoutuServer.Chat.Messages;
using YoutuServer.Chat.Templates;
using YoutuServer.Generation;
using YoutuServer.Tests.Api;

namespace YoutuServer.Tests.Generation;

/// <summary>
/// The format-neutral planner, called directly (no HTTP, no wire DTO): each intent either plans into an engine
/// request with the expected prompt, grammar and sampling, or fails with a typed failure naming the intent's field.
/// </summary>
[Collection("server")]
public sealed class GenerationPlannerTests(ServerFixture server)
{
    private GenerationPlanner Planner => server.Services.GetRequiredService<GenerationPlanner>();

    private static readonly ChatMessage[] Hello = [new(ChatRoles.User, "Hello")];

    private static JsonElement Json(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }

    private static readonly ToolDefinition Weather = ToolDefinition.Create("get_weather", "Weather", Json("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"""));

    // The expected failure per case (the enums are internal to the host, so the theory passes the case's name).
    private static readonly Dictionary<string, (IntentField Field, IntentFailureKind Kind, int? Index)> Expected = new()
    {
        ["temperature 3"] = (IntentField.Temperature, IntentFailureKind.Invalid, null),
        ["top_p 0"] = (IntentField.TopP, IntentFailureKind.Invalid, null),
        ["top_k -1"] = (IntentField.TopK, IntentFailureKind.Invalid, null),
        ["repetition 0"] = (IntentField.RepetitionPenalty, IntentFailureKind.Invalid, null),
        ["n 0"] = (IntentField.N, IntentFailureKind.Invalid, null),
        ["n 99"] = (IntentField.N, IntentFailureKind.Invalid, null),
        ["max 0"] = (IntentField.MaxTokens, IntentFailureKind.Invalid, null),
        ["max over context"] = (IntentField.Prompt, IntentFailureKind.ContextLengthExceeded, null),
        ["min over max"] = (IntentField.MinTokens, IntentFailureKind.Invalid, null),
        ["top_logprobs without logprobs"] = (IntentField.TopLogprobs, IntentFailureKind.Invalid, null),
        ["top_logprobs 21"] = (IntentField.TopLogprobs, IntentFailureKind.Invalid, null),
        ["empty stop"] = (IntentField.Stop, IntentFailureKind.Invalid, null),
        ["bad logit bias id"] = (IntentField.LogitBias, IntentFailureKind.Invalid, null),
        ["budget -5"] = (IntentField.ReasoningBudget, IntentFailureKind.Invalid, null),
        ["duplicate tool"] = (IntentField.ToolName, IntentFailureKind.Invalid, 1),
        ["bad tool name"] = (IntentField.ToolName, IntentFailureKind.Invalid, 0),
        ["required without tools"] = (IntentField.ToolChoice, IntentFailureKind.Invalid, null),
        ["named tool missing"] = (IntentField.ToolChoice, IntentFailureKind.Invalid, null),
        ["unsupported schema"] = (IntentField.Output, IntentFailureKind.UnsupportedSchema, null),
        ["unknown model"] = (IntentField.Model, IntentFailureKind.ModelNotFound, null),
        ["no messages"] = (IntentField.Messages, IntentFailureKind.Invalid, null),
    };

    public static TheoryData<string> Failures() => new(Expected.Keys);

    private static GenerationIntent Case(string name)
    {
        var i = new GenerationIntent { Messages = Hello };
        return name switch
        {
            "temperature 3" => i with { Sampling = new SamplingIntent { Temperature = 3 } },
            "top_p 0" => i with { Sampling = new SamplingIntent { TopP = 0 } },
            "top_k -1" => i with { Sampling = new SamplingIntent { TopK = -1 } },
            "repetition 0" => i with { Sampling = new SamplingIntent { RepetitionPenalty = 0 } },
            "n 0" => i with { N = 0 },
            "n 99" => i with { N = 99 },
            "max 0" => i with { MaxTokens = 0 },
            "max over context" => i with { MaxTokens = 1_000_000 },
            "min over max" => i with { MaxTokens = 4, MinTokens = 5 },
            "top_logprobs without logprobs" => i with { TopLogprobs = 2 },
            "top_logprobs 21" => i with { Logprobs = true, TopLogprobs = 21 },
            "empty stop" => i with { Stop = ["x", ""] },
            "bad logit bias id" => i with { Sampling = new SamplingIntent { LogitBias = new Dictionary<string, double> { ["99999999"] = 1 } } },
            "budget -5" => i with { Thinking = new ThinkingIntent(true, -5) },
            "duplicate tool" => i with { Tools = [Weather, Weather] },
            "bad tool name" => i with { Tools = [ToolDefinition.Create("no spaces allowed", null, null)] },
            "required without tools" => i with { ToolChoice = ToolChoice.Required },
            "named tool missing" => i with { Tools = [Weather], ToolChoice = ToolChoice.Function("get_time") },
            "unsupported schema" => i with { Output = new OutputConstraint(OutputKind.JsonSchema, Json("""{"type":"string","pattern":"(?<=a)b"}""")) },
            "unknown model" => i with { Model = "gpt-9" },
            "no messages" => i with { Messages = [] },
            _ => throw new ArgumentException(name),
        };
    }

    [Theory]
    [MemberData(nameof(Failures))]
    public void Bad_intents_fail_with_a_typed_failure_naming_the_field(string name)
    {
        var (field, kind, index) = Expected[name];
        var e = Assert.Throws<IntentException>(() => Planner.Plan(Case(name)));
        Assert.Equal(field, e.Failure.Field);
        Assert.Equal(kind, e.Failure.Kind);
        Assert.Equal(index, e.Failure.Index);

        // Each wire format names the field in its own vocabulary; the message follows the namer.
        FieldNamer shouty = (f, i) => "FIELD_" + f + (i is null ? "" : "_" + i);
        var message = e.Failure.Message(shouty);
        if (kind == IntentFailureKind.Invalid && field is not (IntentField.ToolName or IntentField.LogitBias))
        {
            Assert.Contains("FIELD_" + field, message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Thinking_off_forced_and_default_change_the_prompt_the_parser_and_the_sampling_preset()
    {
        var off = Planner.Plan(new GenerationIntent { Messages = Hello, Thinking = new ThinkingIntent(false) });
        Assert.EndsWith("<|Assistant|>" + YoutuChatFormatter.ThinkingOffPrefill, off.Prompt, StringComparison.Ordinal);
        Assert.False(off.Parser!.ThinkingEnabled);
        Assert.Equal(0.7f, off.Request.Sampling.Temperature, 3);

        var on = Planner.Plan(new GenerationIntent { Messages = Hello, Thinking = new ThinkingIntent(true) });
        Assert.EndsWith("<|Assistant|>", on.Prompt, StringComparison.Ordinal);
        Assert.True(on.Parser!.ThinkingEnabled);
        Assert.Equal(1.0f, on.Request.Sampling.Temperature, 3);
        Assert.Equal(1.05f, on.Request.Sampling.RepetitionPenalty, 3);

        var forced = Planner.Plan(new GenerationIntent { Messages = Hello, Thinking = new ThinkingIntent(true, 8, Forced: true) });
        Assert.EndsWith("<|Assistant|>" + YoutuChatFormatter.ForcedThinkingPrefill, forced.Prompt, StringComparison.Ordinal);
        Assert.True(forced.Parser!.StartsInReasoning);
        Assert.Equal(8, forced.Request.ReasoningBudget!.MaxTokens);
        Assert.Equal(YoutuChatFormatter.ForcedThinkingPrefill, forced.Prefill);
    }

    [Fact]
    public void Tool_choice_and_output_constraints_become_grammars()
    {
        var auto = Planner.Plan(new GenerationIntent { Messages = Hello, Tools = [Weather] });
        Assert.NotNull(auto.Request.DeferredGrammar);
        Assert.Null(auto.Request.Sampling.Grammar);
        Assert.True(auto.Parser!.ParseToolCalls);
        Assert.Contains("get_weather", auto.Prompt, StringComparison.Ordinal);

        var required = Planner.Plan(new GenerationIntent { Messages = Hello, Tools = [Weather], ToolChoice = ToolChoice.Required, ParallelToolCalls = false });
        Assert.NotNull(required.Request.Sampling.Grammar);
        Assert.Equal(1, required.Parser!.MaxToolCalls);

        var none = Planner.Plan(new GenerationIntent { Messages = Hello, Tools = [Weather], ToolChoice = ToolChoice.None });
        Assert.Null(none.Request.Sampling.Grammar);
        Assert.Null(none.Request.DeferredGrammar);
        Assert.False(none.Parser!.ParseToolCalls);

        var json = Planner.Plan(new GenerationIntent { Messages = Hello, Output = new OutputConstraint(OutputKind.JsonObject) });
        Assert.NotNull(json.Request.Sampling.Grammar);
    }

    [Fact]
    public void Counts_stops_and_raw_prompts_map_onto_the_engine_request()
    {
        var plan = Planner.Plan(new GenerationIntent { Messages = Hello, N = 2, MaxTokens = 7, MinTokens = 3, IgnoreEos = true, Stop = ["END"], Logprobs = true, TopLogprobs = 2, Sampling = new SamplingIntent { Seed = 5, TopK = 3 } });
        Assert.Equal(2, plan.Request.N);
        Assert.Equal(7, plan.Request.MaxTokens);
        Assert.Equal(3, plan.Request.MinTokens);
        Assert.True(plan.Request.IgnoreEos);
        Assert.Equal(["END"], plan.Request.Stop);
        Assert.Equal(2, plan.Request.TopLogprobs);
        Assert.Equal(5u, plan.Request.Sampling.Seed);
        Assert.Equal(3, plan.Request.Sampling.TopK);

        var raw = Planner.Plan(new GenerationIntent { Raw = new RawPrompt(null, [1, 2, 3], Echo: true), MaxTokens = 4 });
        Assert.Equal([1, 2, 3], raw.Request.Prompt);
        Assert.Null(raw.Parser);
        Assert.NotNull(raw.Echo);

        var bad = Assert.Throws<IntentException>(() => Planner.Plan(new GenerationIntent { Raw = new RawPrompt(null, [1, -1]) }));
        Assert.Equal(IntentField.Prompt, bad.Failure.Field);
        Assert.Equal(1, bad.Failure.Index);
    }
}
