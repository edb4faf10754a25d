namespace YoutuServer.Chat.Parsing;

/// <summary>How a thinking block in the model output is reported.</summary>
public enum ReasoningFormat
{
    /// <summary><c>&lt;think&gt;…&lt;/think&gt;</c> is split out into reasoning; the tags never reach content.</summary>
    Parsed,

    /// <summary>
    /// The text outside tool calls is content verbatim, think tags and whitespace included; nothing is reasoning.
    /// The think block is still tracked so that a <c>&lt;tool_call&gt;</c> written inside it is not a call.
    /// </summary>
    Raw,
}
