using System.Text.Json;
using YoutuServer.Generation;
using YoutuServer.Http;

namespace YoutuServer.Api.Common;

/// <summary>The part of OpenAI's <c>tool_choice</c> that Chat Completions and Responses share: absent or a mode string.</summary>
internal static class OpenAIToolChoice
{
    /// <summary>Absent: the default; "auto" | "none" | "required": that mode; an object: null (each API reads its own object shape).</summary>
    public static ToolChoice? Common(JsonElement? choice)
    {
        if (choice is not { } c || c.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return ToolChoice.Default;
        }

        if (c.ValueKind != JsonValueKind.String)
        {
            return null;
        }

        return c.GetString() switch
        {
            "auto" => ToolChoice.Auto,
            "none" => ToolChoice.None,
            "required" => ToolChoice.Required,
            var other => throw ApiException.BadRequest($"Invalid tool_choice '{other}': expected none, auto, required or a function object.", "tool_choice"),
        };
    }
}
