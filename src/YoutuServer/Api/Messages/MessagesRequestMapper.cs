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

    internal static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

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
        var billingDropped = MessagesInputFolding.AddSystem(r.System, messages);
        MessagesInputFolding.MapMessages(r.Messages, messages, seal, warnings, recalled);

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

    internal static string BlockType(JsonElement block, string p)
    {
        if (block.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.BadRequest($"{p}: must be an object with a 'type'.", p);
        }

        return block.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()!
            : throw ApiException.BadRequest($"{p}.type: Field required.", $"{p}.type");
    }

    internal static string RequiredString(JsonElement obj, string name, string p) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()!
            : throw ApiException.BadRequest($"{p}.{name}: Field required (a string).", $"{p}.{name}");

    internal static ApiException Unsupported(string type, string p) =>
        ApiException.BadRequest($"{p}: '{type}' blocks are not supported: this model reads text only. Send the content as text.", $"{p}.type");
}
