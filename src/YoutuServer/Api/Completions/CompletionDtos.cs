using System.Text.Json;
using System.Text.Json.Serialization;
using YoutuServer.Api.Common;

namespace YoutuServer.Api.Completions;

// Legacy completions wire types.

/// <summary>Legacy /v1/completions.</summary>
internal sealed class CompletionRequest : OpenAIGenerationRequest
{
    [JsonPropertyName("prompt")] public JsonElement? Prompt { get; set; }
    [JsonPropertyName("logprobs")] public int? Logprobs { get; set; }
    [JsonPropertyName("echo")] public bool? Echo { get; set; }
}

/// <summary>Legacy text completion.</summary>
internal sealed class CompletionResponse
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("object")] public string Object { get; set; } = "text_completion";
    [JsonPropertyName("created")] public long Created { get; set; }
    [JsonPropertyName("model")] public string Model { get; set; } = "";
    [JsonPropertyName("system_fingerprint")] public string? SystemFingerprint { get; set; }
    [JsonPropertyName("choices")] public List<CompletionChoice> Choices { get; set; } = [];
    [JsonPropertyName("usage")] public UsageDto? Usage { get; set; }
    [JsonPropertyName("timings")] public TimingsDto? Timings { get; set; }
}

internal sealed class CompletionChoice
{
    [JsonPropertyName("index")] public int Index { get; set; }
    [JsonPropertyName("text")] public string Text { get; set; } = "";
    [JsonPropertyName("logprobs"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public object? Logprobs { get; set; }
    [JsonPropertyName("finish_reason"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? FinishReason { get; set; }
}
