using System.Security.Cryptography;
using System.Text;
using YoutuServer.Chat.Messages;
using YoutuServer.Chat.Parsing;

namespace YoutuServer.Generation;

/// <summary>
/// Remembers the exact text and token ids of recent finished assistant turns, keyed by what the client saw
/// (reasoning, content, tool calls). When an agent sends such a turn back (a tool loop, a Responses or Messages
/// continuation), the planner puts those very tokens into the prompt instead of re-tokenizing the re-rendered text,
/// so the prompt starts with exactly the tokens the earlier turn evaluated and generated and the prefix cache reuses
/// all of them: re-rendering loses the model's own whitespace around its reasoning and tool-call frame, and
/// re-tokenizing its text need not give back the token ids it sampled. Bounded (entries and tokens), least recently
/// used first out; a turn not found here is rendered from its fields as usual.
/// </summary>
internal sealed class OutputMemory(int maxEntries = 4096, long maxTokens = 4_000_000)
{
    private readonly Dictionary<string, LinkedListNode<Entry>> index = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry> order = new();
    private readonly Lock gate = new();
    private long tokens;

    private sealed record Entry(string Key, string Text, int[] Tokens);

    public int Count
    {
        get
        {
            lock (gate)
            {
                return index.Count;
            }
        }
    }

    public void Remember(string key, string text, int[] tokenIds)
    {
        if (maxEntries <= 0 || tokenIds.Length > maxTokens)
        {
            return;
        }

        lock (gate)
        {
            if (index.Remove(key, out var old))
            {
                order.Remove(old);
                tokens -= old.Value.Tokens.Length;
            }

            index[key] = order.AddFirst(new Entry(key, text, tokenIds));
            tokens += tokenIds.Length;
            while (index.Count > maxEntries || tokens > maxTokens)
            {
                var last = order.Last!;
                order.RemoveLast();
                index.Remove(last.Value.Key);
                tokens -= last.Value.Tokens.Length;
            }
        }
    }

    public bool TryRecall(string key, out string text, out int[] tokenIds)
    {
        lock (gate)
        {
            if (index.TryGetValue(key, out var node))
            {
                order.Remove(node);
                order.AddFirst(node);
                text = node.Value.Text;
                tokenIds = node.Value.Tokens;
                return true;
            }
        }

        text = "";
        tokenIds = [];
        return false;
    }

    /// <summary>The key of an assistant message as a client sends it back.</summary>
    public static string KeyOf(ChatMessage m) => Key(m.Reasoning, m.Content,
        m.ToolCalls?.Select(c => (c.Name, c.Arguments.ValueKind == System.Text.Json.JsonValueKind.String ? c.Arguments.GetString() ?? "" : c.Arguments.GetRawText())));

    /// <summary>The key of a parsed output as the server returned it.</summary>
    public static string KeyOf(ParsedAssistantOutput o) => Key(o.Reasoning, o.Content, o.ToolCalls.Select(c => (c.Name, c.Arguments)));

    private static string Key(string? reasoning, string? content, IEnumerable<(string Name, string Arguments)>? calls)
    {
        var sb = new StringBuilder();
        sb.Append(reasoning ?? "").Append('\0').Append(content ?? "");
        foreach (var (name, args) in calls ?? [])
        {
            sb.Append('\0').Append(name).Append('\0').Append(args);
        }

        return Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }
}
