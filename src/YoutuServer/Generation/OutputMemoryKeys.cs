using System.Security.Cryptography;
using System.Text;
using YoutuServer.Chat.Messages;
using YoutuServer.Chat.Parsing;

namespace YoutuServer.Generation;

/// <summary>
/// Keys of <see cref="State.IOutputMemory"/>: a finished assistant turn is remembered (its exact text and token ids) by
/// what the client saw (reasoning, content, tool calls). When an agent sends such a turn back (a tool loop, a Responses
/// or Messages continuation), the planner puts those very tokens into the prompt instead of re-tokenizing the
/// re-rendered text, so the prompt starts with exactly the tokens the earlier turn evaluated and generated and the
/// prefix cache reuses all of them: re-rendering loses the model's own whitespace around its reasoning and tool-call
/// frame, and re-tokenizing its text need not give back the token ids it sampled. A turn not remembered is rendered
/// from its fields as usual. A turn is keyed within its prefix-cache scope (<see cref="GenerationPlanner.CacheScopeOf"/>:
/// the tenant and the request's cache_salt), so a request of another scope never gets its exact tokens.
/// </summary>
internal static class OutputMemoryKeys
{
    /// <summary>The key of an assistant message as a client sends it back, in a prefix-cache scope (null: the shared one).</summary>
    public static string Of(ChatMessage m, string? scope = null) => Key(scope, m.Reasoning, m.Content,
        m.ToolCalls?.Select(c => (c.Name, c.Arguments.ValueKind == System.Text.Json.JsonValueKind.String ? c.Arguments.GetString() ?? "" : c.Arguments.GetRawText())));

    /// <summary>The key of a parsed output as the server returned it, in a prefix-cache scope (null: the shared one).</summary>
    public static string Of(ParsedAssistantOutput o, string? scope = null) => Key(scope, o.Reasoning, o.Content, o.ToolCalls.Select(c => (c.Name, c.Arguments)));

    private static string Key(string? scope, string? reasoning, string? content, IEnumerable<(string Name, string Arguments)>? calls)
    {
        var sb = new StringBuilder();
        if (scope is not null)
        {
            sb.Append(scope).Append('\u0001');
        }

        sb.Append(reasoning ?? "").Append('\0').Append(content ?? "");
        foreach (var (name, args) in calls ?? [])
        {
            sb.Append('\0').Append(name).Append('\0').Append(args);
        }

        return Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }
}
