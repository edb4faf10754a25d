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
internal sealed record GenerationPlan(
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
    internal State.IOutputMemory? Memory { get; init; }

    /// <summary>Whose turns they are (the intent's tenant).</summary>
    internal State.TenantId Tenant { get; init; } = State.TenantId.Anonymous;

    /// <summary>The conversation this turn belongs to (prompt_cache_key) and where its prefix is kept pinned; null: no hint.</summary>
    internal (string Conversation, ConversationPins Pins)? CacheHint { get; init; }

    /// <summary>What the generation prompt put after the assistant tag (e.g. "&lt;think&gt;\n"), text and tokens: part of the turn as the model saw it.</summary>
    public string Prefill { get; init; } = "";
    public IReadOnlyList<int> PrefillTokens { get; init; } = [];

    /// <summary>Messages dropped from the start of the conversation to fit the context (<see cref="GenerationIntent.DropOldestToFit"/>).</summary>
    public int DroppedMessages { get; init; }
}

/// <summary>
/// Turns a <see cref="GenerationIntent"/> into a <see cref="GenerationPlan"/>: checks every value (refusing with a typed
/// <see cref="IntentFailure"/>), renders the conversation through the chat formatter, tokenizes, and maps sampling,
/// stop rules, thinking, tools and the output constraint onto an engine request. The one place that knows how a
/// request becomes generation; it knows no wire format.
/// </summary>
internal sealed class GenerationPlanner(EngineHost host, ChatFormatting formatting, ServerOptions options, State.IOutputMemory memory, ConversationPins pins)
{
    private readonly PromptAssembler prompts = new(host, formatting);
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
            return new MarkerTokens(Single(ToolCallGrammar.CallOpen), Single("<think>"), Single("</think>"),
                engine.Tokenize("</think>\n\n"), engine.Tokenize(YoutuChatFormatter.ForcedThinkingPrefill));
        }
    }

    /// <summary>The served model's context size in tokens.</summary>
    public int ContextSize => options.CtxSize;

    /// <summary>Fetches the turns the output memory remembers (<see cref="RecallTurnsAsync"/>), then plans.</summary>
    public async ValueTask<GenerationPlan> PlanAsync(GenerationIntent intent, CancellationToken cancellationToken)
        => Plan(await RecallTurnsAsync(intent, cancellationToken).ConfigureAwait(false));

    /// <summary>
    /// The intent with the remembered assistant turns it may reuse (<see cref="GenerationIntent.RecalledTurns"/>). A
    /// memory that cannot answer costs only prefix-cache reuse: its turns are rendered from their fields.
    /// </summary>
    public async ValueTask<GenerationIntent> RecallTurnsAsync(GenerationIntent intent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(intent);
        var source = intent.Messages;
        var scope = CacheScopeOf(intent);
        var keys = new List<string>();
        for (var i = 0; i < source.Count - 1; i++)
        {
            if (source[i].Role == ChatRoles.Assistant)
            {
                keys.Add(OutputMemoryKeys.Of(source[i], scope));
            }
        }

        if (keys.Count == 0)
        {
            return intent;
        }

        IReadOnlyDictionary<string, State.RememberedOutput> found;
        try
        {
            found = await memory.RecallManyAsync(intent.Tenant, keys, cancellationToken).ConfigureAwait(false); // one round trip
        }
        catch (State.StateUnavailableException)
        {
            return intent;
        }

        return found.Count == 0 ? intent : intent with { RecalledTurns = found };
    }

    public GenerationPlan Plan(GenerationIntent intent)
    {
        ArgumentNullException.ThrowIfNull(intent);
        var adapter = ModelResolver.Resolve(host, intent.Model);
        var scope = CacheScopeOf(intent);
        var plan = intent.Raw is { } raw ? PlanRaw(intent, raw) : PlanChat(intent);
        plan = plan with { Request = plan.Request with { CacheSalt = scope }, CacheHint = intent.CacheKey is { Length: > 0 } key ? (key, pins) : null };
        return adapter is null
            ? plan with { ModelId = host.ServedModelId }
            : plan with { ModelId = adapter, Request = plan.Request with { Adapter = adapter } };
    }

    /// <summary>
    /// The prefix-cache scope of an intent (the engine's tenant salt): the API key's tenant and the request's own
    /// cache_salt. Null, the one shared scope, only without keys and without a salt: with keys on, a key never reuses
    /// (nor learns from cached_tokens about) another key's prompts. The output memory's keys carry the same scope.
    /// </summary>
    public static string? CacheScopeOf(GenerationIntent intent)
    {
        ArgumentNullException.ThrowIfNull(intent);
        if (intent.CacheSalt is { Length: 0 })
        {
            throw Fail(IntentField.CacheSalt, n => $"'{n(IntentField.CacheSalt)}' must be a non-empty string when given.");
        }

        return intent.Tenant == State.TenantId.Anonymous && intent.CacheSalt is null
            ? null
            : intent.Tenant.Value + "\u0001" + (intent.CacheSalt ?? "");
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
        var dropped = 0;
        if (intent.DropOldestToFit)
        {
            (intent, prompt, rendered, dropped) = DropOldestToFit(intent, prompt, rendered, thinking, tools, ref atLeast);
        }

        var tokens = rendered
            ?? throw new IntentException(new IntentFailure(IntentField.Prompt, IntentFailureKind.ContextLengthExceeded, n =>
                $"This model's maximum context length is {options.CtxSize} tokens. However, your {n(IntentField.Prompt)} resulted in at least {atLeast} tokens. Please reduce the length of the {n(IntentField.Prompt)}."));

        var sampling = limits.BuildSampling(intent.Sampling, thinking);
        var (grammar, deferredUntilCall, spec) = ToolPlanning.BuildGrammar(intent.Output, tools, toolMode, named, parallelCalls, thinking);
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
        else if (grammar is not null && forced && thinking != false)
        {
            // The prompt already opened the think block; the grammar must see it as output.
            prefill = Markers.ForcedThinkingPrefill;
        }

        var request = limits.Counts(intent, tokens, sampling) with
        {
            TopLogprobs = RequestLimits.CheckLogprobs(intent),
            ReasoningBudget = ResolveBudget(intent.Thinking.Budget, thinking, forced),
            DeferredGrammar = deferred,
            SamplerPrefill = prefill,
        };
        if (grammar is not null && !deferredUntilCall)
        {
            var fitted = FitForcedOutput(request, grammar, spec!, intent.Output, tools, toolMode, named, thinking, forced,
                parallelCalls && toolMode is ToolPlanning.ToolMode.Required or ToolPlanning.ToolMode.Named);
            request = fitted with { Sampling = fitted.Sampling with { Grammar = fitted.Sampling.Grammar ?? grammar } };
        }

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
            Tenant = intent.Tenant,
            Prefill = generationPrefill,
            PrefillTokens = generationPrefill.Length == 0 ? [] : engine.Tokenize(generationPrefill),
            DroppedMessages = dropped,
        };
    }

    /// <summary>
    /// Drops the oldest turn (a user message with the replies after it, or replies before the first user message)
    /// until the prompt and the requested output fit the context; system and developer messages and the last user
    /// turn are never dropped. Returns the intent that fits (or the shortest one when none does) and how many messages went.
    /// </summary>
    private (GenerationIntent Intent, string Prompt, int[]? Tokens, int Dropped) DropOldestToFit(
        GenerationIntent intent, string prompt, int[]? tokens, bool? thinking, List<JsonElement> tools, ref int atLeast)
    {
        var ctx = options.CtxSize;
        bool Fits(int[]? t) => t is not null && (long)t.Length + Math.Max(1, intent.MaxTokensIsCap ? 1 : intent.MaxTokens ?? 1) <= ctx;

        var messages = intent.Messages.ToList();
        var dropped = 0;
        while (!Fits(tokens))
        {
            var lastUser = messages.FindLastIndex(m => m.Role == ChatRoles.User);
            var first = messages.FindIndex(m => m.Role is not (ChatRoles.System or ChatRoles.Developer));
            if (first < 0 || lastUser < 0 || first >= lastUser)
            {
                break; // only what must stay is left
            }

            // The turn: from here to the next user message (the last user turn at the latest), system messages kept.
            var end = messages.FindIndex(first + 1, m => m.Role == ChatRoles.User);
            end = end < 0 || end > lastUser ? lastUser : end;
            for (var i = end - 1; i >= first; i--)
            {
                if (messages[i].Role is not (ChatRoles.System or ChatRoles.Developer))
                {
                    messages.RemoveAt(i);
                    dropped++;
                }
            }

            intent = intent with { Messages = messages.ToArray(), KnownPrefix = null };
            (prompt, tokens) = prompts.Render(intent, thinking, tools, ctx - 1, out atLeast);
        }

        return (intent, prompt, tokens, dropped);
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
    // ------------------------------------------------------------------ room for a forced call or answer

    /// <summary>Tokens kept free beyond the shortest forced output when its longest cannot be bounded.</summary>
    public const int ForcedMarginMin = 16;

    /// <summary>Tokens the engine may take to get the think block's close past the grammar (see RetryReasoningClose).</summary>
    private const int CloseSlack = 4;

    /// <summary>
    /// A forced call (or json_schema answer) always fits in the output bound, and no call is cut:
    /// <list type="bullet">
    /// <item>the call gets a room: all of the output without thinking; with thinking, half of it (at least the
    /// shortest call and a margin), and thinking is capped at the rest (the engine closes the think block at the cap,
    /// then the grammar takes over);</item>
    /// <item>when the longest call the grammar admits is longer than that room, free strings are held to the length
    /// that makes it fit (still schema-valid: a subset of the valid documents), bounding tokens by UTF-8 bytes;</item>
    /// <item>with parallel calls, a further call begins only while one more whole call fits (else the output ends
    /// after the last whole call).</item>
    /// </list>
    /// </summary>
    private GenerationRequest FitForcedOutput(GenerationRequest request, GrammarConstraint grammar, GrammarSpec spec, OutputConstraint output,
        List<JsonElement> tools, ToolPlanning.ToolMode mode, string? named, bool? thinking, bool forced, bool parallelCalls)
    {
        var m = Markers;
        var max = request.MaxTokens;
        var shortestText = spec.ShortestOutput() ?? "";
        var shortest = shortestText.Length == 0 ? 0 : host.Engine.Tokenize(shortestText).Length;
        var thinkingOn = thinking != false;
        var room = thinkingOn ? Math.Min(max, Math.Max(shortest + Math.Max(ForcedMarginMin, shortest / 2), max / 2)) : max;

        long? perCall = ToolPlanning.LongestForcedOutput(output, tools, mode, named, JsonGrammarOptions.Default);
        var sampling = request.Sampling;
        if (perCall is null || perCall > room)
        {
            // Longest(L) = fixed + L * perChar over the free strings: pick the largest L that fits the room.
            var fixedPart = ToolPlanning.LongestForcedOutput(output, tools, mode, named, JsonGrammarOptions.Default with { MaxStringLength = 0 });
            var withOne = ToolPlanning.LongestForcedOutput(output, tools, mode, named, JsonGrammarOptions.Default with { MaxStringLength = 1 });
            perCall = null;
            if (fixedPart is { } a && withOne is { } b1 && b1 > a && a <= room)
            {
                var most = (int)Math.Min(JsonGrammarOptions.Default.MaxRepetition, (room - a) / (b1 - a));
                var bounded = ToolPlanning.BuildGrammar(output, tools, mode, named, parallelCalls, thinking, JsonGrammarOptions.Default with { MaxStringLength = most }).Grammar;
                sampling = sampling with { Grammar = bounded ?? grammar };
                perCall = a + (most * (b1 - a));
            }
        }

        var budget = request.ReasoningBudget;
        if (thinkingOn)
        {
            // The close may be put off a few tokens (refused inside a UTF-8 character or a partial tag): slack for it.
            var cap = Math.Max(0, max - room - m.ThinkCloseText.Length - CloseSlack);
            if (budget is null || budget.MaxTokens > cap)
            {
                budget = new ReasoningBudget(cap, m.ThinkCloseText, StartsInReasoning: forced);
            }
        }

        var next = (int)Math.Min(int.MaxValue - 1, perCall ?? shortest + Math.Max(ForcedMarginMin, shortest / 2));
        var roomCheck = parallelCalls ? new RoomCheck(ToolCallGrammar.CallClose, next + 1) : null;
        return request with { Sampling = sampling, ReasoningBudget = budget, EndUnlessRoom = roomCheck };
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

