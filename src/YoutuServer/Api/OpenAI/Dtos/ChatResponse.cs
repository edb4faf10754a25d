using System.Text.Json.Serialization;

namespace YoutuServer.Api.OpenAI.Dtos;

internal sealed class ChatCompletionResponse
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("object")] public string Object { get; set; } = "chat.completion";
    [JsonPropertyName("created")] public long Created { get; set; }
    [JsonPropertyName("model")] public string Model { get; set; } = "";
    [JsonPropertyName("system_fingerprint")] public string? SystemFingerprint { get; set; }
    [JsonPropertyName("choices")] public List<ChatChoice> Choices { get; set; } = [];
    [JsonPropertyName("usage")] public UsageDto? Usage { get; set; }
    [JsonPropertyName("timings")] public TimingsDto? Timings { get; set; }
}

internal sealed class ChatChoice
{
    [JsonPropertyName("index")] public int Index { get; set; }
    [JsonPropertyName("message")] public ResponseMessage Message { get; set; } = new();
    [JsonPropertyName("logprobs"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public LogprobsDto? Logprobs { get; set; }
    [JsonPropertyName("finish_reason"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? FinishReason { get; set; }
}

internal sealed class ResponseMessage
{
    [JsonPropertyName("role")] public string Role { get; set; } = "assistant";
    [JsonPropertyName("content"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? Content { get; set; }
    [JsonPropertyName("reasoning_content")] public string? ReasoningContent { get; set; }
    [JsonPropertyName("reasoning")] public string? Reasoning { get; set; }
    [JsonPropertyName("tool_calls")] public List<ToolCallOut>? ToolCalls { get; set; }
    [JsonPropertyName("refusal"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? Refusal { get; set; }
}

internal sealed class ToolCallOut
{
    [JsonPropertyName("index")] public int? Index { get; set; }
    [JsonPropertyName("id")] public string? Id { get; set; }
    [JsonPropertyName("type")] public string? Type { get; set; }
    [JsonPropertyName("function")] public FunctionOut Function { get; set; } = new();
}

internal sealed class FunctionOut
{
    [JsonPropertyName("name")] public string? Name { get; set; }
    [JsonPropertyName("arguments")] public string? Arguments { get; set; }
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

    public static TimingsDto? From(Generation.UsageRecord usage) => From(usage.Engine, usage.CompletionTokens);

    public static TimingsDto? From(Engine.Scheduling.GenerationUsage? u, int completionTokens) => u is null ? null : new TimingsDto
    {
        QueueMs = Math.Round(u.QueueMs, 3),
        CacheN = u.CachedTokens,
        PromptN = u.PromptTokens - u.CachedTokens,
        PromptMs = Math.Round(u.PromptEvalMs, 3),
        PredictedN = completionTokens,
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

internal sealed class LogprobsDto
{
    [JsonPropertyName("content")] public List<TokenLogprobDto>? Content { get; set; }
}

internal sealed class TokenLogprobDto
{
    [JsonPropertyName("token")] public string Token { get; set; } = "";
    [JsonPropertyName("logprob")] public float Logprob { get; set; }
    [JsonPropertyName("bytes")] public List<int>? Bytes { get; set; }
    [JsonPropertyName("top_logprobs")] public List<TopLogprobDto> TopLogprobs { get; set; } = [];
}

internal sealed class TopLogprobDto
{
    [JsonPropertyName("token")] public string Token { get; set; } = "";
    [JsonPropertyName("logprob")] public float Logprob { get; set; }
    [JsonPropertyName("bytes")] public List<int>? Bytes { get; set; }
}

internal sealed class ChatCompletionChunk
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("object")] public string Object { get; set; } = "chat.completion.chunk";
    [JsonPropertyName("created")] public long Created { get; set; }
    [JsonPropertyName("model")] public string Model { get; set; } = "";
    [JsonPropertyName("system_fingerprint")] public string? SystemFingerprint { get; set; }
    [JsonPropertyName("choices")] public List<ChunkChoice> Choices { get; set; } = [];
    [JsonPropertyName("usage")] public UsageDto? Usage { get; set; }
    [JsonPropertyName("timings")] public TimingsDto? Timings { get; set; }
}

internal sealed class ChunkChoice
{
    [JsonPropertyName("index")] public int Index { get; set; }
    [JsonPropertyName("delta")] public ChunkDelta Delta { get; set; } = new();
    [JsonPropertyName("logprobs"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public LogprobsDto? Logprobs { get; set; }
    [JsonPropertyName("finish_reason"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? FinishReason { get; set; }
}

internal sealed class ChunkDelta
{
    [JsonPropertyName("role")] public string? Role { get; set; }
    [JsonPropertyName("content")] public string? Content { get; set; }
    [JsonPropertyName("reasoning_content")] public string? ReasoningContent { get; set; }
    [JsonPropertyName("reasoning")] public string? Reasoning { get; set; }
    [JsonPropertyName("tool_calls")] public List<ToolCallOut>? ToolCalls { get; set; }
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

internal sealed class ModelList
{
    [JsonPropertyName("object")] public string Object { get; set; } = "list";
    [JsonPropertyName("data")] public List<ModelCard> Data { get; set; } = [];
}

internal sealed class ModelCard
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("object")] public string Object { get; set; } = "model";
    [JsonPropertyName("created")] public long Created { get; set; }
    [JsonPropertyName("owned_by")] public string OwnedBy { get; set; } = "youtu-server";
    [JsonPropertyName("context_length")] public int? ContextLength { get; set; }
    [JsonPropertyName("description")] public string? Description { get; set; }
    /// <summary>For a LoRA adapter: the base model it runs on (as vLLM lists adapters); null for the base.</summary>
    [JsonPropertyName("parent")] public string? Parent { get; set; }
    [JsonPropertyName("root")] public string? Root { get; set; }
}

internal sealed class TokenizeResponse
{
    [JsonPropertyName("tokens")] public int[] Tokens { get; set; } = [];
    [JsonPropertyName("count")] public int Count { get; set; }
    [JsonPropertyName("pieces")] public List<string>? Pieces { get; set; }
}

internal sealed class DetokenizeResponse
{
    [JsonPropertyName("content")] public string Content { get; set; } = "";
}

internal sealed class ApplyTemplateResponse
{
    [JsonPropertyName("prompt")] public string Prompt { get; set; } = "";
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
