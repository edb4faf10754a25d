using System.Text;
using System.Text.Json;
using YoutuServer.Api.Common;
using YoutuServer.Chat.Messages;
using YoutuServer.Generation;
using YoutuServer.Http;
using YoutuServer.State;

namespace YoutuServer.Api.Messages;

/// <summary>
/// Folds a Messages request's system and messages into chat messages: system blocks (Claude Code's billing line left
/// out), user text and tool_result blocks, assistant text, tool_use (the model's own argument text when the tool-use
/// memory recalls it) and thinking blocks (reasoning restored from their signature). The rest of the request (tools,
/// tool_choice, thinking, output format) is <see cref="MessagesRequestMapper"/>'s.
/// </summary>
internal static class MessagesInputFolding
{
    // ------------------------------------------------------------------ system

    /// <summary>Adds the top-level system text; true when a billing block was left out of it.</summary>
    internal static bool AddSystem(JsonElement? system, List<ChatMessage> messages)
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
    /// starts with <see cref="MessagesRequestMapper.BillingHeaderPrefix"/> is left out (<paramref name="billingDropped"/>).
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
            var type = MessagesRequestMapper.BlockType(block, p);
            if (type != "text")
            {
                throw ApiException.BadRequest($"{p}: '{type}' blocks are not supported here; only text blocks.", $"{p}.type");
            }

            var blockText = MessagesRequestMapper.RequiredString(block, "text", p);
            if (blockText.StartsWith(MessagesRequestMapper.BillingHeaderPrefix, StringComparison.Ordinal))
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

    internal static void MapMessages(List<InputMessage?>? dtos, List<ChatMessage> messages, SealScope seal, List<string> warnings, IReadOnlyDictionary<string, RememberedToolUse>? recalled)
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
            switch (MessagesRequestMapper.BlockType(block, p))
            {
                case "text":
                    if (any)
                    {
                        text.Append('\n');
                    }

                    text.Append(MessagesRequestMapper.RequiredString(block, "text", p));
                    any = true;
                    break;
                case "tool_result":
                    Flush();
                    messages.Add(ToolResult(block, p));
                    break;
                case var t and ("image" or "document" or "search_result" or "container_upload"):
                    throw MessagesRequestMapper.Unsupported(t, p);
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
        var id = MessagesRequestMapper.RequiredString(block, "tool_use_id", p);
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
                    var type = MessagesRequestMapper.BlockType(part, pp);
                    if (type != "text")
                    {
                        throw type is "image" or "document" or "search_result" ? MessagesRequestMapper.Unsupported(type, pp) : ApiException.BadRequest($"{pp}: unknown tool result block type '{type}'.", $"{pp}.type");
                    }

                    if (sb.Length > 0)
                    {
                        sb.Append('\n');
                    }

                    sb.Append(MessagesRequestMapper.RequiredString(part, "text", pp));
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

        return new ChatMessage(ChatRoles.Tool, text) { ToolCallId = MessagesRequestMapper.CallId(id) };
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
            switch (MessagesRequestMapper.BlockType(block, p))
            {
                case "text":
                    text = text is null ? new StringBuilder() : text.Append('\n');
                    text.Append(MessagesRequestMapper.RequiredString(block, "text", p));
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
                    var id = MessagesRequestMapper.RequiredString(block, "id", p);
                    var name = MessagesRequestMapper.RequiredString(block, "name", p);
                    var input = block.TryGetProperty("input", out var inp) && inp.ValueKind != JsonValueKind.Null ? inp : MessagesRequestMapper.EmptyObject;
                    if (input.ValueKind != JsonValueKind.Object)
                    {
                        throw ApiException.BadRequest($"{p}.input: must be an object.", $"{p}.input");
                    }

                    if (recalled is not null && recalled.TryGetValue(id, out var remembered) && ToolUseRecall.Matches(remembered, input, out var arguments, out var turnContent))
                    {
                        // The model's own argument text (and the whitespace it wrote around the call).
                        (calls ??= []).Add(ChatToolCall.FromArgumentsString(MessagesRequestMapper.CallId(id), name, arguments));
                        recalledContent ??= turnContent;
                    }
                    else
                    {
                        (calls ??= []).Add(new ChatToolCall(MessagesRequestMapper.CallId(id), name, input));
                    }

                    break;
                }

                case var t when t.StartsWith("server_tool_use", StringComparison.Ordinal) || t.EndsWith("_tool_result", StringComparison.Ordinal) || t == "mcp_tool_use":
                    warnings.Add($"{p}: server tool block '{t}' skipped (this server runs no server tools)");
                    break;
                case var t and ("image" or "document"):
                    throw MessagesRequestMapper.Unsupported(t, p);
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
}
