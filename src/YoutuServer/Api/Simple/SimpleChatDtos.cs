using System.Text.Json.Serialization;

namespace YoutuServer.Api.Simple;

/// <summary>POST /chat request body.</summary>
internal sealed class SimpleChatRequest
{
    /// <summary>The user's message (required, not empty).</summary>
    [JsonPropertyName("prompt")] public string? Prompt { get; set; }
    /// <summary>Most tokens to generate (>= 1); the server's default when omitted.</summary>
    [JsonPropertyName("max_tokens")] public int? MaxTokens { get; set; }
    /// <summary>Youtu's thinking mode; the server's default when omitted.</summary>
    [JsonPropertyName("enable_thinking")] public bool? EnableThinking { get; set; }
}

/// <summary>POST /chat response body.</summary>
internal sealed class SimpleChatResponse
{
    /// <summary>The answer (without the reasoning).</summary>
    [JsonPropertyName("response")] public string Response { get; set; } = "";
    /// <summary>The model's reasoning in thinking mode; absent otherwise.</summary>
    [JsonPropertyName("reasoning")] public string? Reasoning { get; set; }
    /// <summary>"stop" (the model finished) or "length" (max_tokens reached).</summary>
    [JsonPropertyName("finish_reason")] public string? FinishReason { get; set; }
    [JsonPropertyName("usage")] public SimpleChatUsage Usage { get; set; } = new();
}

/// <summary>Token counts of one /chat call.</summary>
internal sealed class SimpleChatUsage
{
    [JsonPropertyName("prompt_tokens")] public int PromptTokens { get; set; }
    [JsonPropertyName("completion_tokens")] public int CompletionTokens { get; set; }
    [JsonPropertyName("total_tokens")] public int TotalTokens { get; set; }
}

/// <summary>Source-generated serializers for the /chat wire types.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, MaxDepth = 64)]
[JsonSerializable(typeof(SimpleChatRequest))]
[JsonSerializable(typeof(SimpleChatResponse))]
internal sealed partial class SimpleJsonContext : JsonSerializerContext;
