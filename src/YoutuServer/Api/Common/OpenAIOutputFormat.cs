using System.Text.Json;
using YoutuServer.Generation;
using YoutuServer.Http;

namespace YoutuServer.Api.Common;

/// <summary>
/// The part of OpenAI's output format that Chat Completions (<c>response_format</c>) and Responses (<c>text.format</c>)
/// share: absent means text; otherwise an object whose <c>type</c> is text, json_object or json_schema.
/// </summary>
internal static class OpenAIOutputFormat
{
    /// <summary>
    /// Maps <paramref name="format"/> (the request field <paramref name="field"/>); each API reads its own json_object
    /// and json_schema shapes with <paramref name="jsonObject"/> and <paramref name="jsonSchema"/>.
    /// </summary>
    public static OutputConstraint Map(JsonElement? format, string field, Func<JsonElement, OutputConstraint> jsonObject, Func<JsonElement, OutputConstraint> jsonSchema)
    {
        if (format is not { } f || f.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return OutputConstraint.Text;
        }

        if (f.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.BadRequest($"{field} must be an object.", field);
        }

        var type = f.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        return type switch
        {
            "text" => OutputConstraint.Text,
            "json_object" => jsonObject(f),
            "json_schema" => jsonSchema(f),
            _ => throw ApiException.BadRequest($"{field}.type must be text, json_object or json_schema; got '{type}'.", $"{field}.type"),
        };
    }
}
