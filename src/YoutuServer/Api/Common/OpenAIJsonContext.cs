using System.Text.Json.Serialization;

namespace YoutuServer.Api.Common;

/// <summary>Source-generated serializers of the OpenAI-family error body.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, MaxDepth = 64)]
[JsonSerializable(typeof(ErrorResponse))]
internal sealed partial class OpenAIJsonContext : JsonSerializerContext
{
    /// <summary>The generated metadata with the wire's options (<see cref="WireJson"/>).</summary>
    public static OpenAIJsonContext Wire { get; } = new(WireJson.Options());
}
