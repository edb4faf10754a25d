using System.Text;
using System.Text.Json;
using YoutuServer.Api.Common;
using YoutuServer.Chat.Messages;
using YoutuServer.Generation;
using YoutuServer.Http;

namespace YoutuServer.Api.Responses;

/// <summary>A Responses request as the pipeline sees it, plus what the adapter needs to write the answer back.</summary>
internal sealed class MappedResponsesRequest
{
    public required GenerationIntent Intent { get; init; }
    public required FieldNamer Names { get; init; }

    /// <summary>The conversation this request adds (input items as messages), for the store.</summary>
    public required IReadOnlyList<ChatMessage> NewMessages { get; init; }

    /// <summary>The input items with ids, for GET /v1/responses/{id}/input_items.</summary>
    public required IReadOnlyList<ResponseItem> InputItems { get; init; }

    /// <summary>Hosted tools this server cannot run, skipped (their types).</summary>
    public required IReadOnlyList<string> SkippedTools { get; init; }

    /// <summary>Model-facing (flattened) function name → its namespace and name inside it.</summary>
    public required IReadOnlyDictionary<string, (string Namespace, string Name)> Namespaced { get; init; }

    /// <summary>Model-facing function name → the client-run tool it stands for (custom, apply_patch, shell, local_shell).</summary>
    public IReadOnlyDictionary<string, ClientToolKind> ClientTools { get; init; } = new Dictionary<string, ClientToolKind>();

    /// <summary>Reasoning items whose encrypted_content did not open (ignored).</summary>
    public int UnopenedReasoning { get; init; }

    public required string? Effort { get; init; }
}

/// <summary>
/// OpenAI Responses → <see cref="GenerationIntent"/>: input items become chat messages (reasoning items fold into the
/// assistant turn they precede, consecutive function calls into one assistant turn), tools and tool_choice become
/// the pipeline's, text.format the output constraint and reasoning.effort thinking with a budget. Wire shapes are
/// checked here, each bad field a 400 naming it; values are checked by the <see cref="GenerationPlanner"/>.
/// </summary>
internal static class ResponsesRequestMapper
{
    /// <summary>Tool types that name a hosted tool a local server cannot run: skipped, never refused.</summary>
    private static readonly HashSet<string> Hosted = new(StringComparer.Ordinal)
    {
        "web_search", "web_search_preview", "web_search_preview_2025_03_11", "web_search_2025_08_26", "file_search", "code_interpreter",
        "computer_use", "computer_use_preview", "computer", "mcp", "image_generation", "tool_search",
    };

    /// <summary>The flattened name a namespace's function is offered to the model under.</summary>
    public static string Flatten(string ns, string name) => ns.EndsWith('_') ? ns + name : ns + "__" + name;

    /// <param name="compaction">Opens compaction items (<see cref="ResponsesCompaction"/>); null: they are refused.</param>
    public static MappedResponsesRequest Map(ResponsesRequest r, IReadOnlyList<ChatMessage> previous, SealScope seal, SealScope? compaction = null)
    {
        var toolPaths = new List<string>();
        var namespaced = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
        var skipped = new List<string>();
        var clientTools = new Dictionary<string, ClientToolKind>(StringComparer.Ordinal);
        var tools = MapTools(r.Tools, toolPaths, namespaced, skipped, clientTools);
        var names = Names(toolPaths);
        var choice = MapToolChoice(r.ToolChoice);
        var output = MapTextFormat(r.Text?.Format);
        var (thinking, budget, effort) = MapReasoning(r);
        var unopened = 0;
        var (messages, items) = ResponsesInputFolding.MapInput(r.Input, seal, compaction, ref unopened, r.PreviousResponseId is not null);
        var stops = StopSequences.Parse(r.Stop);
        if (r.Background == true)
        {
            throw ApiException.BadRequest("'background' responses are not supported by this server.", "background");
        }

        if (r.MaxToolCalls is < 0)
        {
            throw ApiException.BadRequest($"'max_tool_calls' must be a non-negative integer, got {r.MaxToolCalls}.", "max_tool_calls");
        }

        if (r.ServiceTier is not (null or "auto" or "default" or "flex" or "scale" or "priority"))
        {
            throw ApiException.BadRequest($"'service_tier' must be one of auto, default, flex, scale, priority; got '{r.ServiceTier}'.", "service_tier");
        }

        if (r.Truncation is not (null or "disabled" or "auto"))
        {
            throw ApiException.BadRequest($"'truncation' must be 'auto' or 'disabled', got '{r.Truncation}'.", "truncation");
        }

        var all = new List<ChatMessage>(previous.Count + messages.Count + 1);
        if (!string.IsNullOrEmpty(r.Instructions))
        {
            all.Add(new ChatMessage(ChatRoles.System, r.Instructions));
        }

        all.AddRange(previous);
        all.AddRange(messages);
        var intent = new GenerationIntent
        {
            Model = r.Model,
            Messages = all,
            Tools = tools,
            ToolChoice = choice,
            ParallelToolCalls = r.ParallelToolCalls ?? true,
            Output = output,
            Thinking = new ThinkingIntent(thinking, budget),
            Sampling = new SamplingIntent
            {
                Temperature = r.Temperature,
                TopP = r.TopP,
                TopK = r.TopK,
                MinP = r.MinP,
                PresencePenalty = r.PresencePenalty,
                FrequencyPenalty = r.FrequencyPenalty,
                RepetitionPenalty = r.RepetitionPenalty,
                Seed = r.Seed,
                LogitBias = r.LogitBias,
            },
            Stop = stops,
            MaxTokens = r.MaxOutputTokens,
            DropOldestToFit = r.Truncation == "auto",
            MinTokens = r.MinTokens,
            IgnoreEos = r.IgnoreEos ?? false,
            CacheSalt = r.CacheSalt,
            CacheKey = r.PromptCacheKey,
        };
        return new MappedResponsesRequest
        {
            Intent = intent,
            Names = names,
            NewMessages = messages,
            InputItems = items,
            SkippedTools = skipped,
            Namespaced = namespaced,
            ClientTools = clientTools,
            UnopenedReasoning = unopened,
            Effort = effort,
        };
    }

    /// <summary>Responses' names for the intent's fields; tool indices map back to the request's own paths.</summary>
    public static FieldNamer Names(IReadOnlyList<string> toolPaths) => (field, index) => field switch
    {
        IntentField.MaxTokens => "max_output_tokens",
        IntentField.Messages or IntentField.Prompt => "input",
        IntentField.Output => "text.format",
        IntentField.ToolName => (index is { } i && i < toolPaths.Count ? toolPaths[i] : $"tools[{index}]") + ".name",
        IntentField.ToolParameters => (index is { } i && i < toolPaths.Count ? toolPaths[i] : $"tools[{index}]") + ".parameters",
        IntentField.ReasoningBudget => "reasoning_budget",
        _ => FieldNames.SnakeCase(field, index),
    };

    // ------------------------------------------------------------------ tools

    private static List<ToolDefinition> MapTools(List<JsonElement>? tools, List<string> paths, Dictionary<string, (string, string)> namespaced, List<string> skipped, Dictionary<string, ClientToolKind> clientTools)
    {
        var list = new List<ToolDefinition>();
        if (tools is null)
        {
            return list;
        }

        for (var i = 0; i < tools.Count; i++)
        {
            var t = tools[i];
            var p = $"tools[{i}]";
            if (t.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.BadRequest($"{p} must be an object.", p);
            }

            var type = Str(t, "type") ?? throw ApiException.BadRequest($"{p}.type is required.", $"{p}.type");
            if (type == "function")
            {
                list.Add(Function(t, p, null));
                paths.Add(p);
            }
            else if (type == "namespace")
            {
                var ns = Str(t, "name") is { Length: > 0 } n ? n : throw ApiException.BadRequest($"{p}.name is required.", $"{p}.name");
                if (!t.TryGetProperty("tools", out var inner) || inner.ValueKind != JsonValueKind.Array)
                {
                    throw ApiException.BadRequest($"{p}.tools must be an array of function tools.", $"{p}.tools");
                }

                var j = 0;
                foreach (var f in inner.EnumerateArray())
                {
                    var fp = $"{p}.tools[{j++}]";
                    if (f.ValueKind != JsonValueKind.Object)
                    {
                        throw ApiException.BadRequest($"{fp} must be an object.", fp);
                    }

                    if (Str(f, "type") is { } ft && ft != "function")
                    {
                        skipped.Add(ft);
                        continue;
                    }

                    var def = Function(f, fp, ns);
                    namespaced[def.Name] = (ns, Str(f, "name")!);
                    list.Add(def);
                    paths.Add(fp);
                }
            }
            else if (type is "custom" or "apply_patch" or "shell" or "local_shell")
            {
                // Run by the client: offered to the model as a function; its calls go back as the tool's own item type.
                var (def, kind) = ClientTools.Define(type, t, p);
                clientTools[def.Name] = kind;
                list.Add(def);
                paths.Add(p);
            }
            else
            {
                // Hosted tools (web_search, file_search, ...) and anything else a local model cannot run: real clients
                // send them on every request, so they are skipped (and reported in a header), never refused.
                skipped.Add(type);
            }
        }

        if (list.Count > GenerationPlanner.MaxTools)
        {
            throw ApiException.BadRequest($"At most {GenerationPlanner.MaxTools} function tools are supported.", "tools");
        }

        return list;
    }

    /// <summary>
    /// The tools as the response echoes them: each function tool with every field the Open Responses FunctionTool
    /// requires (<c>description</c> and <c>parameters</c> null when not given, <c>strict</c> the request's value or
    /// the API's default true); other tools as sent.
    /// </summary>
    public static List<JsonElement> EchoTools(List<JsonElement>? tools)
    {
        if (tools is null)
        {
            return [];
        }

        var echoed = new List<JsonElement>(tools.Count);
        foreach (var t in tools)
        {
            if (t.ValueKind != JsonValueKind.Object || Str(t, "type") != "function"
                || (t.TryGetProperty("description", out _) && t.TryGetProperty("parameters", out _) && t.TryGetProperty("strict", out var st) && st.ValueKind is JsonValueKind.True or JsonValueKind.False))
            {
                echoed.Add(t);
                continue;
            }

            var o = System.Text.Json.Nodes.JsonObject.Create(t)!.DeepClone().AsObject();
            o.TryAdd("description", null);
            o.TryAdd("parameters", null);
            if (o["strict"] is not { } s || s.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
            {
                o["strict"] = true;
            }

            echoed.Add(JsonSerializer.SerializeToElement(o, ResponsesJsonContext.Wire.JsonNode));
        }

        return echoed;
    }

    private static ToolDefinition Function(JsonElement t, string p, string? ns)
    {
        var name = Str(t, "name") ?? (t.TryGetProperty("function", out var fn) && fn.ValueKind == JsonValueKind.Object ? Str(fn, "name") : null);
        if (string.IsNullOrEmpty(name))
        {
            throw ApiException.BadRequest($"{p}.name is required.", $"{p}.name");
        }

        var description = Str(t, "description");
        JsonElement? parameters = t.TryGetProperty("parameters", out var ps) && ps.ValueKind != JsonValueKind.Null ? ps : null;
        var strict = t.TryGetProperty("strict", out var st) && st.ValueKind == JsonValueKind.True;
        return ToolDefinition.Create(ns is null ? name : Flatten(ns, name), description, parameters, strict);
    }

    private static ToolChoice MapToolChoice(JsonElement? choice)
    {
        if (OpenAIToolChoice.Common(choice) is { } common)
        {
            return common;
        }

        var c = choice!.Value;
        if (c.ValueKind == JsonValueKind.Object)
        {
            switch (Str(c, "type"))
            {
                case "function" when Str(c, "name") is { } name:
                    var ns = Str(c, "namespace");
                    return ToolChoice.Function(ns is null ? name : Flatten(ns, name));
                case "custom" when Str(c, "name") is { } custom:
                    return ToolChoice.Function(custom);
                case "apply_patch":
                    return ToolChoice.Function(ClientTools.ApplyPatchName);
                case "shell":
                    return ToolChoice.Function(ClientTools.ShellName);
                case "local_shell":
                    return ToolChoice.Function(ClientTools.LocalShellName);
                case "allowed_tools":
                    return Str(c, "mode") == "required" ? ToolChoice.Required : ToolChoice.Auto;
                case { } hosted when Hosted.Contains(hosted):
                    throw ApiException.BadRequest($"tool_choice names the hosted tool '{hosted}', which this server cannot run.", "tool_choice");
            }
        }

        throw ApiException.BadRequest("tool_choice must be 'none', 'auto', 'required' or {\"type\": \"function\", \"name\": ...}.", "tool_choice");
    }

    private static OutputConstraint MapTextFormat(JsonElement? format) => OpenAIOutputFormat.Map(format, "text.format",
        _ => new OutputConstraint(OutputKind.JsonObject, null, SchemaPath: "/text/format/schema"),
        f => f.TryGetProperty("schema", out var schema) && schema.ValueKind == JsonValueKind.Object
            ? new OutputConstraint(OutputKind.JsonSchema, schema, Str(f, "name"), "/text/format/schema")
            : throw ApiException.BadRequest("text.format of type json_schema needs a 'schema' object.", "text.format.schema"));

    /// <summary>reasoning.effort → thinking on/off and a budget; enable_thinking / reasoning_budget (extensions) win.</summary>
    private static (bool? Thinking, int? Budget, string? Effort) MapReasoning(ResponsesRequest r)
    {
        var effort = r.Reasoning?.Effort;
        (bool? on, int? budget) = effort switch
        {
            null => ((bool?)null, (int?)null),
            "none" or "minimal" => (false, null),
            "low" or "medium" or "high" or "xhigh" => (true, ThinkingEffort.Budget(effort)),
            _ => throw ApiException.BadRequest($"reasoning.effort must be one of none, minimal, low, medium, high, xhigh; got '{effort}'.", "reasoning.effort"),
        };
        if (r.Reasoning?.Summary is { } s && s is not ("auto" or "concise" or "detailed"))
        {
            throw ApiException.BadRequest($"reasoning.summary must be auto, concise or detailed; got '{s}'.", "reasoning.summary");
        }

        return (r.EnableThinking ?? on, r.ReasoningBudget ?? budget, effort);
    }

    internal static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}

/// <summary>Ids of the Responses API's objects.</summary>
internal static class ResponseIds
{
    public static string Response() => "resp_" + Ids.Random24() + Ids.Random24();
    public static string Message() => "msg_" + Ids.Random24();
    public static string Reasoning() => "rs_" + Ids.Random24();
    public static string FunctionCall() => "fc_" + Ids.Random24();
}
