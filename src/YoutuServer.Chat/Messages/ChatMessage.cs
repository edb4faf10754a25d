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

    /// <summary>
    /// For assistant messages: the thinking the model produced for this turn, as a client sends it back
    /// (<c>reasoning_content</c>, a Responses reasoning item, an Anthropic thinking block). See <see cref="WithReasoningInContent"/>.
    /// </summary>
    public string? Reasoning { get; init; }

    /// <summary>
    /// This message with its <see cref="Reasoning"/> folded into the content exactly as the model produced it:
    /// <c>&lt;think&gt;\n</c> + reasoning + <c>\n&lt;/think&gt;\n\n</c> + content (the parser strips exactly that whitespace),
    /// so that the template decides what to keep (it keeps the thinking inside a tool loop and drops it before), and a
    /// tool loop's second prompt starts with the tokens the first turn evaluated and generated. Content that already
    /// holds a think block is left alone.
    /// </summary>
    public ChatMessage WithReasoningInContent()
    {
        if (Role != ChatRoles.Assistant || string.IsNullOrEmpty(Reasoning)
            || (Content is { } c && (c.Contains("<think>", StringComparison.Ordinal) || c.Contains("</think>", StringComparison.Ordinal))))
        {
            return this;
        }

        return this with { Content = "<think>\n" + Reasoning + "\n</think>\n\n" + (Content ?? string.Empty), Reasoning = null };
    }
}
