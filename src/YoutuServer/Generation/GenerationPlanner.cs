using System.Globalization;
using System.Text.Json;
using YoutuServer.Chat.Grammar;
using YoutuServer.Chat.Messages;
using YoutuServer.Chat.Parsing;
using YoutuServer.Chat.Templates;
using YoutuServer.Engine;
using YoutuServer.Engine.Sampling;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Hosting;
using YoutuServer.Models;

namespace YoutuServer.Generation;

/// <summary>Everything an intent turns into: the rendered prompt, the engine job and how to read its output.</summary>
public sealed record GenerationPlan(
    string? Prompt,
    GenerationRequest Request,
    OutputParserOptions? Parser,
    bool Logprobs,
    string? Echo = null)
{
    public int PromptTokens => Request.Prompt.Count;

    /// <summary>The model that answers, as responses name it: the served model's id, or the LoRA adapter's.</summary>
    public string ModelId { get; init; } = "";

    /// <summary>Where finished turns are remembered token for token (chat plans); null for raw prompts.</summary>
    public OutputMemory? Memory { get; init; }

    /// <summary>What the generation prompt put after the assistant tag (e.g. "&lt;think&gt;\n"), text and tokens: part of the turn as the model saw it.</summary>
    public string Prefill { get; init; } = "";
    public IReadOnlyList<int> PrefillTokens { get; init; } = [];
}

/// <summary>
/// Turns a <see cref="GenerationIntent"/> into a <see cref="GenerationPlan"/>: checks every value (refusing with a typed
/// <see cref="IntentFailure"/>), renders the conversation through the chat formatter, tokenizes, and maps sampling,
/// stop rules, thinking, tools and the output constraint onto an engine request. The one place that knows how a
/// request becomes generation; it knows no wire format.
/// </summary>
public sealed class GenerationPlanner(EngineHost host, ChatFormatting formatting, ServerOptions options, OutputMemory memory)
{
    private readonly PromptAssembler prompts = new(host, formatting, memory);
    private readonly RequestLimits limits = new(host, options);

    /// <summary>A bound on stop strings for any wire format (OpenAI's own limit of 4 is checked by its adapter).</summary>
    public const int MaxStopStrings = 16;
    public const int MaxTools = ToolPlanning.MaxTools;

    private MarkerTokens? markers;

    /// <summary>Token ids of the fixed markers, tokenized once per model instead of on every request.</summary>
    private MarkerTokens Markers => markers ??= MarkerTokens.From(host.Engine);

    private sealed record MarkerTokens(int ToolCall, int ThinkOpen, int ThinkClose, int[] ThinkCloseText, int[] ForcedThinkingPrefill)
    {
        public static MarkerTokens From(InferenceEngine engine)
        {
            // -1 where the vocabulary has no single token for a marker.
            int Single(string text) => engine.Tokenize(text) is [var t] ? t : -1;
            return new MarkerTokens(Single("<tool_call>"), Single("<think>"), Single("</think>"),
                engine.Tokenize("</think>\n\n"), engine.Tokenize(YoutuChatFormatter.ForcedThinkingPrefill));
        }
    }

    /// <summary>The served model's context size in tokens.</summary>
    public int ContextSize => options.CtxSize;

    public GenerationPlan Plan(GenerationIntent intent)
    {
        ArgumentNullException.ThrowIfNull(intent);
        var adapter = ModelResolver.Resolve(host, intent.Model);
        var plan = intent.Raw is { } raw ? PlanRaw(intent, raw) : PlanChat(intent);
        return adapter is null
            ? plan with { ModelId = host.ServedModelId }
            : plan with { ModelId = adapter, Request = plan.Request with { Adapter = adapter } };
    }

    /// <summary>Counts the prompt tokens of an intent (Anthropic's count_tokens), without the output checks.</summary>
    public int CountPromptTokens(GenerationIntent intent)
    {
        ModelResolver.Check(host, intent.Model);
        var limit = Math.Max(65_536, 4 * Math.Max(options.CtxSize, host.Engine.ContextTrain));
        var (_, tokens) = prompts.Render(intent, ResolveThinking(intent.Thinking), ToolPlanning.ValidateTools(intent.Tools), limit, out var atLeast);
        return tokens?.Length ?? atLeast;
    }

    private GenerationPlan PlanChat(GenerationIntent intent)
    {
        var engine = host.Engine;
        if (intent.Messages.Count == 0)
        {
            throw Fail(IntentField.Messages, n => $"'{n(IntentField.Messages)}' must contain at least one message.");
        }

        var thinking = ResolveThinking(intent.Thinking);
        var forced = intent.Thinking.Forced;
        var tools = ToolPlanning.ValidateTools(intent.Tools);
        var (toolMode, named) = ToolPlanning.ResolveToolChoice(intent.ToolChoice, intent.Tools);
        var parallelCalls = intent.ParallelToolCalls;

        var (prompt, rendered) = prompts.Render(intent, thinking, tools, options.CtxSize - 1, out var atLeast);
        var tokens = rendered
            ?? throw new IntentException(new IntentFailure(IntentField.Prompt, IntentFailureKind.ContextLengthExceeded, n =>
                $"This model's maximum context length is {options.CtxSize} tokens. However, your {n(IntentField.Prompt)} resulted in at least {atLeast} tokens. Please reduce the length of the {n(IntentField.Prompt)}."));

        var sampling = limits.BuildSampling(intent.Sampling, thinking);
        var (grammar, deferredUntilCall) = ToolPlanning.BuildGrammar(intent.Output, tools, toolMode, named, parallelCalls, thinking);
        DeferredGrammar? deferred = null;
        IReadOnlyList<int> prefill = [];
        if (grammar is not null && deferredUntilCall)
        {
            // tool_choice auto: the call grammar engages at the <tool_call> token outside reasoning. Youtu's
            // vocabulary has it as one token; a vocabulary without that token gets parsing without a grammar.
            var m = Markers;
            if (m.ToolCall >= 0)
            {
                deferred = new DeferredGrammar(grammar, m.ToolCall, m.ThinkOpen, m.ThinkClose, StartsInReasoning: forced && thinking != false);
            }
        }
        else if (grammar is not null)
        {
            sampling = sampling with { Grammar = grammar };
            if (forced && thinking != false)
            {
                // The prompt already opened the think block; the grammar must see it as output.
                prefill = Markers.ForcedThinkingPrefill;
            }
        }

        var request = limits.Counts(intent, tokens, sampling) with
        {
            TopLogprobs = RequestLimits.CheckLogprobs(intent),
            ReasoningBudget = ResolveBudget(intent.Thinking.Budget, thinking, forced),
            DeferredGrammar = deferred,
            SamplerPrefill = prefill,
        };

        var raw = string.Equals(options.ReasoningFormat, "raw", StringComparison.OrdinalIgnoreCase);
        var parser = new OutputParserOptions
        {
            ThinkingEnabled = thinking != false,
            StartsInReasoning = forced && thinking != false,
            ReasoningFormat = raw ? ReasoningFormat.Raw : ReasoningFormat.Parsed,
            ParseToolCalls = tools.Count > 0 && toolMode != ToolPlanning.ToolMode.None,
            MaxToolCalls = parallelCalls ? null : 1,
        };

        var generationPrefill = YoutuChatFormatter.GenerationPrefill(new ChatRenderOptions { EnableThinking = thinking, ForcedThinking = forced ? true : null });
        return new GenerationPlan(prompt, request, parser, request.TopLogprobs >= 0)
        {
            Memory = memory,
            Prefill = generationPrefill,
            PrefillTokens = generationPrefill.Length == 0 ? [] : engine.Tokenize(generationPrefill),
        };
    }


    private GenerationPlan PlanRaw(GenerationIntent intent, RawPrompt raw)
    {
        var engine = host.Engine;
        int[] prompt;
        if (raw.Tokens is { } ids)
        {
            var vocab = engine.VocabSize;
            for (var i = 0; i < ids.Count; i++)
            {
                if ((uint)ids[i] >= (uint)vocab)
                {
                    var at = i;
                    throw Fail(IntentField.Prompt, n => $"{n(IntentField.Prompt, at)} must be a token id in [0, {vocab - 1}].", i);
                }
            }

            prompt = [.. ids];
        }
        else
        {
            var text = raw.Text ?? "";
            if (text.Length == 0)
            {
                throw Fail(IntentField.Prompt, n => $"'{n(IntentField.Prompt)}' must not be empty.");
            }

            var ctx = options.CtxSize;
            prompt = engine.TryTokenize(text, addSpecial: true, parseSpecial: true, ctx - 1, out var atLeast)
                ?? throw new IntentException(new IntentFailure(IntentField.Prompt, IntentFailureKind.ContextLengthExceeded, n =>
                    $"This model's maximum context length is {ctx} tokens. However, your {n(IntentField.Prompt)} resulted in at least {atLeast} tokens. Please reduce the length of the {n(IntentField.Prompt)}."));
        }

        var request = limits.Counts(intent, prompt, limits.BuildSampling(intent.Sampling, thinking: false));
        var echo = raw.Echo ? engine.Detokenize(prompt, renderSpecial: true) : null;
        return new GenerationPlan(null, request, null, Logprobs: false, echo);
    }
    // ------------------------------------------------------------------ thinking

    private bool? ResolveThinking(ThinkingIntent thinking) =>
        // Server default when the request says nothing. The template's own default is "on" (nothing appended).
        thinking.Enabled ?? (options.Thinking ? null : false);

    private ReasoningBudget? ResolveBudget(int? requested, bool? thinking, bool forced)
    {
        if (requested is < -1)
        {
            throw Fail(IntentField.ReasoningBudget, n => $"'{n(IntentField.ReasoningBudget)}' must be -1 (unlimited) or a non-negative token count.");
        }

        var budget = requested ?? options.ReasoningBudget;
        if (budget < 0 || thinking == false)
        {
            return null;
        }

        return new ReasoningBudget(budget, Markers.ThinkCloseText, StartsInReasoning: forced);
    }

    private static IntentException Fail(IntentField field, Func<FieldNamer, string> describe, int? index = null) =>
        new(IntentFailure.Invalid(field, describe, index));
}

