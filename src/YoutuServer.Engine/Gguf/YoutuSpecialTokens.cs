namespace YoutuServer.Engine.Gguf;

/// <summary>The marker tokens Youtu-LLM's chat template emits (youtu.md §2.4), with the token type each carries.</summary>
public static class YoutuSpecialTokens
{
    public const string BeginOfText = "<|begin_of_text|>";
    public const string EndOfText = "<|end_of_text|>";
    public const string User = "<|User|>";
    public const string Assistant = "<|Assistant|>";
    public const string BeginOfToolDescription = "<|begin_of_tool_description|>";
    public const string EndOfToolDescription = "<|end_of_tool_description|>";
    public const string ThinkStart = "<think>";
    public const string ThinkEnd = "</think>";
    public const string ToolCallStart = "<tool_call>";
    public const string ToolCallEnd = "</tool_call>";
    public const string ToolResponseStart = "<tool_response>";
    public const string ToolResponseEnd = "</tool_response>";

    /// <summary>Control tokens: never produced by plain text, not rendered when detokenized.</summary>
    public static IReadOnlyList<string> Control { get; } =
        [BeginOfText, EndOfText, User, Assistant, BeginOfToolDescription, EndOfToolDescription];

    /// <summary>User-defined tokens: single tokens that render as their text (the model writes them in its output).</summary>
    public static IReadOnlyList<string> UserDefined { get; } =
        [ThinkStart, ThinkEnd, ToolCallStart, ToolCallEnd, ToolResponseStart, ToolResponseEnd];

    public static IReadOnlyList<string> All { get; } = [.. Control, .. UserDefined];
}
