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

    public static MappedResponsesRequest Map(ResponsesRequest r, IReadOnlyList<ChatMessage> previous, SealScope seal)
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
        var (messages, items) = MapInput(r.Input, seal, ref unopened, r.PreviousResponseId is not null);
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

    // ------------------------------------------------------------------ input

    private static (List<ChatMessage> Messages, List<ResponseItem> Items) MapInput(JsonElement? input, SealScope seal, ref int unopened, bool continuing)
    {
        var messages = new List<ChatMessage>();
        var items = new List<ResponseItem>();
        if (input is not { } inp || inp.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            if (continuing)
            {
                return (messages, items);
            }

            throw ApiException.BadRequest("'input' is required.", "input");
        }

        if (inp.ValueKind == JsonValueKind.String)
        {
            var text = inp.GetString()!;
            messages.Add(new ChatMessage(ChatRoles.User, text));
            items.Add(new ResponseItem { Id = ResponseIds.Message(), Type = "message", Role = "user", Status = "completed", Content = [new ContentPart { Type = "input_text", Text = text }] });
            return (messages, items);
        }

        if (inp.ValueKind != JsonValueKind.Array)
        {
            throw ApiException.BadRequest("'input' must be a string or an array of input items.", "input");
        }

        string? pendingReasoning = null;
        ChatMessage? open = null; // the assistant turn being assembled (message text, then function calls)
        var calls = new List<ChatToolCall>();

        void Close()
        {
            if (open is not null)
            {
                messages.Add(open with { ToolCalls = calls.Count > 0 ? [.. calls] : null });
                calls.Clear();
                open = null;
            }
        }

        var i = 0;
        foreach (var item in inp.EnumerateArray())
        {
            var p = $"input[{i}]";
            if (item.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.BadRequest($"{p} must be an object.", p);
            }

            var type = Str(item, "type") ?? (item.TryGetProperty("role", out _) ? "message" : null);
            switch (type)
            {
                case "message":
                {
                    var role = Str(item, "role");
                    if (role is not ("user" or "assistant" or "system" or "developer"))
                    {
                        throw ApiException.BadRequest(
                            role is null ? $"{p}.role is required." : $"Invalid role '{role}' in {p}: expected user, assistant, system or developer.", $"{p}.role");
                    }

                    var text = ContentText(item, p);
                    items.Add(new ResponseItem
                    {
                        Id = Str(item, "id") ?? ResponseIds.Message(),
                        Type = "message",
                        Role = role,
                        Status = "completed",
                        Content = [new ContentPart { Type = role == "assistant" ? "output_text" : "input_text", Text = text, Annotations = role == "assistant" ? [] : null }],
                    });
                    if (role == "assistant")
                    {
                        Close();
                        open = new ChatMessage(ChatRoles.Assistant, text) { Reasoning = pendingReasoning };
                        pendingReasoning = null;
                    }
                    else
                    {
                        Close();
                        pendingReasoning = null;
                        messages.Add(new ChatMessage(role, text));
                    }

                    break;
                }

                case "function_call":
                {
                    // The Youtu template matches results to calls by position, so a missing call_id costs nothing.
                    var callId = Str(item, "call_id") ?? Str(item, "id") ?? "call_" + Ids.Random24();
                    var name = Str(item, "name") ?? throw ApiException.BadRequest($"{p}.name is required.", $"{p}.name");
                    var ns = Str(item, "namespace");
                    var args = item.TryGetProperty("arguments", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString()! : "{}";
                    if (open is null || pendingReasoning is not null)
                    {
                        Close();
                        open = new ChatMessage(ChatRoles.Assistant, null) { Reasoning = pendingReasoning };
                        pendingReasoning = null;
                    }

                    calls.Add(ChatToolCall.FromArgumentsString(callId, ns is null ? name : Flatten(ns, name), args));
                    items.Add(new ResponseItem { Id = Str(item, "id") ?? ResponseIds.FunctionCall(), Type = "function_call", Status = "completed", CallId = callId, Namespace = ns, Name = name, Arguments = args });
                    break;
                }

                case "custom_tool_call" or "apply_patch_call" or "shell_call" or "local_shell_call":
                {
                    var (name, args) = ClientTools.FromInputItem(type, item, p)!.Value;
                    var callId = Str(item, "call_id") ?? Str(item, "id") ?? "call_" + Ids.Random24();
                    if (open is null || pendingReasoning is not null)
                    {
                        Close();
                        open = new ChatMessage(ChatRoles.Assistant, null) { Reasoning = pendingReasoning };
                        pendingReasoning = null;
                    }

                    calls.Add(ChatToolCall.FromArgumentsString(callId, name, args));
                    var stored = JsonSerializer.Deserialize(item.GetRawText(), ResponsesJsonContext.Wire.ResponseItem)!;
                    stored.Id ??= "ci_" + Ids.Random24();
                    items.Add(stored);
                    break;
                }

                case var output when output is not null && ClientTools.IsOutputItem(output):
                {
                    Close();
                    pendingReasoning = null;
                    var callId = Str(item, "call_id");
                    var text = ClientTools.OutputText(item);
                    messages.Add(new ChatMessage(ChatRoles.Tool, text) { ToolCallId = callId });
                    items.Add(new ResponseItem { Id = Str(item, "id") ?? "cto_" + Ids.Random24(), Type = output, Status = "completed", CallId = callId ?? "", Output = text });
                    break;
                }

                case "function_call_output":
                {
                    Close();
                    pendingReasoning = null;
                    var callId = Str(item, "call_id");
                    var output = OutputText(item, p);
                    messages.Add(new ChatMessage(ChatRoles.Tool, output) { ToolCallId = callId });
                    items.Add(new ResponseItem { Id = Str(item, "id") ?? "fco_" + Ids.Random24(), Type = "function_call_output", Status = "completed", CallId = callId ?? "", Output = output });
                    break;
                }

                case "reasoning":
                {
                    Close();
                    var text = ReasoningText(item, seal, ref unopened);
                    pendingReasoning = text is null ? pendingReasoning : (pendingReasoning is null ? text : pendingReasoning + "\n" + text);
                    var stored = new ResponseItem { Id = Str(item, "id") ?? ResponseIds.Reasoning(), Type = "reasoning", Summary = [] };
                    if (item.TryGetProperty("summary", out var s) && s.ValueKind == JsonValueKind.Array)
                    {
                        foreach (var part in s.EnumerateArray())
                        {
                            if (part.ValueKind == JsonValueKind.Object && Str(part, "text") is { } st)
                            {
                                stored.Summary.Add(new ContentPart { Type = "summary_text", Text = st });
                            }
                        }
                    }

                    if (text is not null)
                    {
                        stored.Content = [new ContentPart { Type = "reasoning_text", Text = text }];
                    }

                    items.Add(stored);
                    break;
                }

                case "item_reference":
                    throw ApiException.BadRequest($"{p}: item references are not supported; send the item itself or use 'previous_response_id'.", $"{p}.type");
                case null:
                    throw ApiException.BadRequest($"{p}.type is required.", $"{p}.type");
                default:
                    // Records of hosted tool calls (web_search_call, ...) have nothing the model can be shown.
                    if (type.EndsWith("_call", StringComparison.Ordinal) || type.EndsWith("_call_output", StringComparison.Ordinal))
                    {
                        Close();
                        break;
                    }

                    throw ApiException.BadRequest($"Unsupported input item type '{type}' in {p}.", $"{p}.type");
            }

            i++;
        }

        Close();
        if (messages.Count == 0 && !continuing)
        {
            throw ApiException.BadRequest("'input' must contain at least one message or function call output.", "input");
        }

        return (messages, items);
    }

    /// <summary>The reasoning an item carries: its reasoning_text content, else its sealed text, else its summary.</summary>
    private static string? ReasoningText(JsonElement item, SealScope seal, ref int unopened)
    {
        if (item.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.Array)
        {
            var sb = new StringBuilder();
            foreach (var part in c.EnumerateArray())
            {
                if (part.ValueKind == JsonValueKind.Object && Str(part, "text") is { } t)
                {
                    sb.Append(t);
                }
            }

            if (sb.Length > 0)
            {
                return sb.ToString();
            }
        }

        if (Str(item, "encrypted_content") is { Length: > 0 } sealedText)
        {
            if (seal.TryOpen(sealedText, out var opened))
            {
                return opened.Length > 0 ? opened : null;
            }

            unopened++;
        }

        if (item.TryGetProperty("summary", out var s) && s.ValueKind == JsonValueKind.Array)
        {
            var sb = new StringBuilder();
            foreach (var part in s.EnumerateArray())
            {
                if (part.ValueKind == JsonValueKind.Object && Str(part, "text") is { } t)
                {
                    if (sb.Length > 0)
                    {
                        sb.Append("\n\n");
                    }

                    sb.Append(t);
                }
            }

            return sb.Length > 0 ? sb.ToString() : null;
        }

        return null;
    }

    private static string ContentText(JsonElement item, string p)
    {
        if (!item.TryGetProperty("content", out var c) || c.ValueKind is JsonValueKind.Null)
        {
            throw ApiException.BadRequest($"{p}.content is required.", $"{p}.content");
        }

        if (c.ValueKind == JsonValueKind.String)
        {
            return c.GetString()!;
        }

        if (c.ValueKind != JsonValueKind.Array)
        {
            throw ApiException.BadRequest($"{p}.content must be a string or an array of content parts.", $"{p}.content");
        }

        return Parts(c, $"{p}.content");
    }

    private static string OutputText(JsonElement item, string p)
    {
        if (!item.TryGetProperty("output", out var o) || o.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            throw ApiException.BadRequest($"{p}.output is required.", $"{p}.output");
        }

        return o.ValueKind switch
        {
            JsonValueKind.String => o.GetString()!,
            JsonValueKind.Array => Parts(o, $"{p}.output"),
            _ => o.GetRawText(),
        };
    }

    private static string Parts(JsonElement array, string p)
    {
        var sb = new StringBuilder();
        var j = 0;
        foreach (var part in array.EnumerateArray())
        {
            var pp = $"{p}[{j}]";
            var t = part.ValueKind == JsonValueKind.Object ? Str(part, "type") : null;
            switch (t)
            {
                case "input_text" or "output_text" or "text" or "refusal" or "summary_text" or "reasoning_text":
                    var text = Str(part, t == "refusal" ? "refusal" : "text") ?? Str(part, "text")
                        ?? throw ApiException.BadRequest($"{pp}.text must be a string.", $"{pp}.text");
                    if (sb.Length > 0)
                    {
                        sb.Append('\n');
                    }

                    sb.Append(text);
                    break;
                case null:
                    throw ApiException.BadRequest($"{pp} must be an object with a 'type'.", pp);
                default:
                    throw ApiException.BadRequest($"Unsupported content part '{t}' in {pp}: this model accepts text only (input_text).", $"{pp}.type");
            }

            j++;
        }

        return sb.ToString();
    }

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

    private static OutputConstraint MapTextFormat(JsonElement? format)
    {
        if (format is not { } f || f.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return OutputConstraint.Text;
        }

        if (f.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.BadRequest("text.format must be an object.", "text.format");
        }

        return Str(f, "type") switch
        {
            "text" => OutputConstraint.Text,
            "json_object" => new OutputConstraint(OutputKind.JsonObject, null, SchemaPath: "/text/format/schema"),
            "json_schema" => f.TryGetProperty("schema", out var schema) && schema.ValueKind == JsonValueKind.Object
                ? new OutputConstraint(OutputKind.JsonSchema, schema, Str(f, "name"), "/text/format/schema")
                : throw ApiException.BadRequest("text.format of type json_schema needs a 'schema' object.", "text.format.schema"),
            var other => throw ApiException.BadRequest($"text.format.type must be text, json_object or json_schema; got '{other}'.", "text.format.type"),
        };
    }

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

    private static string? Str(JsonElement e, string name) =>
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
