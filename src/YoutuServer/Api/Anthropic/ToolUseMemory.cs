using System.Text.Json;

namespace YoutuServer.Api.Anthropic;

/// <summary>
/// The exact argument text of recent tool_use blocks, by their toolu_ id. Clients send a tool call back as an input
/// object they re-serialized (spacing lost); when that object equals what the model wrote, the call goes back into
/// the prompt as the model's own text, so the turn matches the server's <see cref="Generation.OutputMemory"/> and the
/// prefix cache reuses it token for token. Also kept: whitespace-only text the turn had (no text block carries it).
/// Bounded; the oldest entries go first.
/// </summary>
internal static class ToolUseMemory
{
    private const int MaxEntries = 16_384;
    private static readonly Dictionary<string, (string Arguments, string? TurnContent)> Entries = new(StringComparer.Ordinal);
    private static readonly Queue<string> Order = new();
    private static readonly Lock Gate = new();

    public static void Remember(string wireId, string arguments, string? turnContent)
    {
        lock (Gate)
        {
            if (Entries.TryAdd(wireId, (arguments, turnContent)))
            {
                Order.Enqueue(wireId);
                while (Order.Count > MaxEntries)
                {
                    Entries.Remove(Order.Dequeue());
                }
            }
        }
    }

    /// <summary>The model's argument text for this id when <paramref name="input"/> is the same JSON value.</summary>
    public static bool TryRecall(string wireId, JsonElement input, out string arguments, out string? turnContent)
    {
        arguments = "";
        turnContent = null;
        (string Arguments, string? TurnContent) entry;
        lock (Gate)
        {
            if (!Entries.TryGetValue(wireId, out entry))
            {
                return false;
            }
        }

        try
        {
            using var doc = JsonDocument.Parse(entry.Arguments);
            if (!JsonElement.DeepEquals(doc.RootElement, input))
            {
                return false;
            }
        }
        catch (JsonException)
        {
            return false;
        }

        (arguments, turnContent) = entry;
        return true;
    }
}
