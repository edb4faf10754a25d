using System.Text.Json;
using System.Text.Json.Serialization;
using YoutuServer.Generation;

namespace YoutuServer.Api.Common;

// Wire types the OpenAI-family formats share (chat completions, completions, the simple /chat, Responses' errors).
// Every property names its wire field explicitly: host JSON options must never rename them.

/// <summary>The fields OpenAI's chat and legacy completions requests share: model, counts, stops and sampling.</summary>
internal abstract class OpenAIGenerationRequest
{
    [JsonPropertyName("model")] public string? Model { get; set; }
    [JsonPropertyName("max_tokens")] public int? MaxTokens { get; set; }
    [JsonPropertyName("temperature")] public double? Temperature { get; set; }
    [JsonPropertyName("top_p")] public double? TopP { get; set; }
    [JsonPropertyName("top_k")] public int? TopK { get; set; }
    [JsonPropertyName("min_p")] public double? MinP { get; set; }
    [JsonPropertyName("presence_penalty")] public double? PresencePenalty { get; set; }
    [JsonPropertyName("frequency_penalty")] public double? FrequencyPenalty { get; set; }
    [JsonPropertyName("repetition_penalty")] public double? RepetitionPenalty { get; set; }
    [JsonPropertyName("seed")] public long? Seed { get; set; }
    [JsonPropertyName("stop")] public JsonElement? Stop { get; set; }
    [JsonPropertyName("logit_bias")] public Dictionary<string, double>? LogitBias { get; set; }
    [JsonPropertyName("n")] public int? N { get; set; }
    [JsonPropertyName("user")] public string? User { get; set; }
    [JsonPropertyName("stream")] public bool? Stream { get; set; }
    [JsonPropertyName("stream_options")] public StreamOptions? StreamOptions { get; set; }
    [JsonPropertyName("ignore_eos")] public bool? IgnoreEos { get; set; }
    [JsonPropertyName("min_tokens")] public int? MinTokens { get; set; }
    /// <summary>vLLM's prefix-cache salt: prefixes are reused only between requests with the same salt.</summary>
    [JsonPropertyName("cache_salt")] public string? CacheSalt { get; set; }
    /// <summary>OpenAI's conversation id for prompt caching: a hint to keep that conversation's prefix cached.</summary>
    [JsonPropertyName("prompt_cache_key")] public string? PromptCacheKey { get; set; }

    /// <summary>The sampling fields as the neutral intent's.</summary>
    public Generation.SamplingIntent Sampling() => new()
    {
        Temperature = Temperature,
        TopP = TopP,
        TopK = TopK,
        MinP = MinP,
        PresencePenalty = PresencePenalty,
        FrequencyPenalty = FrequencyPenalty,
        RepetitionPenalty = RepetitionPenalty,
        Seed = Seed,
        LogitBias = LogitBias,
    };
}

internal sealed class StreamOptions
{
    [JsonPropertyName("include_usage")] public bool? IncludeUsage { get; set; }
}

internal sealed class UsageDto
{
    [JsonPropertyName("prompt_tokens")] public int PromptTokens { get; set; }
    [JsonPropertyName("completion_tokens")] public int CompletionTokens { get; set; }
    [JsonPropertyName("total_tokens")] public int TotalTokens { get; set; }
    [JsonPropertyName("prompt_tokens_details")] public PromptTokensDetails? PromptTokensDetails { get; set; }
    [JsonPropertyName("completion_tokens_details")] public CompletionTokensDetails? CompletionTokensDetails { get; set; }
}

/// <summary>
/// Where the request's time went on the server, under llama-server's names (cache_n, prompt_n, prompt_ms,
/// predicted_n, predicted_ms) plus queue_ms, and restored_n / restore_ms: of cache_n, the tokens restored from a saved
/// state (host RAM or disk) and the time that took (part of queue_ms). Sent with usage: the non-streaming body, or the
/// usage chunk.
/// </summary>
internal sealed class TimingsDto
{
    [JsonPropertyName("queue_ms")] public double QueueMs { get; set; }
    [JsonPropertyName("cache_n")] public int CacheN { get; set; }
    [JsonPropertyName("prompt_n")] public int PromptN { get; set; }
    [JsonPropertyName("prompt_ms")] public double PromptMs { get; set; }
    [JsonPropertyName("predicted_n")] public int PredictedN { get; set; }
    [JsonPropertyName("predicted_ms")] public double PredictedMs { get; set; }
    [JsonPropertyName("restored_n")] public int RestoredN { get; set; }
    [JsonPropertyName("restore_ms")] public double RestoreMs { get; set; }

    public static TimingsDto? From(UsageRecord usage) => usage?.Engine is not { } u ? null : new TimingsDto
    {
        QueueMs = Math.Round(u.QueueMs, 3),
        CacheN = u.CachedTokens,
        PromptN = u.PromptTokens - u.CachedTokens,
        PromptMs = Math.Round(u.PromptEvalMs, 3),
        PredictedN = usage.CompletionTokens,
        PredictedMs = Math.Round(Math.Max(0, u.TotalMs - u.QueueMs - u.PromptEvalMs), 3),
        RestoredN = u.RestoredTokens,
        RestoreMs = Math.Round(u.RestoreMs, 3),
    };
}

internal sealed class PromptTokensDetails
{
    [JsonPropertyName("cached_tokens")] public int CachedTokens { get; set; }
}

internal sealed class CompletionTokensDetails
{
    [JsonPropertyName("reasoning_tokens")] public int ReasoningTokens { get; set; }
}

internal sealed class ErrorResponse
{
    [JsonPropertyName("error")] public ErrorBody Error { get; set; } = new();
}

internal sealed class ErrorBody
{
    [JsonPropertyName("message")] public string Message { get; set; } = "";
    [JsonPropertyName("type")] public string Type { get; set; } = "invalid_request_error";
    [JsonPropertyName("param"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? Param { get; set; }
    [JsonPropertyName("code"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? Code { get; set; }
}
