using System.Text.Json.Serialization;
using YoutuServer.Api.Common;

namespace YoutuServer.Api.Completions;

/// <summary>Source-generated serializers of the legacy completions wire types.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, MaxDepth = 64)]
[JsonSerializable(typeof(CompletionRequest))]
[JsonSerializable(typeof(CompletionResponse))]
internal sealed partial class CompletionsJsonContext : JsonSerializerContext
{
    /// <summary>The generated metadata with the wire's options (<see cref="Common.WireJson"/>).</summary>
    public static CompletionsJsonContext Wire { get; } = new(WireJson.Options());
}
