using System.Text;
using System.Text.Json;
using YoutuServer.Api.Common;
using YoutuServer.Chat.Messages;
using YoutuServer.Generation;
using YoutuServer.Http;
using YoutuServer.State;

namespace YoutuServer.Api.Messages;

/// <summary>A Messages request mapped: the intent, the field namer for its errors, and what was skipped (warnings).</summary>
/// <param name="BillingBlockDropped">The system held Claude Code's billing line, which was left out of the prompt.</param>
internal sealed record MappedMessages(GenerationIntent Intent, FieldNamer Names, IReadOnlyList<string> Warnings, int? MaxTokens, bool BillingBlockDropped = false);

/// <summary>
/// Anthropic Messages → <see cref="GenerationIntent"/>. Checks the wire shapes (roles, content blocks, tools,
/// tool_choice, thinking, output_config), each bad field a 400 naming it the Anthropic way (messages.3.content.1);
/// what the values mean is checked by the <see cref="GenerationPlanner"/>.
/// </summary>
/// <remarks>
/// system (string or text blocks) and role "system" messages become system messages where they stand (the Youtu
/// template gathers all system text into its preamble); tool_result blocks become tool messages; thinking blocks sent
/// back become the assistant message's reasoning, taken from their signature (the server's seal of the exact text);
/// a block whose signature does not open is dropped with a warning. Images and documents are refused by name; server
/// tools and server-tool blocks are skipped with a warning. A system text block starting with
/// <see cref="BillingHeaderPrefix"/> (Claude Code's per-request billing telemetry, not an instruction) is left out:
/// at the front of the prompt, its nonce would void the whole prefix cache on every request.
/// </remarks>
internal static class MessagesRequestMapper
{
    /// <summary>Claude Code (2.1.36 and later) sends this line as its first system block; its values change per request.</summary>
    public const string BillingHeaderPrefix = "x-anthropic-billing-header:";

    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

    internal static MappedMessages Map(MessagesRequest r, SealScope seal, bool countOnly, IReadOnlyDictionary<string, RememberedToolUse>? recalled = null)
    {
        ArgumentNullException.ThrowIfNull(r);
        ArgumentNullException.ThrowIfNull(seal);
        var warnings = new List<string>();
        if (!countOnly)
        {
            if (r.MaxTokens is not { } mt)
            {
                throw ApiException.BadRequest("max_tokens: Field required.", "max_tokens");
            }

            if (mt < 1)
            {
                throw ApiException.BadRequest($"max_tokens: must be at least 1, got {mt}.", "max_tokens");
            }
        }

        if (string.IsNullOrEmpty(r.Model))
        {
            throw ApiException.BadRequest("model: Field required.", "model");
        }

        var messages = new List<ChatMessage>();
        var billingDropped = AddSystem(r.System, messages);
        MapMessages(r.Messages, messages, seal, warnings, recalled);

        var (tools, toolIndex) = MapTools(r.Tools, warnings);
        var (choice, parallel) = MapToolChoice(r.ToolChoice);
        var thinking = MapThinking(r.Thinking, r.OutputConfig);
        var output = MapFormat(r.OutputConfig, r.OutputFormat);
        if (r.McpServers is { ValueKind: JsonValueKind.Array } mcp && mcp.GetArrayLength() > 0)
        {
            warnings.Add("mcp_servers: remote MCP servers are not run by this server; skipped");
        }

        var stops = new List<string>();
        if (r.StopSequences is { } ss)
        {
            for (var i = 0; i < ss.Count; i++)
            {
                stops.Add(ss[i] is { Length: > 0 } s ? s : throw ApiException.BadRequest($"stop_sequences.{i}: must be a non-empty string.", $"stop_sequences.{i}"));
            }
        }

        var intent = new GenerationIntent
        {
            Model = r.Model,
            Messages = messages,
            Tools = tools,
            ToolChoice = choice,
            ParallelToolCalls = parallel,
            Output = output,
            Thinking = thinking,
            Sampling = new SamplingIntent { Temperature = r.Temperature, TopP = r.TopP, TopK = r.TopK },
            Stop = stops,
            // max_tokens is a cap: clamped to the room the prompt leaves in the context (the planner refuses a prompt
            // that leaves none), as llama-server does for Claude Code's fixed max_tokens of 32000.
            MaxTokens = r.MaxTokens,
            MaxTokensIsCap = true,
            CacheSalt = r.CacheSalt,
        };
        return new MappedMessages(intent, AnthropicFields.Names(toolIndex), warnings, r.MaxTokens, billingDropped);
    }

    // ------------------------------------------------------------------ system

    /// <summary>Adds the top-level system text; true when a billing block was left out of it.</summary>
    private static bool AddSystem(JsonElement? system, List<ChatMessage> messages)
    {
        if (system is not { } s || s.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return false;
        }

        var text = TextOf(s, "system", allowEmpty: true, out var billingDropped);
        if (text.Length > 0)
        {
            messages.Add(new ChatMessage(ChatRoles.System, text));
        }

        return billingDropped;
    }

    private static string TextOf(JsonElement value, string path, bool allowEmpty) => TextOf(value, path, allowEmpty, out _);

    /// <summary>
    /// A string, or an array of text blocks joined by blank lines (system prompts, system messages); a text block that
    /// starts with <see cref="BillingHeaderPrefix"/> is left out (<paramref name="billingDropped"/>).
    /// </summary>
    private static string TextOf(JsonElement value, string path, bool allowEmpty, out bool billingDropped)
    {
        billingDropped = false;
        if (value.ValueKind == JsonValueKind.String)
        {
            return value.GetString()!;
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw ApiException.BadRequest($"{path}: must be a string or an array of text blocks.", path);
        }

        var sb = new StringBuilder();
        var j = 0;
        foreach (var block in value.EnumerateArray())
        {
            var p = $"{path}.{j++}";
            var type = BlockType(block, p);
            if (type != "text")
            {
                throw ApiException.BadRequest($"{p}: '{type}' blocks are not supported here; only text blocks.", $"{p}.type");
            }

            var blockText = RequiredString(block, "text", p);
            if (blockText.StartsWith(BillingHeaderPrefix, StringComparison.Ordinal))
            {
                billingDropped = true;
                continue;
            }

            if (sb.Length > 0)
            {
                sb.Append("\n\n");
            }

            sb.Append(blockText);
        }

        return j == 0 && !allowEmpty ? throw ApiException.BadRequest($"{path}: must not be empty.", path) : sb.ToString();
    }

    // ------------------------------------------------------------------ messages

    private static void MapMessages(List<InputMessage?>? dtos, List<ChatMessage> messages, SealScope seal, List<string> warnings, IReadOnlyDictionary<string, RememberedToolUse>? recalled)
    {
        if (dtos is null)
        {
            throw ApiException.BadRequest("messages: Field required.", "messages");
        }

        if (dtos.Count == 0)
        {
            throw ApiException.BadRequest("messages: at least one message is required.", "messages");
        }

        for (var i = 0; i < dtos.Count; i++)
        {
            var m = dtos[i] ?? throw ApiException.BadRequest($"messages.{i}: must be an object.", $"messages.{i}");
            var content = m.Content is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) } c
                ? c
                : throw ApiException.BadRequest($"messages.{i}.content: Field required.", $"messages.{i}.content");
            switch (m.Role)
            {
                case "user":
                    MapUser(content, i, messages);
                    break;
                case "assistant":
                    if (i == dtos.Count - 1)
                    {
                        throw ApiException.BadRequest($"messages.{i}: a final assistant message (prefill) is not supported by this server; end with a user message.", $"messages.{i}.role");
                    }

                    MapAssistant(content, i, messages, seal, warnings, recalled);
                    break;
                case "system":
                    // A mid-conversation system message (Claude Code sends one after the first user turn).
                    var text = TextOf(content, $"messages.{i}.content", allowEmpty: true);
                    if (text.Length > 0)
                    {
                        messages.Add(new ChatMessage(ChatRoles.System, text));
                    }

                    break;
                default:
                    throw ApiException.BadRequest(
                        m.Role is null ? $"messages.{i}.role: Field required." : $"messages.{i}.role: unexpected role '{m.Role}'; expected user, assistant or system.",
                        $"messages.{i}.role");
            }
        }
    }

    private static void MapUser(JsonElement content, int i, List<ChatMessage> messages)
    {
        if (content.ValueKind == JsonValueKind.String)
        {
            messages.Add(new ChatMessage(ChatRoles.User, content.GetString()));
            return;
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            throw ApiException.BadRequest($"messages.{i}.content: must be a string or an array of content blocks.", $"messages.{i}.content");
        }

        // Blocks in order: text gathers into a user message; each tool_result becomes a tool message where it stands.
        var text = new StringBuilder();
        var any = false;
        var j = 0;
        void Flush()
        {
            if (any)
            {
                messages.Add(new ChatMessage(ChatRoles.User, text.ToString()));
                text.Clear();
                any = false;
            }
        }

        foreach (var block in content.EnumerateArray())
        {
            var p = $"messages.{i}.content.{j++}";
            switch (BlockType(block, p))
            {
                case "text":
                    if (any)
                    {
                        text.Append('\n');
                    }

                    text.Append(RequiredString(block, "text", p));
                    any = true;
                    break;
                case "tool_result":
                    Flush();
                    messages.Add(ToolResult(block, p));
                    break;
                case var t and ("image" or "document" or "search_result" or "container_upload"):
                    throw Unsupported(t, p);
                case var t and ("tool_use" or "thinking" or "redacted_thinking"):
                    throw ApiException.BadRequest($"{p}: '{t}' blocks belong in assistant messages.", $"{p}.type");
                case var t:
                    throw ApiException.BadRequest($"{p}: unknown content block type '{t}'.", $"{p}.type");
            }
        }

        Flush();
        if (j == 0)
        {
            throw ApiException.BadRequest($"messages.{i}.content: must not be empty.", $"messages.{i}.content");
        }
    }

    private static ChatMessage ToolResult(JsonElement block, string p)
    {
        var id = RequiredString(block, "tool_use_id", p);
        var text = "";
        if (block.TryGetProperty("content", out var c) && c.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined))
        {
            if (c.ValueKind == JsonValueKind.String)
            {
                text = c.GetString()!;
            }
            else if (c.ValueKind == JsonValueKind.Array)
            {
                var sb = new StringBuilder();
                var k = 0;
                foreach (var part in c.EnumerateArray())
                {
                    var pp = $"{p}.content.{k++}";
                    var type = BlockType(part, pp);
                    if (type != "text")
                    {
                        throw type is "image" or "document" or "search_result" ? Unsupported(type, pp) : ApiException.BadRequest($"{pp}: unknown tool result block type '{type}'.", $"{pp}.type");
                    }

                    if (sb.Length > 0)
                    {
                        sb.Append('\n');
                    }

                    sb.Append(RequiredString(part, "text", pp));
                }

                text = sb.ToString();
            }
            else
            {
                throw ApiException.BadRequest($"{p}.content: must be a string or an array of text blocks.", $"{p}.content");
            }
        }

        if (block.TryGetProperty("is_error", out var err) && err.ValueKind == JsonValueKind.True)
        {
            text = "Error: " + text;
        }

        return new ChatMessage(ChatRoles.Tool, text) { ToolCallId = CallId(id) };
    }

    private static void MapAssistant(JsonElement content, int i, List<ChatMessage> messages, SealScope seal, List<string> warnings, IReadOnlyDictionary<string, RememberedToolUse>? recalled)
    {
        if (content.ValueKind == JsonValueKind.String)
        {
            messages.Add(new ChatMessage(ChatRoles.Assistant, content.GetString()));
            return;
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            throw ApiException.BadRequest($"messages.{i}.content: must be a string or an array of content blocks.", $"messages.{i}.content");
        }

        StringBuilder? text = null;
        StringBuilder? reasoning = null;
        List<ChatToolCall>? calls = null;
        string? recalledContent = null;
        var j = 0;
        foreach (var block in content.EnumerateArray())
        {
            var p = $"messages.{i}.content.{j++}";
            switch (BlockType(block, p))
            {
                case "text":
                    text = text is null ? new StringBuilder() : text.Append('\n');
                    text.Append(RequiredString(block, "text", p));
                    break;
                case "thinking":
                {
                    // The signature is the server's seal of the exact reasoning: that text (not the block's, which a
                    // client may have trimmed) goes back into the prompt, so the earlier turn's KV is reused.
                    var signature = block.TryGetProperty("signature", out var sig) && sig.ValueKind == JsonValueKind.String ? sig.GetString() : null;
                    if (seal.TryOpen(signature, out var opened))
                    {
                        (reasoning ??= new StringBuilder()).Append(opened);
                    }
                    else
                    {
                        warnings.Add($"{p}: the thinking block's signature did not verify (another server's, or altered); the block was dropped");
                    }

                    break;
                }

                case "redacted_thinking":
                {
                    // This server never redacts; a block from elsewhere is accepted and left out of the prompt.
                    var data = block.TryGetProperty("data", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
                    if (seal.TryOpen(data, out var opened))
                    {
                        (reasoning ??= new StringBuilder()).Append(opened);
                    }
                    else
                    {
                        warnings.Add($"{p}: a redacted_thinking block this server cannot open was dropped");
                    }

                    break;
                }

                case "tool_use":
                {
                    var id = RequiredString(block, "id", p);
                    var name = RequiredString(block, "name", p);
                    var input = block.TryGetProperty("input", out var inp) && inp.ValueKind != JsonValueKind.Null ? inp : EmptyObject;
                    if (input.ValueKind != JsonValueKind.Object)
                    {
                        throw ApiException.BadRequest($"{p}.input: must be an object.", $"{p}.input");
                    }

                    if (recalled is not null && recalled.TryGetValue(id, out var remembered) && ToolUseRecall.Matches(remembered, input, out var arguments, out var turnContent))
                    {
                        // The model's own argument text (and the whitespace it wrote around the call).
                        (calls ??= []).Add(ChatToolCall.FromArgumentsString(CallId(id), name, arguments));
                        recalledContent ??= turnContent;
                    }
                    else
                    {
                        (calls ??= []).Add(new ChatToolCall(CallId(id), name, input));
                    }

                    break;
                }

                case var t when t.StartsWith("server_tool_use", StringComparison.Ordinal) || t.EndsWith("_tool_result", StringComparison.Ordinal) || t == "mcp_tool_use":
                    warnings.Add($"{p}: server tool block '{t}' skipped (this server runs no server tools)");
                    break;
                case var t and ("image" or "document"):
                    throw Unsupported(t, p);
                case "tool_result":
                    throw ApiException.BadRequest($"{p}: 'tool_result' blocks belong in user messages.", $"{p}.type");
                case var t:
                    throw ApiException.BadRequest($"{p}: unknown content block type '{t}'.", $"{p}.type");
            }
        }

        if (text is null && reasoning is null && calls is null)
        {
            // Nothing the template can render (e.g. only dropped thinking): an empty turn keeps the alternation.
            text = new StringBuilder();
        }

        messages.Add(new ChatMessage
        {
            Role = ChatRoles.Assistant,
            Content = text is null && calls is not null ? recalledContent : text?.ToString() ?? "",
            ToolCalls = calls,
            Reasoning = reasoning is { Length: > 0 } ? reasoning.ToString() : null,
        });
    }

    // ------------------------------------------------------------------ tools

    private static (List<ToolDefinition> Tools, List<int> Index) MapTools(List<JsonElement>? tools, List<string> warnings)
    {
        var list = new List<ToolDefinition>();
        var index = new List<int>();
        if (tools is null)
        {
            return (list, index);
        }

        for (var i = 0; i < tools.Count; i++)
        {
            var t = tools[i];
            var p = $"tools.{i}";
            if (t.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.BadRequest($"{p}: must be an object.", p);
            }

            var type = t.TryGetProperty("type", out var ty) && ty.ValueKind == JsonValueKind.String ? ty.GetString() : null;
            var name = t.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() ?? "" : "";
            if (type is not (null or "custom"))
            {
                // Anthropic-defined tools (web_search_*, code_execution_*, bash_*, text_editor_*, ...) have no schema here.
                warnings.Add($"{p}: tool '{name}' of type '{type}' skipped (server and Anthropic-defined tools are not run by this server)");
                continue;
            }

            if (!t.TryGetProperty("input_schema", out var schema) || schema.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.BadRequest($"{p}.input_schema: Field required (a JSON Schema object).", $"{p}.input_schema");
            }

            var description = t.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
            var strict = t.TryGetProperty("strict", out var st) && st.ValueKind == JsonValueKind.True;
            if (!strict)
            {
                var removed = new SortedSet<string>(StringComparer.Ordinal);
                schema = LenientSchema.Relax(schema, removed);
                if (removed.Count > 0)
                {
                    warnings.Add($"{p}.input_schema: {string.Join(", ", removed)} cannot be enforced by the call grammar and were ignored (a tool with strict: true gets a 400 instead)");
                }
            }

            list.Add(ToolDefinition.Create(name, description, schema, strict));
            index.Add(i);
        }

        return (list, index);
    }

    private static (ToolChoice Choice, bool Parallel) MapToolChoice(JsonElement? choice)
    {
        if (choice is not { } c || c.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return (ToolChoice.Default, true);
        }

        if (c.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.BadRequest("tool_choice: must be an object such as {\"type\": \"auto\"}.", "tool_choice");
        }

        var parallel = !(c.TryGetProperty("disable_parallel_tool_use", out var dp) && dp.ValueKind == JsonValueKind.True);
        var type = c.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        return type switch
        {
            "auto" => (ToolChoice.Auto, parallel),
            "any" => (ToolChoice.Required, parallel),
            "none" => (ToolChoice.None, parallel),
            "tool" => (ToolChoice.Function(RequiredString(c, "name", "tool_choice")), parallel),
            _ => throw ApiException.BadRequest($"tool_choice.type: expected auto, any, tool or none; got '{type}'.", "tool_choice.type"),
        };
    }

    // ------------------------------------------------------------------ thinking and output

    private static ThinkingIntent MapThinking(JsonElement? thinking, JsonElement? outputConfig)
    {
        string? effort = null;
        if (outputConfig is { ValueKind: JsonValueKind.Object } oc && oc.TryGetProperty("effort", out var e) && e.ValueKind != JsonValueKind.Null)
        {
            effort = e.ValueKind == JsonValueKind.String ? e.GetString() : null;
            if (effort is not ("low" or "medium" or "high" or "max"))
            {
                throw ApiException.BadRequest($"output_config.effort: expected low, medium, high or max; got {e.GetRawText()}.", "output_config.effort");
            }
        }

        // The effort sets the thinking budget when thinking is on and no budget_tokens says otherwise; max = unlimited.
        int? effortBudget = ThinkingEffort.Budget(effort);
        if (thinking is not { } t || t.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            // Anthropic's default: no extended thinking unless asked for.
            return new ThinkingIntent(false);
        }

        if (t.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.BadRequest("thinking: must be an object such as {\"type\": \"enabled\", \"budget_tokens\": 2048}.", "thinking");
        }

        var type = t.TryGetProperty("type", out var ty) && ty.ValueKind == JsonValueKind.String ? ty.GetString() : null;
        switch (type)
        {
            case "enabled":
                if (!t.TryGetProperty("budget_tokens", out var b) || b.ValueKind != JsonValueKind.Number || !b.TryGetInt32(out var budget) || budget < 0)
                {
                    throw ApiException.BadRequest("thinking.budget_tokens: Field required (a non-negative integer) when thinking is enabled.", "thinking.budget_tokens");
                }

                // Forced: the prompt opens the think block, so a thinking block always comes first (as Claude's do).
                return new ThinkingIntent(true, budget, Forced: true);
            case "adaptive":
                return new ThinkingIntent(true, effortBudget, Forced: true);
            case "disabled":
                return new ThinkingIntent(false);
            default:
                throw ApiException.BadRequest($"thinking.type: expected enabled, adaptive or disabled; got '{type}'.", "thinking.type");
        }
    }

    private static OutputConstraint MapFormat(JsonElement? outputConfig, JsonElement? outputFormat)
    {
        JsonElement format;
        string path;
        if (outputConfig is { ValueKind: JsonValueKind.Object } oc && oc.TryGetProperty("format", out var f) && f.ValueKind != JsonValueKind.Null)
        {
            (format, path) = (f, "output_config.format");
        }
        else if (outputFormat is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) } of)
        {
            (format, path) = (of, "output_format");
        }
        else
        {
            return OutputConstraint.Text;
        }

        if (format.ValueKind != JsonValueKind.Object || !format.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "json_schema")
        {
            throw ApiException.BadRequest($"{path}.type: expected 'json_schema'.", $"{path}.type");
        }

        if (!format.TryGetProperty("schema", out var schema) || schema.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.BadRequest($"{path}.schema: Field required (a JSON Schema object).", $"{path}.schema");
        }

        return new OutputConstraint(OutputKind.JsonSchema, schema, null, "/" + path.Replace('.', '/') + "/schema");
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>The model-facing id of a tool call the client names: toolu_X back to the parser's call_X.</summary>
    public static string CallId(string wireId) => wireId.StartsWith("toolu_", StringComparison.Ordinal) ? "call_" + wireId["toolu_".Length..] : wireId;

    /// <summary>The id a client sees for a parser's call id: call_X as toolu_X.</summary>
    public static string WireId(string callId) => "toolu_" + (callId.StartsWith("call_", StringComparison.Ordinal) ? callId["call_".Length..] : callId);

    private static string BlockType(JsonElement block, string p)
    {
        if (block.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.BadRequest($"{p}: must be an object with a 'type'.", p);
        }

        return block.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()!
            : throw ApiException.BadRequest($"{p}.type: Field required.", $"{p}.type");
    }

    private static string RequiredString(JsonElement obj, string name, string p) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()!
            : throw ApiException.BadRequest($"{p}.{name}: Field required (a string).", $"{p}.{name}");

    private static ApiException Unsupported(string type, string p) =>
        ApiException.BadRequest($"{p}: '{type}' blocks are not supported: this model reads text only. Send the content as text.", $"{p}.type");
}
