namespace YoutuServer.Chat.Parsing;

/// <summary>One extracted tool call. <see cref="Arguments"/> is JSON text, the OpenAI <c>function.arguments</c> string.</summary>
public sealed record ParsedToolCall(int Index, string Id, string Name, string Arguments);

/// <summary>The whole assistant turn after parsing: what a non-streaming response reports.</summary>
public sealed class ParsedAssistantOutput
{
    /// <summary>Creates the output.</summary>
    public ParsedAssistantOutput(string? content, string? reasoning, IReadOnlyList<ParsedToolCall> toolCalls)
    {
        Content = content;
        Reasoning = reasoning;
        ToolCalls = toolCalls;
    }

    /// <summary>The answer text; null when there is none.</summary>
    public string? Content { get; }

    /// <summary>The reasoning text; null when there is none.</summary>
    public string? Reasoning { get; }

    /// <summary>The tool calls in index order; empty when there are none.</summary>
    public IReadOnlyList<ParsedToolCall> ToolCalls { get; }

    /// <inheritdoc />
    public override string ToString() =>
        $"Content={Content ?? "<null>"}; Reasoning={Reasoning ?? "<null>"}; ToolCalls=[{string.Join(", ", ToolCalls)}]";
}
