namespace YoutuServer.Chat.Parsing;

/// <summary>Per-request settings of <see cref="AssistantOutputParser"/>.</summary>
public sealed record OutputParserOptions
{
    /// <summary>Thinking on, reasoning parsed, no tool calls: the parser's behaviour for a plain request with no tools.</summary>
    public static OutputParserOptions Default { get; } = new();

    /// <summary>
    /// When false (the prompt pre-filled an empty think block) nothing is parsed as reasoning: think tags are plain content,
    /// and <see cref="StartsInReasoning"/> and <see cref="ReasoningFormat"/> have no effect.
    /// </summary>
    public bool ThinkingEnabled { get; init; } = true;

    /// <summary>The prompt already ends with an opened <c>&lt;think&gt;\n</c> (forced thinking), so the output begins inside reasoning.</summary>
    public bool StartsInReasoning { get; init; }

    /// <summary>Split reasoning out (<see cref="ReasoningFormat.Parsed"/>) or keep the text verbatim (<see cref="ReasoningFormat.Raw"/>).</summary>
    public ReasoningFormat ReasoningFormat { get; init; }

    /// <summary>Extract Hermes <c>&lt;tool_call&gt;</c> blocks. Set only when the request has tools and tool_choice is not "none".</summary>
    public bool ParseToolCalls { get; init; }

    /// <summary>
    /// The most tool calls reported; null means unlimited, 1 means parallel_tool_calls=false.
    /// Every <c>&lt;tool_call&gt;</c> block past the limit is discarded whole, well-formed or not.
    /// </summary>
    public int? MaxToolCalls { get; init; }

    /// <summary>Makes tool-call ids; null uses <see cref="AssistantOutputParser.NewToolCallId"/>. Tests inject a deterministic one.</summary>
    public Func<string>? ToolCallIdGenerator { get; init; }
}
