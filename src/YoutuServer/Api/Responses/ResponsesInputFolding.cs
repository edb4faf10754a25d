using System.Text;
using System.Text.Json;
using YoutuServer.Api.Common;
using YoutuServer.Chat.Messages;
using YoutuServer.Generation;
using YoutuServer.Http;

namespace YoutuServer.Api.Responses;

/// <summary>
/// Folds a Responses request's input (a string or items: messages, function_call, function_call_output, reasoning)
/// into chat messages and the input items a stored response lists. The rest of the request (tools, tool_choice,
/// text.format, reasoning) is <see cref="ResponsesRequestMapper"/>'s.
/// </summary>
internal static class ResponsesInputFolding
{
    // ------------------------------------------------------------------ input

    internal static (List<ChatMessage> Messages, List<ResponseItem> Items) MapInput(JsonElement? input, SealScope seal, SealScope? compaction, ref int unopened, bool continuing)
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

            var type = ResponsesRequestMapper.Str(item, "type") ?? (item.TryGetProperty("role", out _) ? "message" : null);
            switch (type)
            {
                case "message":
                {
                    var role = ResponsesRequestMapper.Str(item, "role");
                    if (role is not ("user" or "assistant" or "system" or "developer"))
                    {
                        throw ApiException.BadRequest(
                            role is null ? $"{p}.role is required." : $"Invalid role '{role}' in {p}: expected user, assistant, system or developer.", $"{p}.role");
                    }

                    var text = ContentText(item, p);
                    items.Add(new ResponseItem
                    {
                        Id = ResponsesRequestMapper.Str(item, "id") ?? ResponseIds.Message(),
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
                    var callId = ResponsesRequestMapper.Str(item, "call_id") ?? ResponsesRequestMapper.Str(item, "id") ?? "call_" + Ids.Random24();
                    var name = ResponsesRequestMapper.Str(item, "name") ?? throw ApiException.BadRequest($"{p}.name is required.", $"{p}.name");
                    var ns = ResponsesRequestMapper.Str(item, "namespace");
                    var args = item.TryGetProperty("arguments", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString()! : "{}";
                    if (open is null || pendingReasoning is not null)
                    {
                        Close();
                        open = new ChatMessage(ChatRoles.Assistant, null) { Reasoning = pendingReasoning };
                        pendingReasoning = null;
                    }

                    calls.Add(ChatToolCall.FromArgumentsString(callId, ns is null ? name : ResponsesRequestMapper.Flatten(ns, name), args));
                    items.Add(new ResponseItem { Id = ResponsesRequestMapper.Str(item, "id") ?? ResponseIds.FunctionCall(), Type = "function_call", Status = "completed", CallId = callId, Namespace = ns, Name = name, Arguments = args });
                    break;
                }

                case "custom_tool_call" or "apply_patch_call" or "shell_call" or "local_shell_call":
                {
                    // A client-run tool's call: the function call the model wrote for it (ClientTools).
                    var (name, args) = ClientTools.FromInputItem(type, item, p)!.Value;
                    var callId = ResponsesRequestMapper.Str(item, "call_id") ?? ResponsesRequestMapper.Str(item, "id") ?? "call_" + Ids.Random24();
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
                    var callId = ResponsesRequestMapper.Str(item, "call_id");
                    var text = ClientTools.OutputText(item);
                    messages.Add(new ChatMessage(ChatRoles.Tool, text) { ToolCallId = callId });
                    items.Add(new ResponseItem { Id = ResponsesRequestMapper.Str(item, "id") ?? "cto_" + Ids.Random24(), Type = output, Status = "completed", CallId = callId ?? "", Output = text });
                    break;
                }

                case "function_call_output":
                {
                    Close();
                    pendingReasoning = null;
                    var callId = ResponsesRequestMapper.Str(item, "call_id");
                    var output = OutputText(item, p);
                    messages.Add(new ChatMessage(ChatRoles.Tool, output) { ToolCallId = callId });
                    items.Add(new ResponseItem { Id = ResponsesRequestMapper.Str(item, "id") ?? "fco_" + Ids.Random24(), Type = "function_call_output", Status = "completed", CallId = callId ?? "", Output = output });
                    break;
                }

                case "reasoning":
                {
                    Close();
                    var text = ReasoningText(item, seal, ref unopened);
                    pendingReasoning = text is null ? pendingReasoning : (pendingReasoning is null ? text : pendingReasoning + "\n" + text);
                    var stored = new ResponseItem { Id = ResponsesRequestMapper.Str(item, "id") ?? ResponseIds.Reasoning(), Type = "reasoning", Summary = [] };
                    if (item.TryGetProperty("summary", out var s) && s.ValueKind == JsonValueKind.Array)
                    {
                        foreach (var part in s.EnumerateArray())
                        {
                            if (part.ValueKind == JsonValueKind.Object && ResponsesRequestMapper.Str(part, "text") is { } st)
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

                case "compaction":
                {
                    // A summary of the history it replaces (POST /v1/responses/compact), sealed by this server.
                    Close();
                    pendingReasoning = null;
                    var sealedSummary = ResponsesRequestMapper.Str(item, "encrypted_content");
                    var summary = "";
                    if (compaction?.TryOpen(sealedSummary, out summary) != true)
                    {
                        throw new ApiException(400, $"{p}.encrypted_content does not open: a compaction item must come unchanged from this server's /v1/responses/compact (with the same --reasoning-key, API key and model).",
                            "invalid_request_error", $"{p}.encrypted_content", "invalid_encrypted_content");
                    }

                    messages.Add(ResponsesCompaction.Render(summary));
                    items.Add(new ResponseItem { Id = ResponsesRequestMapper.Str(item, "id") ?? ResponsesCompaction.NewId(), Type = "compaction", EncryptedContent = sealedSummary });
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
                if (part.ValueKind == JsonValueKind.Object && ResponsesRequestMapper.Str(part, "text") is { } t)
                {
                    sb.Append(t);
                }
            }

            if (sb.Length > 0)
            {
                return sb.ToString();
            }
        }

        if (ResponsesRequestMapper.Str(item, "encrypted_content") is { Length: > 0 } sealedText)
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
                if (part.ValueKind == JsonValueKind.Object && ResponsesRequestMapper.Str(part, "text") is { } t)
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
            var t = part.ValueKind == JsonValueKind.Object ? ResponsesRequestMapper.Str(part, "type") : null;
            switch (t)
            {
                case "input_text" or "output_text" or "text" or "refusal" or "summary_text" or "reasoning_text":
                    var text = ResponsesRequestMapper.Str(part, t == "refusal" ? "refusal" : "text") ?? ResponsesRequestMapper.Str(part, "text")
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
}
