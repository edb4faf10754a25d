using System.Text.Json;
using System.Text.Json.Serialization;
using YoutuServer.Api.Common;

namespace YoutuServer.Api.ChatCompletions;

// Chat Completions wire types. Polymorphic fields (content, stop, tool_choice) stay JsonElement and are checked by
// the mapper, so a wrong shape becomes a 400 that names the field.

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

internal sealed class ApplyTemplateResponse
{
    [JsonPropertyName("prompt")] public string Prompt { get; set; } = "";
}
