using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace YoutuServer.Api.Common;

/// <summary>
/// The options every wire format's serializer context reads and writes with: nulls omitted, depth 64, and non-ASCII
/// text and quotes written as themselves (UTF-8, \" ) rather than \uXXXX escapes, as OpenAI's and Anthropic's own
/// responses are. Control characters are still escaped.
/// </summary>
internal static class WireJson
{
    public static JsonSerializerOptions Options() => new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        MaxDepth = 64,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>A JSON result written with a serializer context's metadata.</summary>
    public static IResult Result<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        => Results.Text(JsonSerializer.Serialize(value, type), "application/json");
}
