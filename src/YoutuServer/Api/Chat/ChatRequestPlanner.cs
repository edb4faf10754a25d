using System.Globalization;
using System.Text;
using System.Text.Json;
using YoutuServer.Api.Dtos;
using YoutuServer.Chat.Grammar;
using YoutuServer.Chat.Messages;
using YoutuServer.Chat.Parsing;
using YoutuServer.Engine.Sampling;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Hosting;
using YoutuServer.Models;

namespace YoutuServer.Api.Chat;

/// <summary>Everything a validated chat request turns into: the rendered prompt, the engine job and the parser settings.</summary>
public sealed record ChatPlan(
    string Prompt,
    GenerationRequest Generation,
    OutputParserOptions Parser,
    bool Stream,
    bool IncludeUsage,
    bool Logprobs,
    bool ThinkingOn,
    bool HasTools);

/// <summary>
/// Validates an OpenAI chat request (each bad field → 400 naming it), renders the prompt through the chat
/// formatter, and maps sampling, stop rules, thinking, tools and response_format onto an engine request.
/// </summary>
public sealed class ChatRequestPlanner(EngineHost host, ChatFormatting formatting, ServerOptions options)
{
    private const int MaxStop = 4;
    private MarkerTokens? markers;

    /// <summary>Token ids of the fixed markers, tokenized once per model instead of on every request.</summary>
    private MarkerTokens Markers => markers ??= MarkerTokens.From(host.Engine);

    private sealed record MarkerTokens(int ToolCall, int ThinkOpen, int ThinkClose, int[] ThinkCloseText, int[] ForcedThinkingPrefill)
    {
        public static MarkerTokens From(Engine.InferenceEngine engine)
        {
            // -1 where the vocabulary has no single token for a marker.
            int Single(string text) => engine.Tokenize(text) is [var t] ? t : -1;
            return new MarkerTokens(Single("<tool_call>"), Single("<think>"), Single("</think>"),
                engine.Tokenize("</think>\n\n"), engine.Tokenize(YoutuServer.Chat.Templates.YoutuChatFormatter.ForcedThinkingPrefill));
        }
    }

    public ChatPlan Plan(ChatCompletionRequest r)
    {
        try
        {
            return PlanCore(r);
        }
        catch (InvalidOperationException e) when (e.Message.Contains("UTF-8", StringComparison.Ordinal))
        {
            // JsonElement strings are transcoded lazily; invalid UTF-8 inside them surfaces here.
            throw new ApiException(400, "The request body is not valid UTF-8 JSON.", "invalid_request_error", null, "invalid_json");
        }
    }

    private ChatPlan PlanCore(ChatCompletionRequest r)
    {
        var engine = host.Engine;
        var adapter = ModelResolver.Resolve(host, r.Model);
        var messages = MapMessages(r.Messages);
        var thinking = ResolveThinking(r);
        var forced = r.ChatTemplateKwargs is { } kw && kw.TryGetValue("forced_thinking", out var ft) && ft.ValueKind == JsonValueKind.True;
        var tools = ValidateTools(r.Tools);
        var (toolMode, named) = ValidateToolChoice(r.ToolChoice, tools);
        var parallelCalls = r.ParallelToolCalls ?? true;

        var renderOptions = new ChatRenderOptions
        {
            AddGenerationPrompt = true,
            EnableThinking = thinking,
            ForcedThinking = forced ? true : null,
            Tools = tools.Count > 0 ? tools : null,
        };
        var prompt = formatting.Render(messages, renderOptions);
        var tokens = engine.Model.TryTokenize(prompt, addSpecial: false, parseSpecial: true, options.CtxSize - 1, out var atLeast)
            ?? throw ApiException.BadRequest(
                $"This model's maximum context length is {options.CtxSize} tokens. However, your messages resulted in at least {atLeast} tokens. Please reduce the length of the messages.",
                "messages", "context_length_exceeded");

        var sampling = BuildSampling(r.Temperature, r.TopP, r.TopK, r.MinP, r.PresencePenalty, r.FrequencyPenalty, r.RepetitionPenalty, r.Seed, r.LogitBias, thinking);
        var (grammar, deferredUntilCall) = BuildGrammar(r.ResponseFormat, tools, toolMode, named, parallelCalls, thinking);
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

        var n = r.N ?? 1;
        if (n < 1 || n > options.Parallel)
        {
            throw ApiException.BadRequest($"'n' must be between 1 and {options.Parallel} on this server, got {n}.", "n");
        }

        var logprobs = r.Logprobs ?? false;
        if (r.TopLogprobs is { } tl)
        {
            if (tl is < 0 or > 20)
            {
                throw ApiException.BadRequest($"'top_logprobs' must be between 0 and 20, got {tl}.", "top_logprobs");
            }

            if (!logprobs)
            {
                throw ApiException.BadRequest("'top_logprobs' requires 'logprobs' to be true.", "top_logprobs");
            }
        }

        var maxTokens = ResolveMaxTokens(r.MaxCompletionTokens, r.MaxTokens, tokens.Length, r.MaxCompletionTokens is not null ? "max_completion_tokens" : "max_tokens");
        var stops = ParseStop(r.Stop);
        var budget = ResolveBudget(r.ReasoningBudget, thinking, forced);
        ValidateMinTokens(r.MinTokens, maxTokens);
        if (r.ReasoningEffort is { } eff && eff is not ("none" or "minimal" or "low" or "medium" or "high"))
        {
            throw ApiException.BadRequest($"'reasoning_effort' must be one of none, minimal, low, medium, high; got '{eff}'.", "reasoning_effort");
        }

        var generation = new GenerationRequest
        {
            Prompt = tokens,
            MaxTokens = maxTokens,
            MinTokens = r.MinTokens ?? 0,
            IgnoreEos = r.IgnoreEos ?? false,
            Stop = stops,
            N = n,
            Sampling = sampling,
            TopLogprobs = logprobs ? r.TopLogprobs ?? 0 : -1,
            ReasoningBudget = budget,
            DeferredGrammar = deferred,
            SamplerPrefill = prefill,
            Adapter = adapter,
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

        return new ChatPlan(prompt, generation, parser, r.Stream ?? false, r.StreamOptions?.IncludeUsage ?? false, logprobs, thinking != false, tools.Count > 0);
    }

    // ------------------------------------------------------------------ messages

    private static List<ChatMessage> MapMessages(List<ChatMessageDto>? dtos)
    {
        if (dtos is null)
        {
            throw ApiException.BadRequest("'messages' is required.", "messages");
        }

        if (dtos.Count == 0)
        {
            throw ApiException.BadRequest("'messages' must contain at least one message.", "messages");
        }

        var list = new List<ChatMessage>(dtos.Count);
        for (var i = 0; i < dtos.Count; i++)
        {
            var m = dtos[i] ?? throw ApiException.BadRequest($"messages[{i}] must be an object.", $"messages[{i}]");
            var role = m.Role;
            if (role is not ("system" or "developer" or "user" or "assistant" or "tool"))
            {
                throw ApiException.BadRequest(
                    role is null ? $"messages[{i}].role is required." : $"Invalid role '{role}' in messages[{i}]: expected system, developer, user, assistant or tool.",
                    $"messages[{i}].role");
            }

            var content = ContentText(m.Content, i, role);
            List<ChatToolCall>? calls = null;
            if (m.ToolCalls is { Count: > 0 })
            {
                if (role != "assistant")
                {
                    throw ApiException.BadRequest($"messages[{i}]: only assistant messages may have tool_calls.", $"messages[{i}].tool_calls");
                }

                calls = [];
                for (var c = 0; c < m.ToolCalls.Count; c++)
                {
                    var tc = m.ToolCalls[c];
                    var name = tc?.Function?.Name;
                    if (string.IsNullOrEmpty(name))
                    {
                        throw ApiException.BadRequest($"messages[{i}].tool_calls[{c}].function.name is required.", $"messages[{i}].tool_calls[{c}].function.name");
                    }

                    var args = tc!.Function!.Arguments;
                    var argsElement = args is { ValueKind: not JsonValueKind.Null and not JsonValueKind.Undefined } a
                        ? a
                        : JsonDocument.Parse("\"{}\"").RootElement;
                    calls.Add(new ChatToolCall(tc.Id, name, argsElement));
                }
            }

            if (content is null && role != "assistant")
            {
                throw ApiException.BadRequest($"messages[{i}].content is required for role '{role}'.", $"messages[{i}].content");
            }

            if (role == "assistant" && content is null && calls is null)
            {
                throw ApiException.BadRequest($"messages[{i}]: an assistant message needs content or tool_calls.", $"messages[{i}].content");
            }

            list.Add(new ChatMessage
            {
                Role = role,
                Content = content,
                ToolCalls = calls,
                ToolCallId = m.ToolCallId,
                Name = m.Name,
            });
        }

        return list;
    }

    /// <summary>Content as a string, or an array of text parts joined by newlines (as vLLM does). Images are not supported.</summary>
    private static string? ContentText(JsonElement? content, int i, string role)
    {
        if (content is not { } c || c.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return null;
        }

        if (c.ValueKind == JsonValueKind.String)
        {
            return c.GetString();
        }

        if (c.ValueKind != JsonValueKind.Array)
        {
            throw ApiException.BadRequest($"messages[{i}].content must be a string or an array of content parts.", $"messages[{i}].content");
        }

        var sb = new StringBuilder();
        var j = 0;
        foreach (var part in c.EnumerateArray())
        {
            var p = $"messages[{i}].content[{j}]";
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            {
                throw ApiException.BadRequest($"{p} must be an object with a 'type'.", p);
            }

            var t = type.GetString();
            if (t is not ("text" or "input_text"))
            {
                throw ApiException.BadRequest($"Unsupported content part type '{t}' in {p}: this model accepts text only.", $"{p}.type");
            }

            if (!part.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
            {
                throw ApiException.BadRequest($"{p}.text must be a string.", $"{p}.text");
            }

            if (j > 0)
            {
                sb.Append('\n');
            }

            sb.Append(text.GetString());
            j++;
        }

        if (j == 0 && role != "assistant")
        {
            throw ApiException.BadRequest($"messages[{i}].content must not be an empty array.", $"messages[{i}].content");
        }

        return sb.ToString();
    }

    // ------------------------------------------------------------------ thinking

    private bool? ResolveThinking(ChatCompletionRequest r)
    {
        bool? value = null;
        if (r.ChatTemplateKwargs is { } kw && kw.TryGetValue("enable_thinking", out var et))
        {
            value = et.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw ApiException.BadRequest("chat_template_kwargs.enable_thinking must be a boolean.", "chat_template_kwargs.enable_thinking"),
            };
        }

        value = r.EnableThinking ?? value;
        if (r.ReasoningEffort == "none")
        {
            value = false;
        }

        // Server default when the request says nothing. The template's own default is "on" (nothing appended).
        return value ?? (options.Thinking ? null : false);
    }

    private ReasoningBudget? ResolveBudget(int? requested, bool? thinking, bool forced)
    {
        if (requested is < -1)
        {
            throw ApiException.BadRequest("'reasoning_budget' must be -1 (unlimited) or a non-negative token count.", "reasoning_budget");
        }

        var budget = requested ?? options.ReasoningBudget;
        if (budget < 0 || thinking == false)
        {
            return null;
        }

        return new ReasoningBudget(budget, Markers.ThinkCloseText, StartsInReasoning: forced);
    }

    // ------------------------------------------------------------------ sampling

    internal SamplingParams BuildSampling(double? temperature, double? topP, int? topK, double? minP, double? presence, double? frequency, double? repetition, long? seed, Dictionary<string, double>? logitBias, bool? thinking)
    {
        Range(temperature, 0, 2, "temperature");
        RangeOpenLow(topP, 0, 1, "top_p");
        Range(minP, 0, 1, "min_p");
        Range(presence, -2, 2, "presence_penalty");
        Range(frequency, -2, 2, "frequency_penalty");
        RangeOpenLow(repetition, 0, 10, "repetition_penalty");
        if (topK is < 0)
        {
            throw ApiException.BadRequest($"'top_k' must be >= 0, got {topK}.", "top_k");
        }

        // Youtu's recommended decoding per mode, from models.json (research/youtu.md §2.3), when the request sets none.
        var preset = thinking == false ? host.CatalogEntry?.Sampling?.Normal ?? Defaults.Normal : host.CatalogEntry?.Sampling?.Thinking ?? Defaults.Thinking;
        var bias = ParseLogitBias(logitBias);
        return new SamplingParams
        {
            // Each field the request leaves unset takes the mode's recommended value (as vLLM does with generation_config).
            Temperature = (float)(temperature ?? preset.Temperature ?? 1.0),
            TopP = (float)(topP ?? preset.TopP ?? 1.0),
            TopK = topK ?? preset.TopK ?? 0,
            MinP = (float)(minP ?? preset.MinP ?? 0),
            RepetitionPenalty = (float)(repetition ?? preset.RepetitionPenalty ?? 1.0),
            PresencePenalty = (float)(presence ?? 0),
            FrequencyPenalty = (float)(frequency ?? 0),
            Seed = seed is { } s ? unchecked((uint)s) : (uint)Random.Shared.Next(),
            LogitBias = bias,
        };
    }

    private Dictionary<int, float>? ParseLogitBias(Dictionary<string, double>? logitBias)
    {
        if (logitBias is null || logitBias.Count == 0)
        {
            return null;
        }

        if (logitBias.Count > 1024)
        {
            throw ApiException.BadRequest("'logit_bias' may hold at most 1024 entries.", "logit_bias");
        }

        var vocab = host.Engine.Model.VocabSize;
        var result = new Dictionary<int, float>(logitBias.Count);
        foreach (var (k, v) in logitBias)
        {
            if (!int.TryParse(k, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id >= vocab)
            {
                throw ApiException.BadRequest($"Invalid token id '{k}' in logit_bias: expected an integer in [0, {vocab - 1}].", "logit_bias");
            }

            if (double.IsNaN(v) || v < -100 || v > 100)
            {
                throw ApiException.BadRequest($"logit_bias values must be within [-100, 100]; token {k} has {v}.", "logit_bias");
            }

            // OpenAI semantics: -100 bans a token, +100 forces it.
            result[id] = v <= -100 ? float.NegativeInfinity : (float)v;
        }

        return result;
    }

    private static void Range(double? v, double lo, double hi, string name)
    {
        if (v is { } x && (double.IsNaN(x) || x < lo || x > hi))
        {
            throw ApiException.BadRequest($"'{name}' must be between {lo.ToString(CultureInfo.InvariantCulture)} and {hi.ToString(CultureInfo.InvariantCulture)}, got {x.ToString(CultureInfo.InvariantCulture)}.", name);
        }
    }

    private static void RangeOpenLow(double? v, double lo, double hi, string name)
    {
        if (v is { } x && (double.IsNaN(x) || x <= lo || x > hi))
        {
            throw ApiException.BadRequest($"'{name}' must be greater than {lo.ToString(CultureInfo.InvariantCulture)} and at most {hi.ToString(CultureInfo.InvariantCulture)}, got {x.ToString(CultureInfo.InvariantCulture)}.", name);
        }
    }

    internal int ResolveMaxTokens(int? maxCompletion, int? max, int promptTokens, string param)
    {
        var requested = maxCompletion ?? max;
        if (requested is < 1)
        {
            throw ApiException.BadRequest($"'{param}' must be at least 1, got {requested}.", param);
        }

        var ctx = options.CtxSize;
        if (requested is { } m)
        {
            if ((long)promptTokens + m > ctx)
            {
                throw ApiException.BadRequest(
                    $"This model's maximum context length is {ctx} tokens. However, you requested {(long)promptTokens + m} tokens ({promptTokens} in the messages, {m} in the completion). Please reduce the length of the messages or completion.",
                    "messages", "context_length_exceeded");
            }

            return m;
        }

        if (promptTokens >= ctx)
        {
            throw ApiException.BadRequest(
                $"This model's maximum context length is {ctx} tokens. However, your messages resulted in {promptTokens} tokens. Please reduce the length of the messages.",
                "messages", "context_length_exceeded");
        }

        var room = ctx - promptTokens;
        return options.DefaultMaxTokens > 0 ? Math.Min(options.DefaultMaxTokens, room) : room;
    }

    internal static void ValidateMinTokens(int? minTokens, int maxTokens)
    {
        if (minTokens is { } mt && (mt < 0 || mt > maxTokens))
        {
            throw ApiException.BadRequest($"'min_tokens' must be between 0 and max_tokens ({maxTokens}), got {mt}.", "min_tokens");
        }
    }

    internal static List<string> ParseStop(JsonElement? stop)
    {
        if (stop is not { } s || s.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return [];
        }

        if (s.ValueKind == JsonValueKind.String)
        {
            var v = s.GetString()!;
            return v.Length == 0 ? throw ApiException.BadRequest("'stop' strings must not be empty.", "stop") : [v];
        }

        if (s.ValueKind != JsonValueKind.Array)
        {
            throw ApiException.BadRequest("'stop' must be a string or an array of up to 4 strings.", "stop");
        }

        var list = new List<string>();
        foreach (var e in s.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.String || e.GetString() is not { Length: > 0 } str)
            {
                throw ApiException.BadRequest("'stop' must contain non-empty strings only.", "stop");
            }

            list.Add(str);
        }

        return list.Count > MaxStop ? throw ApiException.BadRequest($"'stop' may hold at most {MaxStop} strings, got {list.Count}.", "stop") : list;
    }

    // ------------------------------------------------------------------ tools and grammars

    private enum ToolMode
    {
        Auto,
        None,
        Required,
        Named,
    }

    private static List<JsonElement> ValidateTools(List<JsonElement>? tools)
    {
        if (tools is null || tools.Count == 0)
        {
            return []; // tools: [] is the same as no tools (the template would render a phantom preamble)
        }

        if (tools.Count > 128)
        {
            throw ApiException.BadRequest("At most 128 tools are supported.", "tools");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < tools.Count; i++)
        {
            var t = tools[i];
            var p = $"tools[{i}]";
            if (t.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.BadRequest($"{p} must be an object.", p);
            }

            if (!t.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "function")
            {
                throw ApiException.BadRequest($"{p}.type must be 'function'.", $"{p}.type");
            }

            if (!t.TryGetProperty("function", out var fn) || fn.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.BadRequest($"{p}.function must be an object.", $"{p}.function");
            }

            if (!fn.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String || name.GetString() is not { Length: > 0 and <= 64 } n
                || !n.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '_' or '-' or '.'))
            {
                throw ApiException.BadRequest($"{p}.function.name must be 1-64 characters of a-z, A-Z, 0-9, '_', '-' or '.'.", $"{p}.function.name");
            }

            if (!names.Add(n))
            {
                throw ApiException.BadRequest($"Duplicate tool name '{n}'.", $"{p}.function.name");
            }

            if (fn.TryGetProperty("parameters", out var parameters) && parameters.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null))
            {
                throw ApiException.BadRequest($"{p}.function.parameters must be a JSON Schema object.", $"{p}.function.parameters");
            }
        }

        return tools;
    }

    private static (ToolMode Mode, string? Name) ValidateToolChoice(JsonElement? choice, List<JsonElement> tools)
    {
        if (choice is not { } c || c.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return (tools.Count > 0 ? ToolMode.Auto : ToolMode.None, null);
        }

        if (c.ValueKind == JsonValueKind.String)
        {
            var mode = c.GetString() switch
            {
                "auto" => ToolMode.Auto,
                "none" => ToolMode.None,
                "required" => ToolMode.Required,
                var other => throw ApiException.BadRequest($"Invalid tool_choice '{other}': expected none, auto, required or a function object.", "tool_choice"),
            };
            if (mode == ToolMode.Required && tools.Count == 0)
            {
                throw ApiException.BadRequest("tool_choice 'required' needs at least one tool in 'tools'.", "tool_choice");
            }

            return (mode, null);
        }

        if (c.ValueKind == JsonValueKind.Object
            && c.TryGetProperty("function", out var fn) && fn.ValueKind == JsonValueKind.Object
            && fn.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String)
        {
            var n = name.GetString()!;
            var exists = tools.Any(t => t.GetProperty("function").GetProperty("name").GetString() == n);
            return exists
                ? (ToolMode.Named, n)
                : throw ApiException.BadRequest($"tool_choice names function '{n}', which is not in 'tools'.", "tool_choice");
        }

        throw ApiException.BadRequest("tool_choice must be 'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\": ...}}.", "tool_choice");
    }

    /// <summary>The grammar for this request, and whether it waits for a tool call to begin (tool_choice auto).</summary>
    private static (GrammarConstraint? Grammar, bool DeferredUntilCall) BuildGrammar(JsonElement? responseFormat, List<JsonElement> tools, ToolMode mode, string? named, bool parallel, bool? thinking)
    {
        var allowThinking = thinking != false;
        try
        {
            if (tools.Count > 0 && mode is ToolMode.Required or ToolMode.Named)
            {
                var spec = ToolCallGrammar.Build(tools, mode == ToolMode.Named ? ToolChoiceMode.Named : ToolChoiceMode.Required, parallel, allowThinking, named);
                return (new GrammarConstraint(spec.Gbnf, spec.Root, spec.TriggerPatterns, spec.Lazy), false);
            }

            if (responseFormat is { ValueKind: JsonValueKind.Object } rf)
            {
                var type = rf.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                switch (type)
                {
                    case "text":
                        break;
                    case "json_object":
                    case "json_schema":
                        if (ResponseFormatGrammar.Build(rf, allowThinking) is { } spec)
                        {
                            return (new GrammarConstraint(spec.Gbnf, spec.Root, spec.TriggerPatterns, spec.Lazy), false);
                        }

                        break;
                    default:
                        throw ApiException.BadRequest($"response_format.type must be text, json_object or json_schema; got '{type}'.", "response_format.type");
                }
            }
            else if (responseFormat is { } other && other.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined))
            {
                throw ApiException.BadRequest("response_format must be an object.", "response_format");
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
            var param = tools.Count > 0 && mode != ToolMode.None ? "tools" : "response_format";
            throw ApiException.BadRequest(e.Message, param, "unsupported_schema");
        }
        catch (ArgumentException e)
        {
            throw ApiException.BadRequest(e.Message, "response_format");
        }

        return (null, false);
    }
}

internal static class Defaults
{
    public static readonly SamplingPreset Thinking = new() { Temperature = 1.0f, TopP = 0.95f, TopK = 20, RepetitionPenalty = 1.05f };
    public static readonly SamplingPreset Normal = new() { Temperature = 0.7f, TopP = 0.8f, TopK = 20, RepetitionPenalty = 1.0f };
}
