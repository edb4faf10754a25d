using System.Diagnostics.CodeAnalysis;

namespace YoutuServer.Chat.Messages;

/// <summary>
/// One conversation message, already flattened from the OpenAI wire format (multi-part content joined into text).
/// </summary>
public sealed record ChatMessage
{
    public ChatMessage()
    {
    }

    [SetsRequiredMembers]
    public ChatMessage(string role, string? content)
    {
        Role = role;
        Content = content;
    }

    /// <summary>system, developer, user, assistant or tool. Other roles render nothing (as in the Jinja template).</summary>
    public required string Role { get; init; }

    /// <summary>The text. Null is valid only for assistant messages (rendered as an empty string).</summary>
    public string? Content { get; init; }

    /// <summary>Assistant tool calls; null means the message has none.</summary>
    public IReadOnlyList<ChatToolCall>? ToolCalls { get; init; }

    /// <summary>For tool messages: the call this result answers. Not rendered by the Youtu template (results match calls by position).</summary>
    public string? ToolCallId { get; init; }

    /// <summary>Optional participant or function name. Not rendered by the Youtu template.</summary>
    public string? Name { get; init; }
}
