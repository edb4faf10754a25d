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
}

/// <summary>
/// Turns a <see cref="GenerationIntent"/> into a <see cref="GenerationPlan"/>: checks every value (refusing with a typed
/// <see cref="IntentFailure"/>), renders the conversation through the chat formatter, tokenizes, and maps sampling,
/// stop rules, thinking, tools and the output constraint onto an engine request. The one place that knows how a
/// request becomes generation; it knows no wire format.
/// </summary>
internal sealed class GenerationPlanner(EngineHost host, ChatFormatting formatting, ServerOptions options, State.IOutputMemory memory, ConversationPins pins)
{
    /// <summary>A bound on stop strings for any wire format (OpenAI's own limit of 4 is checked by its adapter).</summary>
    public const int MaxStopStrings = 16;
    public const int MaxTools = 128;

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
        Dictionary<string, State.RememberedOutput>? found = null;
        var source = intent.Messages;
        var scope = CacheScopeOf(intent);
        for (var i = 0; i < source.Count - 1; i++)
        {
            if (source[i].Role != ChatRoles.Assistant)
            {
                continue;
            }

            var key = OutputMemoryKeys.Of(source[i], scope);
            try
            {
                if (await memory.RecallAsync(intent.Tenant, key, cancellationToken).ConfigureAwait(false) is { } turn)
                {
                    (found ??= new(StringComparer.Ordinal))[key] = turn;
                }
            }
            catch (State.StateUnavailableException)
            {
                return intent;
            }
        }

        return found is null ? intent : intent with { RecalledTurns = found };
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
        var (_, tokens) = Render(intent, ResolveThinking(intent.Thinking), ValidateTools(intent.Tools), limit, out var atLeast);
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
        var tools = ValidateTools(intent.Tools);
        var (toolMode, named) = ResolveToolChoice(intent.ToolChoice, intent.Tools);
        var parallelCalls = intent.ParallelToolCalls;

        var (prompt, rendered) = Render(intent, thinking, tools, options.CtxSize - 1, out var atLeast);
        var tokens = rendered
            ?? throw new IntentException(new IntentFailure(IntentField.Prompt, IntentFailureKind.ContextLengthExceeded, n =>
                $"This model's maximum context length is {options.CtxSize} tokens. However, your {n(IntentField.Prompt)} resulted in at least {atLeast} tokens. Please reduce the length of the {n(IntentField.Prompt)}."));

        var sampling = BuildSampling(intent.Sampling, thinking);
        var (grammar, deferredUntilCall) = BuildGrammar(intent.Output, tools, toolMode, named, parallelCalls, thinking);
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

        var request = Counts(intent, tokens, sampling) with
        {
            TopLogprobs = CheckLogprobs(intent),
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
            ParseToolCalls = tools.Count > 0 && toolMode != ToolMode.None,
            MaxToolCalls = parallelCalls ? null : 1,
        };

        var generationPrefill = YoutuChatFormatter.GenerationPrefill(new ChatRenderOptions { EnableThinking = thinking, ForcedThinking = forced ? true : null });
        return new GenerationPlan(prompt, request, parser, request.TopLogprobs >= 0)
        {
            Memory = memory,
            Tenant = intent.Tenant,
            Prefill = generationPrefill,
            PrefillTokens = generationPrefill.Length == 0 ? [] : engine.Tokenize(generationPrefill),
        };
    }

    /// <summary>The prompt's tokens, reusing a known prefix's tokens when the prompt starts with its text; null when over the context.</summary>
    private int[]? Tokenize(string prompt, PromptPrefix? prefix, int limit, out int atLeast)
    {
        var engine = host.Engine;
        if (prefix is { Text.Length: > 0 } p && p.Tokens.Count <= limit && prompt.StartsWith(p.Text, StringComparison.Ordinal))
        {
            var rest = engine.TryTokenize(prompt[p.Text.Length..], addSpecial: false, parseSpecial: true, limit - p.Tokens.Count, out var restAtLeast);
            atLeast = p.Tokens.Count + restAtLeast;
            return rest is null ? null : [.. p.Tokens, .. rest];
        }

        return engine.TryTokenize(prompt, addSpecial: false, parseSpecial: true, limit, out atLeast);
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

        var request = Counts(intent, prompt, BuildSampling(intent.Sampling, thinking: false));
        var echo = raw.Echo ? engine.Detokenize(prompt, renderSpecial: true) : null;
        return new GenerationPlan(null, request, null, Logprobs: false, echo);
    }

    /// <summary>
    /// Renders the conversation and tokenizes it (null tokens when more than <paramref name="limit"/>, with a lower
    /// bound in <paramref name="atLeast"/>). Assistant turns that the template keeps whole and that
    /// <see cref="GenerationIntent.RecalledTurns"/> holds go in as the exact text and token ids the model produced.
    /// </summary>
    private (string Prompt, int[]? Tokens) Render(GenerationIntent intent, bool? thinking, List<JsonElement> tools, int limit, out int atLeast)
    {
        var source = intent.Messages;
        var messages = new ChatMessage[source.Count];
        var firstTool = FirstToolResult(source);
        var scope = intent.RecalledTurns is null ? null : CacheScopeOf(intent);
        string? marker = null;
        List<(string Marker, string Text, IReadOnlyList<int> Tokens)>? recalled = null;
        for (var i = 0; i < messages.Length; i++)
        {
            var m = source[i];
            // The template keeps an assistant turn whole from just before the first tool result on (a tool loop);
            // there the turn can be the model's own tokens.
            if (m.Role == ChatRoles.Assistant && i < source.Count - 1 && i >= firstTool - 1
                && intent.RecalledTurns?.TryGetValue(OutputMemoryKeys.Of(m, scope), out var turn) == true)
            {
                var (turnText, ids) = (turn.Text, turn.Tokens);
                marker ??= "\u0001youtu-turn-" + Guid.NewGuid().ToString("N") + "-";
                var placeholder = marker + i.ToString(CultureInfo.InvariantCulture) + "\u0001";
                (recalled ??= []).Add((placeholder, turnText, ids));
                messages[i] = new ChatMessage(ChatRoles.Assistant, placeholder);
                continue;
            }

            // Reasoning the client sends back is rendered as the model produced it; the template keeps or drops it.
            messages[i] = m.WithReasoningInContent();
        }

        var renderOptions = new ChatRenderOptions
        {
            AddGenerationPrompt = true,
            EnableThinking = thinking,
            ForcedThinking = intent.Thinking.Forced ? true : null,
            Tools = tools.Count > 0 ? tools : null,
        };
        var prompt = formatting.Render(messages, renderOptions);
        if (recalled is null)
        {
            return (prompt, Tokenize(prompt, intent.KnownPrefix, limit, out atLeast));
        }

        // The pieces between remembered turns are tokenized on their own: each boundary is a special token
        // (<|Assistant|> before, <|end_of_text|> after), where the tokenizer splits anyway.
        var tokens = new List<int>();
        var text = new System.Text.StringBuilder(prompt.Length);
        var at = 0;
        atLeast = 0;
        foreach (var (placeholder, recalledText, turnTokens) in recalled)
        {
            var pos = prompt.IndexOf(placeholder, at, StringComparison.Ordinal);
            if (pos < 0)
            {
                continue;
            }

            if (!AppendPiece(prompt[at..pos], tokens, limit, out atLeast))
            {
                return (prompt, null);
            }

            tokens.AddRange(turnTokens);
            text.Append(prompt, at, pos - at).Append(recalledText);
            at = pos + placeholder.Length;
        }

        if (!AppendPiece(prompt[at..], tokens, limit, out atLeast))
        {
            return (prompt, null);
        }

        text.Append(prompt, at, prompt.Length - at);
        if (tokens.Count > limit)
        {
            atLeast = tokens.Count;
            return (text.ToString(), null);
        }

        return (text.ToString(), [.. tokens]);
    }

    private bool AppendPiece(string piece, List<int> tokens, int limit, out int atLeast)
    {
        atLeast = 0;
        if (piece.Length == 0)
        {
            return true;
        }

        var ids = host.Engine.TryTokenize(piece, addSpecial: false, parseSpecial: true, Math.Max(0, limit - tokens.Count), out var pieceAtLeast);
        if (ids is null)
        {
            atLeast = tokens.Count + pieceAtLeast;
            return false;
        }

        tokens.AddRange(ids);
        return true;
    }

    /// <summary>The template's first_tool_index: the first tool result (a tool message, or a user message that is one).</summary>
    private static int FirstToolResult(IReadOnlyList<ChatMessage> messages)
    {
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            if (m.Role == ChatRoles.Tool
                || (m.Role == ChatRoles.User && m.Content is { } c && c.StartsWith("<tool_response>", StringComparison.Ordinal) && c.EndsWith("</tool_response>", StringComparison.Ordinal)))
            {
                return i;
            }
        }

        return messages.Count;
    }

    // ------------------------------------------------------------------ counts and limits

    /// <summary>The engine request's prompt, counts, stops and sampling, checked.</summary>
    private GenerationRequest Counts(GenerationIntent intent, int[] prompt, SamplingParams sampling)
    {
        var n = CheckCount(intent.N);
        var maxTokens = ResolveMaxTokens(intent.MaxTokens, prompt.Length);
        CheckMinTokens(intent.MinTokens, maxTokens);
        return new GenerationRequest
        {
            Prompt = prompt,
            MaxTokens = maxTokens,
            MinTokens = intent.MinTokens ?? 0,
            IgnoreEos = intent.IgnoreEos,
            Stop = CheckStop(intent.Stop),
            N = n,
            Sampling = sampling,
        };
    }

    private int CheckCount(int n) => n < 1 || n > options.Parallel
        ? throw Fail(IntentField.N, f => $"'{f(IntentField.N)}' must be between 1 and {options.Parallel} on this server, got {n}.")
        : n;

    private static int CheckLogprobs(GenerationIntent intent)
    {
        if (intent.TopLogprobs is { } tl)
        {
            if (tl is < 0 or > 20)
            {
                throw Fail(IntentField.TopLogprobs, n => $"'{n(IntentField.TopLogprobs)}' must be between 0 and 20, got {tl}.");
            }

            if (!intent.Logprobs)
            {
                throw Fail(IntentField.TopLogprobs, n => $"'{n(IntentField.TopLogprobs)}' requires '{n(IntentField.Logprobs)}' to be true.");
            }
        }

        return intent.Logprobs ? intent.TopLogprobs ?? 0 : -1;
    }

    private int ResolveMaxTokens(int? requested, int promptTokens)
    {
        if (requested is < 1)
        {
            throw Fail(IntentField.MaxTokens, n => $"'{n(IntentField.MaxTokens)}' must be at least 1, got {requested}.");
        }

        var ctx = options.CtxSize;
        if (requested is { } m)
        {
            if ((long)promptTokens + m > ctx)
            {
                throw new IntentException(new IntentFailure(IntentField.Prompt, IntentFailureKind.ContextLengthExceeded, n =>
                    $"This model's maximum context length is {ctx} tokens. However, you requested {(long)promptTokens + m} tokens ({promptTokens} in the {n(IntentField.Prompt)}, {m} in the completion). Please reduce the length of the {n(IntentField.Prompt)} or completion."));
            }

            return m;
        }

        if (promptTokens >= ctx)
        {
            throw new IntentException(new IntentFailure(IntentField.Prompt, IntentFailureKind.ContextLengthExceeded, n =>
                $"This model's maximum context length is {ctx} tokens. However, your {n(IntentField.Prompt)} resulted in {promptTokens} tokens. Please reduce the length of the {n(IntentField.Prompt)}."));
        }

        var room = ctx - promptTokens;
        return options.DefaultMaxTokens > 0 ? Math.Min(options.DefaultMaxTokens, room) : room;
    }

    private static void CheckMinTokens(int? minTokens, int maxTokens)
    {
        if (minTokens is { } mt && (mt < 0 || mt > maxTokens))
        {
            throw Fail(IntentField.MinTokens, n => $"'{n(IntentField.MinTokens)}' must be between 0 and {n(IntentField.MaxTokens)} ({maxTokens}), got {mt}.");
        }
    }

    private static IReadOnlyList<string> CheckStop(IReadOnlyList<string> stop)
    {
        if (stop.Count > MaxStopStrings)
        {
            throw Fail(IntentField.Stop, n => $"'{n(IntentField.Stop)}' may hold at most {MaxStopStrings} strings, got {stop.Count}.");
        }

        foreach (var s in stop)
        {
            if (string.IsNullOrEmpty(s))
            {
                throw Fail(IntentField.Stop, n => $"'{n(IntentField.Stop)}' strings must not be empty.");
            }
        }

        return stop;
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

    // ------------------------------------------------------------------ sampling

    private SamplingParams BuildSampling(SamplingIntent s, bool? thinking)
    {
        Range(s.Temperature, 0, 2, IntentField.Temperature);
        RangeOpenLow(s.TopP, 0, 1, IntentField.TopP);
        Range(s.MinP, 0, 1, IntentField.MinP);
        Range(s.PresencePenalty, -2, 2, IntentField.PresencePenalty);
        Range(s.FrequencyPenalty, -2, 2, IntentField.FrequencyPenalty);
        RangeOpenLow(s.RepetitionPenalty, 0, 10, IntentField.RepetitionPenalty);
        if (s.TopK is < 0)
        {
            throw Fail(IntentField.TopK, n => $"'{n(IntentField.TopK)}' must be >= 0, got {s.TopK}.");
        }

        // Youtu's recommended decoding per mode, from models.json (research/youtu.md §2.3), when the request sets none.
        var preset = thinking == false ? host.CatalogEntry?.Sampling?.Normal ?? SamplingDefaults.Normal : host.CatalogEntry?.Sampling?.Thinking ?? SamplingDefaults.Thinking;
        return new SamplingParams
        {
            // Each field the request leaves unset takes the mode's recommended value (as vLLM does with generation_config).
            Temperature = (float)(s.Temperature ?? preset.Temperature ?? 1.0),
            TopP = (float)(s.TopP ?? preset.TopP ?? 1.0),
            TopK = s.TopK ?? preset.TopK ?? 0,
            MinP = (float)(s.MinP ?? preset.MinP ?? 0),
            RepetitionPenalty = (float)(s.RepetitionPenalty ?? preset.RepetitionPenalty ?? 1.0),
            PresencePenalty = (float)(s.PresencePenalty ?? 0),
            FrequencyPenalty = (float)(s.FrequencyPenalty ?? 0),
            Seed = options.ResolveSeed(s.Seed),
            LogitBias = ParseLogitBias(s.LogitBias),
        };
    }

    private Dictionary<int, float>? ParseLogitBias(IReadOnlyDictionary<string, double>? logitBias)
    {
        if (logitBias is null || logitBias.Count == 0)
        {
            return null;
        }

        if (logitBias.Count > 1024)
        {
            throw Fail(IntentField.LogitBias, n => $"'{n(IntentField.LogitBias)}' may hold at most 1024 entries.");
        }

        var vocab = host.Engine.VocabSize;
        var result = new Dictionary<int, float>(logitBias.Count);
        foreach (var (k, v) in logitBias)
        {
            if (!int.TryParse(k, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id >= vocab)
            {
                throw Fail(IntentField.LogitBias, n => $"Invalid token id '{k}' in {n(IntentField.LogitBias)}: expected an integer in [0, {vocab - 1}].");
            }

            if (double.IsNaN(v) || v < -100 || v > 100)
            {
                throw Fail(IntentField.LogitBias, n => $"{n(IntentField.LogitBias)} values must be within [-100, 100]; token {k} has {v}.");
            }

            // OpenAI semantics: -100 bans a token, +100 forces it.
            result[id] = v <= -100 ? float.NegativeInfinity : (float)v;
        }

        return result;
    }

    private static void Range(double? v, double lo, double hi, IntentField field)
    {
        if (v is { } x && (double.IsNaN(x) || x < lo || x > hi))
        {
            throw Fail(field, n => $"'{n(field)}' must be between {lo.ToString(CultureInfo.InvariantCulture)} and {hi.ToString(CultureInfo.InvariantCulture)}, got {x.ToString(CultureInfo.InvariantCulture)}.");
        }
    }

    private static void RangeOpenLow(double? v, double lo, double hi, IntentField field)
    {
        if (v is { } x && (double.IsNaN(x) || x <= lo || x > hi))
        {
            throw Fail(field, n => $"'{n(field)}' must be greater than {lo.ToString(CultureInfo.InvariantCulture)} and at most {hi.ToString(CultureInfo.InvariantCulture)}, got {x.ToString(CultureInfo.InvariantCulture)}.");
        }
    }

    // ------------------------------------------------------------------ tools and grammars

    private enum ToolMode
    {
        Auto,
        None,
        Required,
        Named,
    }

    /// <summary>The tools as the template and the grammar see them, after checking names and schemas.</summary>
    private static List<JsonElement> ValidateTools(IReadOnlyList<ToolDefinition> tools)
    {
        if (tools.Count == 0)
        {
            return []; // no tools is the same as an empty list (the template would render a phantom preamble)
        }

        if (tools.Count > MaxTools)
        {
            throw Fail(IntentField.Tools, n => $"At most {MaxTools} tools are supported in '{n(IntentField.Tools)}'.");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<JsonElement>(tools.Count);
        for (var i = 0; i < tools.Count; i++)
        {
            var t = tools[i];
            var at = i;
            var name = t.Name;
            if (name is not { Length: > 0 and <= 64 } || !name.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '_' or '-' or '.'))
            {
                throw Fail(IntentField.ToolName, n => $"{n(IntentField.ToolName, at)} must be 1-64 characters of a-z, A-Z, 0-9, '_', '-' or '.'.", i);
            }

            if (!names.Add(name))
            {
                throw Fail(IntentField.ToolName, _ => $"Duplicate tool name '{name}'.", i);
            }

            if (t.Parameters is { ValueKind: not (JsonValueKind.Object or JsonValueKind.Null or JsonValueKind.Undefined) })
            {
                throw Fail(IntentField.ToolParameters, n => $"{n(IntentField.ToolParameters, at)} must be a JSON Schema object.", i);
            }

            list.Add(t.TemplateJson);
        }

        return list;
    }

    private static (ToolMode Mode, string? Name) ResolveToolChoice(ToolChoice choice, IReadOnlyList<ToolDefinition> tools)
    {
        switch (choice.Kind)
        {
            case ToolChoiceKind.Default:
                return (tools.Count > 0 ? ToolMode.Auto : ToolMode.None, null);
            case ToolChoiceKind.Auto:
                return (ToolMode.Auto, null);
            case ToolChoiceKind.None:
                return (ToolMode.None, null);
            case ToolChoiceKind.Required:
                return tools.Count == 0
                    ? throw Fail(IntentField.ToolChoice, n => $"{n(IntentField.ToolChoice)} 'required' needs at least one tool in '{n(IntentField.Tools)}'.")
                    : (ToolMode.Required, null);
            default:
                var name = choice.Name ?? "";
                return tools.Any(t => t.Name == name)
                    ? (ToolMode.Named, name)
                    : throw Fail(IntentField.ToolChoice, n => $"{n(IntentField.ToolChoice)} names function '{name}', which is not in '{n(IntentField.Tools)}'.");
        }
    }

    /// <summary>The grammar for this request, and whether it waits for a tool call to begin (tool choice auto).</summary>
    private static (GrammarConstraint? Grammar, bool DeferredUntilCall) BuildGrammar(OutputConstraint output, List<JsonElement> tools, ToolMode mode, string? named, bool parallel, bool? thinking)
    {
        var allowThinking = thinking != false;
        try
        {
            if (tools.Count > 0 && mode is ToolMode.Required or ToolMode.Named)
            {
                var spec = ToolCallGrammar.Build(tools, mode == ToolMode.Named ? ToolChoiceMode.Named : ToolChoiceMode.Required, parallel, allowThinking, named);
                return (new GrammarConstraint(spec.Gbnf, spec.Root, spec.TriggerPatterns, spec.Lazy), false);
            }

            if (output.Kind != OutputKind.Text
                && ResponseFormatGrammar.BuildJson(output.Kind == OutputKind.JsonSchema, output.Schema, allowThinking, output.SchemaPath) is { } json)
            {
                return (new GrammarConstraint(json.Gbnf, json.Root, json.TriggerPatterns, json.Lazy), false);
            }

            if (tools.Count > 0 && mode == ToolMode.Auto)
            {
                // The calls themselves, without a think block: the grammar engages after reasoning, at <tool_call>.
                var spec = ToolCallGrammar.Build(tools, ToolChoiceMode.Required, parallel, allowThinking: false);
                return (new GrammarConstraint(spec.Gbnf, spec.Root, spec.TriggerPatterns, spec.Lazy), true);
            }
        }
        catch (UnsupportedSchemaException e)
        {
            var field = tools.Count > 0 && mode != ToolMode.None ? IntentField.Tools : IntentField.Output;
            throw new IntentException(new IntentFailure(field, IntentFailureKind.UnsupportedSchema, _ => e.Message));
        }
        catch (ArgumentException e)
        {
            throw Fail(IntentField.Output, _ => e.Message);
        }

        return (null, false);
    }

    private static IntentException Fail(IntentField field, Func<FieldNamer, string> describe, int? index = null) =>
        new(IntentFailure.Invalid(field, describe, index));
}

/// <summary>Youtu's recommended sampling per mode (research/youtu.md §2.3), used when models.json names none.</summary>
internal static class SamplingDefaults
{
    public static readonly SamplingPreset Thinking = new() { Temperature = 1.0f, TopP = 0.95f, TopK = 20, RepetitionPenalty = 1.05f };
    public static readonly SamplingPreset Normal = new() { Temperature = 0.7f, TopP = 0.8f, TopK = 20, RepetitionPenalty = 1.0f };
}
