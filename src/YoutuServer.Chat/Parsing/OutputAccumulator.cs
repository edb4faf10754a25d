using System.Text;

namespace YoutuServer.Chat.Parsing;

/// <summary>
/// Folds <see cref="OutputEvent"/>s into a <see cref="ParsedAssistantOutput"/>: concatenates content, reasoning and each call's
/// argument fragments. Used for non-streaming responses (via <see cref="AssistantOutputParser.ParseComplete"/>) and by tests.
/// </summary>
public sealed class OutputAccumulator
{
    private readonly StringBuilder content = new();
    private readonly StringBuilder reasoning = new();
    private readonly List<CallBuilder> calls = [];

    /// <summary>The number of tool calls started so far.</summary>
    public int ToolCallCount => calls.Count;

    /// <summary>Adds one event.</summary>
    /// <exception cref="InvalidOperationException">A tool-call event is out of order (a parser bug).</exception>
    public void Add(in OutputEvent outputEvent)
    {
        switch (outputEvent.Kind)
        {
            case OutputEventKind.ContentDelta:
                content.Append(outputEvent.Text);
                break;
            case OutputEventKind.ReasoningDelta:
                reasoning.Append(outputEvent.Text);
                break;
            case OutputEventKind.ToolCallStart:
                if (outputEvent.ToolCallIndex != calls.Count)
                {
                    throw new InvalidOperationException($"Tool call {outputEvent.ToolCallIndex} started, expected {calls.Count}.");
                }

                calls.Add(new CallBuilder(outputEvent.ToolCallId ?? string.Empty, outputEvent.ToolCallName ?? string.Empty));
                break;
            case OutputEventKind.ToolCallArgumentsDelta:
                if ((uint)outputEvent.ToolCallIndex >= (uint)calls.Count)
                {
                    throw new InvalidOperationException($"Arguments for tool call {outputEvent.ToolCallIndex} before its start.");
                }

                calls[outputEvent.ToolCallIndex].Arguments.Append(outputEvent.Text);
                break;
            default:
                throw new InvalidOperationException($"Unknown event kind {outputEvent.Kind}.");
        }
    }

    /// <summary>Adds events in order.</summary>
    public void AddRange(List<OutputEvent> events)
    {
        foreach (var e in events)
        {
            Add(e);
        }
    }

    /// <summary>The output so far. Empty content or reasoning is reported as null.</summary>
    public ParsedAssistantOutput Build()
    {
        var calls = new ParsedToolCall[this.calls.Count];
        for (var i = 0; i < calls.Length; i++)
        {
            var c = this.calls[i];
            calls[i] = new ParsedToolCall(i, c.Id, c.Name, c.Arguments.ToString());
        }

        return new ParsedAssistantOutput(
            content.Length == 0 ? null : content.ToString(),
            reasoning.Length == 0 ? null : reasoning.ToString(),
            calls);
    }

    private sealed class CallBuilder(string id, string name)
    {
        public string Id { get; } = id;
        public string Name { get; } = name;
        public StringBuilder Arguments { get; } = new();
    }
}
