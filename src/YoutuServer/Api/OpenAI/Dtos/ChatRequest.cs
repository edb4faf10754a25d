using System.Text.Json;
using System.Text.Json.Serialization;

namespace YoutuServer.Api.OpenAI.Dtos;

// OpenAI wire types. Every property names its wire field explicitly: host JSON options must never rename them
// (research/dotnet.md §2.5). Polymorphic fields (content, stop, tool_choice, prompt) stay JsonElement and are
// checked by RequestValidator, so a wrong shape becomes a 400 that names the field.

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

internal sealed class ChatCompletionRequest : OpenAIGenerationRequest
{
    [JsonPropertyName("messages")] public List<ChatMessageDto>? Messages { get; set; }
    [JsonPropertyName("max_completion_tokens")] public int? MaxCompletionTokens { get; set; }
    [JsonPropertyName("logprobs")] public bool? Logprobs { get; set; }
    [JsonPropertyName("top_logprobs")] public int? TopLogprobs { get; set; }
    [JsonPropertyName("tools")] public List<JsonElement>? Tools { get; set; }
    [JsonPropertyName("tool_choice")] public JsonElement? ToolChoice { get; set; }
    [JsonPropertyName("parallel_tool_calls")] public bool? ParallelToolCalls { get; set; }
    [JsonPropertyName("response_format")] public JsonElement? ResponseFormat { get; set; }
    [JsonPropertyName("chat_template_kwargs")] public Dictionary<string, JsonElement>? ChatTemplateKwargs { get; set; }
    [JsonPropertyName("enable_thinking")] public bool? EnableThinking { get; set; }
    [JsonPropertyName("reasoning_effort")] public string? ReasoningEffort { get; set; }
    [JsonPropertyName("reasoning_budget")] public int? ReasoningBudget { get; set; }
}

internal sealed class StreamOptions
{
    [JsonPropertyName("include_usage")] public bool? IncludeUsage { get; set; }
}

internal sealed class ChatMessageDto
{
    [JsonPropertyName("role")] public string? Role { get; set; }
    [JsonPropertyName("content")] public JsonElement? Content { get; set; }
    [JsonPropertyName("name")] public string? Name { get; set; }
    [JsonPropertyName("tool_calls")] public List<ToolCallDto>? ToolCalls { get; set; }
    [JsonPropertyName("tool_call_id")] public string? ToolCallId { get; set; }
    [JsonPropertyName("reasoning_content")] public string? ReasoningContent { get; set; }
    [JsonPropertyName("reasoning")] public string? Reasoning { get; set; }
}

internal sealed class ToolCallDto
{
    [JsonPropertyName("id")] public string? Id { get; set; }
    [JsonPropertyName("type")] public string? Type { get; set; }
    [JsonPropertyName("function")] public FunctionCallDto? Function { get; set; }
}

internal sealed class FunctionCallDto
{
    [JsonPropertyName("name")] public string? Name { get; set; }
    [JsonPropertyName("arguments")] public JsonElement? Arguments { get; set; }
}

/// <summary>Legacy /v1/completions.</summary>
internal sealed class CompletionRequest : OpenAIGenerationRequest
{
    [JsonPropertyName("prompt")] public JsonElement? Prompt { get; set; }
    [JsonPropertyName("logprobs")] public int? Logprobs { get; set; }
    [JsonPropertyName("echo")] public bool? Echo { get; set; }
}

internal sealed class TokenizeRequest
{
    [JsonPropertyName("model")] public string? Model { get; set; }
    [JsonPropertyName("content")] public string? Content { get; set; }
    [JsonPropertyName("prompt")] public string? Prompt { get; set; }
    [JsonPropertyName("add_special")] public bool? AddSpecial { get; set; }
    [JsonPropertyName("with_pieces")] public bool? WithPieces { get; set; }
}

internal sealed class DetokenizeRequest
{
    [JsonPropertyName("model")] public string? Model { get; set; }
    [JsonPropertyName("tokens")] public List<int>? Tokens { get; set; }
}
