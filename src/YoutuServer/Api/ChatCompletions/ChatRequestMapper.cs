using System.Text;
using System.Text.Json;
using YoutuServer.Api.Common;
using YoutuServer.Chat.Messages;
using YoutuServer.Generation;
using YoutuServer.Http;

namespace YoutuServer.Api.ChatCompletions;

/// <summary>
/// OpenAI Chat Completions → <see cref="GenerationIntent"/>: checks the wire shapes (roles, content parts, the nested
/// tool objects, tool_choice, response_format, stop, chat_template_kwargs), each bad field a 400 naming it. What the
/// values mean is checked by the <see cref="GenerationPlanner"/>.
/// </summary>
internal static class ChatRequestMapper
{
    public static FieldNamer Names(ChatCompletionRequest r) => Fields(r.MaxCompletionTokens is not null ? "max_completion_tokens" : "max_tokens");

    /// <summary>Chat Completions' names for the intent's fields.</summary>
    public static FieldNamer Fields(string maxTokensName = "max_tokens") => (field, index) => field switch
    {
        IntentField.MaxTokens => maxTokensName,
        IntentField.Prompt => "messages",
        IntentField.Output => "response_format",
        IntentField.ToolName => $"tools[{index}].function.name",
        IntentField.ToolParameters => $"tools[{index}].function.parameters",
        _ => FieldNames.SnakeCase(field, index),
    };

    public static GenerationIntent ToIntent(ChatCompletionRequest r)
    {
        var messages = MapMessages(r.Messages);
        var forced = r.ChatTemplateKwargs is { } kw && kw.TryGetValue("forced_thinking", out var ft) && ft.ValueKind == JsonValueKind.True;
        var thinking = ResolveThinking(r);
        var tools = MapTools(r.Tools);
        var choice = MapToolChoice(r.ToolChoice);
        var output = MapResponseFormat(r.ResponseFormat);
        var stops = StopSequences.Parse(r.Stop);
        if (r.ReasoningEffort is { } eff && !ThinkingEffort.IsKnown(eff))
        {
            throw ApiException.BadRequest($"'reasoning_effort' must be one of none, minimal, low, medium, high; got '{eff}'.", "reasoning_effort");
        }

        return new GenerationIntent
        {
            Model = r.Model,
            Messages = messages,
            Tools = tools,
            ToolChoice = choice,
            ParallelToolCalls = r.ParallelToolCalls ?? true,
            Output = output,
            Thinking = new ThinkingIntent(thinking, r.ReasoningBudget ?? (thinking == false ? null : ThinkingEffort.Budget(r.ReasoningEffort)), forced),
            Sampling = r.Sampling(),
            Stop = stops,
            N = r.N ?? 1,
            MaxTokens = r.MaxCompletionTokens ?? r.MaxTokens,
            MinTokens = r.MinTokens,
            IgnoreEos = r.IgnoreEos ?? false,
            Logprobs = r.Logprobs ?? false,
            TopLogprobs = r.TopLogprobs,
            CacheSalt = r.CacheSalt,
            CacheKey = r.PromptCacheKey,
        };
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

            // The thinking the model produced for this turn, sent back as it was received (vLLM's reasoning_content,
            // or its newer name reasoning): rendered in front of the content so a tool loop keeps it and its KV.
            var reasoning = role == "assistant" ? (m.ReasoningContent ?? m.Reasoning) : null;
            if (role == "assistant" && content is null && calls is null && string.IsNullOrEmpty(reasoning))
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
                Reasoning = string.IsNullOrEmpty(reasoning) ? null : reasoning,
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

    private static bool? ResolveThinking(ChatCompletionRequest r)
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
        // reasoning_effort: none and minimal turn thinking off; low, medium and high turn it on (unless the request
        // switched it off itself) with the budget of that effort (ThinkingEffort), as Responses and Messages do.
        return r.ReasoningEffort is { } effort ? (ThinkingEffort.Enables(effort) ? value ?? true : false) : value;
    }

    // ------------------------------------------------------------------ stop


    // ------------------------------------------------------------------ tools

    private static List<ToolDefinition> MapTools(List<JsonElement>? tools)
    {
        if (tools is null || tools.Count == 0)
        {
            return [];
        }

        if (tools.Count > GenerationPlanner.MaxTools)
        {
            throw ApiException.BadRequest($"At most {GenerationPlanner.MaxTools} tools are supported.", "tools");
        }

        var list = new List<ToolDefinition>(tools.Count);
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

            var name = fn.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() ?? "" : "";
            var description = fn.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
            JsonElement? parameters = fn.TryGetProperty("parameters", out var ps) ? ps : null;
            var strict = fn.TryGetProperty("strict", out var st) && st.ValueKind == JsonValueKind.True;
            // The client's own object goes to the template, key order and all (byte-exact with the Jinja rendering).
            list.Add(new ToolDefinition { Name = name, Description = description, Parameters = parameters, Strict = strict, TemplateJson = t });
        }

        return list;
    }

    private static ToolChoice MapToolChoice(JsonElement? choice)
    {
        if (OpenAIToolChoice.Common(choice) is { } common)
        {
            return common;
        }

        var c = choice!.Value;
        if (c.ValueKind == JsonValueKind.Object
            && c.TryGetProperty("function", out var fn) && fn.ValueKind == JsonValueKind.Object
            && fn.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String)
        {
            return ToolChoice.Function(name.GetString()!);
        }

        throw ApiException.BadRequest("tool_choice must be 'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\": ...}}.", "tool_choice");
    }

    // ------------------------------------------------------------------ response_format

    private static OutputConstraint MapResponseFormat(JsonElement? responseFormat) => OpenAIOutputFormat.Map(responseFormat, "response_format",
        // llama.cpp's extension {"type": "json_object", "schema": {...}} is honoured.
        rf => new OutputConstraint(OutputKind.JsonObject, rf.TryGetProperty("schema", out var ext) ? ext : null, SchemaPath: "/response_format/schema"),
        rf => rf.TryGetProperty("json_schema", out var js) && js.ValueKind == JsonValueKind.Object
            ? new OutputConstraint(OutputKind.JsonSchema, js.TryGetProperty("schema", out var schema) ? schema : null,
                js.TryGetProperty("name", out var nm) && nm.ValueKind == JsonValueKind.String ? nm.GetString() : null, "/response_format/json_schema/schema")
            : throw ApiException.BadRequest("response_format of type json_schema needs a 'json_schema' object", "response_format", "unsupported_schema"));
}
