using System.Text.Json;
using System.Text.Json.Serialization;
using YoutuServer.Api.Common;
using YoutuServer.Chat.Messages;
using YoutuServer.Generation;

namespace YoutuServer.Api.Responses;

/// <summary>
/// What a stored response keeps for a request that continues it (previous_response_id), as the store's opaque
/// continuation bytes: the whole conversation up to and including its output (without the instructions), and the text
/// its prompt and output rendered to with the exact tokens evaluated and generated.
/// </summary>
internal sealed record ResponsesContinuation
{
    public const int Version = 1;

    [JsonPropertyName("v")]
    public int V { get; init; } = Version;

    [JsonPropertyName("conversation")]
    public IReadOnlyList<ChatMessage> Conversation { get; init; } = [];

    [JsonPropertyName("prefix_text")]
    public string? PrefixText { get; init; }

    [JsonPropertyName("prefix_tokens")]
    public IReadOnlyList<int>? PrefixTokens { get; init; }

    public PromptPrefix? Prefix => PrefixText is { } t && PrefixTokens is { } ids ? new PromptPrefix(t, ids) : null;

    public byte[] ToBytes() => JsonSerializer.SerializeToUtf8Bytes(this, ResponsesStateJsonContext.Default.ResponsesContinuation);

    /// <summary>The continuation of stored bytes; an unreadable or other-version payload reads as none (the request then fails as not found).</summary>
    public static ResponsesContinuation? FromBytes(byte[] bytes)
    {
        if (bytes.Length == 0)
        {
            return null;
        }

        try
        {
            var c = JsonSerializer.Deserialize(bytes, ResponsesStateJsonContext.Default.ResponsesContinuation);
            return c?.V == Version ? c : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, MaxDepth = 64)]
[JsonSerializable(typeof(ResponsesContinuation))]
internal sealed partial class ResponsesStateJsonContext : JsonSerializerContext
{
}
