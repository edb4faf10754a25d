using System.Text.Json;
using YoutuServer.Api.Common;
using YoutuServer.Chat.Parsing;
using YoutuServer.State;

namespace YoutuServer.Api.Messages;

/// <summary>
/// Messages' use of <see cref="IToolUseMemory"/>: the exact argument text of the tool_use blocks it answered, by their
/// toolu_ id. Clients send a tool call back as an input object they re-serialized (spacing lost); when that object
/// equals what the model wrote, the call goes back into the prompt as the model's own text, so the turn matches the
/// output memory and the prefix cache reuses it token for token. Also kept: whitespace-only text the turn had (no
/// text block carries it). A memory that cannot answer costs only that reuse.
/// </summary>
internal static class ToolUseRecall
{
    /// <summary>The remembered calls of every tool_use block in the request's assistant messages, by toolu_ id.</summary>
    public static async ValueTask<IReadOnlyDictionary<string, RememberedToolUse>?> RecallAsync(IToolUseMemory memory, TenantId tenant, MessagesRequest request, CancellationToken cancellationToken)
    {
        var ids = new List<string>();
        foreach (var m in request.Messages ?? [])
        {
            if (m is not { Role: "assistant", Content: { ValueKind: JsonValueKind.Array } blocks })
            {
                continue;
            }

            foreach (var block in blocks.EnumerateArray())
            {
                if (block.ValueKind == JsonValueKind.Object
                    && block.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.ValueEquals("tool_use")
                    && block.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String && id.GetString() is { Length: > 0 } wireId)
                {
                    ids.Add(wireId);
                }
            }
        }

        if (ids.Count == 0)
        {
            return null;
        }

        try
        {
            var found = await memory.RecallManyAsync(tenant, ids, cancellationToken).ConfigureAwait(false); // one round trip
            return found.Count == 0 ? null : found;
        }
        catch (StateUnavailableException)
        {
            return null;
        }
    }

    /// <summary>The model's argument text when <paramref name="input"/> is the same JSON value as the remembered call's.</summary>
    public static bool Matches(RememberedToolUse remembered, JsonElement input, out string arguments, out string? turnContent)
    {
        arguments = "";
        turnContent = null;
        try
        {
            using var doc = JsonDocument.Parse(remembered.Arguments);
            if (!JsonElement.DeepEquals(doc.RootElement, input))
            {
                return false;
            }
        }
        catch (JsonException)
        {
            return false;
        }

        (arguments, turnContent) = (remembered.Arguments, remembered.TurnContent);
        return true;
    }

    /// <summary>Keeps each call's exact argument text (and whitespace-only turn text) for when the client sends the turn back.</summary>
    public static async ValueTask RememberAsync(IToolUseMemory memory, TenantId tenant, ParsedAssistantOutput output, CancellationToken cancellationToken)
    {
        var whitespace = output.Content is { } c && string.IsNullOrWhiteSpace(c) ? c : null;
        try
        {
            foreach (var call in output.ToolCalls)
            {
                await memory.RememberAsync(tenant, MessagesRequestMapper.WireId(call.Id), new RememberedToolUse(call.Arguments, whitespace), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (StateUnavailableException)
        {
        }
    }
}
