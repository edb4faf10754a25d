namespace YoutuServer.Chat.Parsing;

/// <summary>What an <see cref="OutputEvent"/> carries.</summary>
public enum OutputEventKind
{
    /// <summary>A piece of reasoning text (<see cref="OutputEvent.Text"/>).</summary>
    ReasoningDelta,

    /// <summary>A piece of content text (<see cref="OutputEvent.Text"/>).</summary>
    ContentDelta,

    /// <summary>A tool call begins: <see cref="OutputEvent.ToolCallIndex"/>, <see cref="OutputEvent.ToolCallId"/>, <see cref="OutputEvent.ToolCallName"/>.</summary>
    ToolCallStart,

    /// <summary>A piece of the arguments JSON string (<see cref="OutputEvent.Text"/>) of call <see cref="OutputEvent.ToolCallIndex"/>.</summary>
    ToolCallArgumentsDelta,
}

/// <summary>
/// One step of parsed assistant output. A struct so that a stream of them costs only the text strings.
/// Text events never carry an empty string and never end in the middle of a surrogate pair.
/// </summary>
public readonly record struct OutputEvent
{
    private OutputEvent(OutputEventKind kind, string text, int toolCallIndex, string? toolCallId, string? toolCallName)
    {
        Kind = kind;
        Text = text;
        ToolCallIndex = toolCallIndex;
        ToolCallId = toolCallId;
        ToolCallName = toolCallName;
    }

    /// <summary>The event kind.</summary>
    public OutputEventKind Kind { get; }

    /// <summary>The text of a reasoning, content or arguments delta; empty for <see cref="OutputEventKind.ToolCallStart"/>.</summary>
    public string Text { get; }

    /// <summary>The 0-based tool-call index for tool-call events; -1 otherwise.</summary>
    public int ToolCallIndex { get; }

    /// <summary>The tool-call id, on <see cref="OutputEventKind.ToolCallStart"/> only.</summary>
    public string? ToolCallId { get; }

    /// <summary>The function name, on <see cref="OutputEventKind.ToolCallStart"/> only.</summary>
    public string? ToolCallName { get; }

    /// <summary>A reasoning delta.</summary>
    public static OutputEvent Reasoning(string text) => new(OutputEventKind.ReasoningDelta, text, -1, null, null);

    /// <summary>A content delta.</summary>
    public static OutputEvent Content(string text) => new(OutputEventKind.ContentDelta, text, -1, null, null);

    /// <summary>The start of tool call <paramref name="index"/>.</summary>
    public static OutputEvent ToolCallStart(int index, string id, string name) =>
        new(OutputEventKind.ToolCallStart, string.Empty, index, id, name);

    /// <summary>A piece of the arguments of tool call <paramref name="index"/>.</summary>
    public static OutputEvent ToolCallArguments(int index, string text) =>
        new(OutputEventKind.ToolCallArgumentsDelta, text, index, null, null);

    /// <inheritdoc />
    public override string ToString() => Kind switch
    {
        OutputEventKind.ToolCallStart => $"ToolCallStart({ToolCallIndex}, {ToolCallId}, {ToolCallName})",
        OutputEventKind.ToolCallArgumentsDelta => $"ToolCallArgumentsDelta({ToolCallIndex}, \"{Text}\")",
        _ => $"{Kind}(\"{Text}\")",
    };
}
