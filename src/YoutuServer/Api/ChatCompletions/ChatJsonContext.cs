using System.Text.Json.Serialization;
using YoutuServer.Api.Common;

namespace YoutuServer.Api.ChatCompletions;

/// <summary>Source-generated serializers of the Chat Completions wire types.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, MaxDepth = 64)]
[JsonSerializable(typeof(ChatCompletionRequest))]
[JsonSerializable(typeof(ChatCompletionResponse))]
[JsonSerializable(typeof(ChatCompletionChunk))]
[JsonSerializable(typeof(ApplyTemplateResponse))]
internal sealed partial class ChatJsonContext : JsonSerializerContext
{
    /// <summary>The generated metadata with the wire's options (<see cref="Common.WireJson"/>).</summary>
    public static ChatJsonContext Wire { get; } = new(WireJson.Options());
}
