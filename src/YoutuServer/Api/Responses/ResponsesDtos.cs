using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace YoutuServer.Api.Responses;

/// <summary>
/// POST /v1/responses. Polymorphic fields (input, tools, tool_choice, text.format) stay JSON and are checked by
/// <see cref="ResponsesRequestMapper"/>, each bad one a 400 naming it; unknown fields are ignored (agents send many).
/// </summary>
internal sealed class ResponsesRequest
{
    [JsonPropertyName("model")] public string? Model { get; set; }
    [JsonPropertyName("input")] public JsonElement? Input { get; set; }
    [JsonPropertyName("instructions")] public string? Instructions { get; set; }
    [JsonPropertyName("previous_response_id")] public string? PreviousResponseId { get; set; }
    [JsonPropertyName("max_output_tokens")] public int? MaxOutputTokens { get; set; }
    [JsonPropertyName("temperature")] public double? Temperature { get; set; }
    [JsonPropertyName("top_p")] public double? TopP { get; set; }
    [JsonPropertyName("tools")] public List<JsonElement>? Tools { get; set; }
    [JsonPropertyName("tool_choice")] public JsonElement? ToolChoice { get; set; }
    [JsonPropertyName("parallel_tool_calls")] public bool? ParallelToolCalls { get; set; }
    [JsonPropertyName("text")] public ResponseTextParam? Text { get; set; }
    [JsonPropertyName("reasoning")] public ResponseReasoningParam? Reasoning { get; set; }
    [JsonPropertyName("stream")] public bool? Stream { get; set; }
    [JsonPropertyName("store")] public bool? Store { get; set; }
    [JsonPropertyName("include")] public List<string>? Include { get; set; }
    [JsonPropertyName("metadata")] public Dictionary<string, string>? Metadata { get; set; }
    [JsonPropertyName("user")] public string? User { get; set; }
    [JsonPropertyName("truncation")] public string? Truncation { get; set; }
    [JsonPropertyName("prompt_cache_key")] public string? PromptCacheKey { get; set; }
    /// <summary>vLLM's prefix-cache salt (an extension): prefixes are reused only between requests with the same salt.</summary>
    [JsonPropertyName("cache_salt")] public string? CacheSalt { get; set; }
    [JsonPropertyName("background")] public bool? Background { get; set; }
    [JsonPropertyName("top_logprobs")] public int? TopLogprobs { get; set; }
    [JsonPropertyName("max_tool_calls")] public int? MaxToolCalls { get; set; }
    [JsonPropertyName("service_tier")] public string? ServiceTier { get; set; }
    [JsonPropertyName("safety_identifier")] public string? SafetyIdentifier { get; set; }

    // The sampling extensions the chat route takes.
    [JsonPropertyName("seed")] public long? Seed { get; set; }
    [JsonPropertyName("top_k")] public int? TopK { get; set; }
    [JsonPropertyName("min_p")] public double? MinP { get; set; }
    [JsonPropertyName("presence_penalty")] public double? PresencePenalty { get; set; }
    [JsonPropertyName("frequency_penalty")] public double? FrequencyPenalty { get; set; }
    [JsonPropertyName("repetition_penalty")] public double? RepetitionPenalty { get; set; }
    [JsonPropertyName("logit_bias")] public Dictionary<string, double>? LogitBias { get; set; }
    [JsonPropertyName("stop")] public JsonElement? Stop { get; set; }
    [JsonPropertyName("ignore_eos")] public bool? IgnoreEos { get; set; }
    [JsonPropertyName("min_tokens")] public int? MinTokens { get; set; }
    [JsonPropertyName("enable_thinking")] public bool? EnableThinking { get; set; }
    [JsonPropertyName("reasoning_budget")] public int? ReasoningBudget { get; set; }
}

internal sealed class ResponseTextParam
{
    [JsonPropertyName("format")] public JsonElement? Format { get; set; }
    [JsonPropertyName("verbosity")] public string? Verbosity { get; set; }
}

internal sealed class ResponseReasoningParam
{
    [JsonPropertyName("effort")] public string? Effort { get; set; }
    [JsonPropertyName("summary")] public string? Summary { get; set; }
    [JsonPropertyName("generate_summary")] public string? GenerateSummary { get; set; }
}

/// <summary>The response object (<c>"object": "response"</c>), as returned, streamed in events and stored.</summary>
internal sealed class ResponseObject
{
    [JsonPropertyName("id")] public required string Id { get; set; }
    [JsonPropertyName("object")] public string Object { get; set; } = "response";
    [JsonPropertyName("created_at")] public long CreatedAt { get; set; }
    /// <summary>When the response completed (Unix seconds); null until then and for failed or incomplete ones.</summary>
    [JsonPropertyName("completed_at"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public long? CompletedAt { get; set; }
    [JsonPropertyName("status")] public string Status { get; set; } = "in_progress";
    [JsonPropertyName("background")] public bool Background { get; set; }
    [JsonPropertyName("error"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public ResponseErrorDto? Error { get; set; }
    [JsonPropertyName("incomplete_details"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public IncompleteDetails? IncompleteDetails { get; set; }
    [JsonPropertyName("instructions"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? Instructions { get; set; }
    [JsonPropertyName("max_output_tokens"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public int? MaxOutputTokens { get; set; }
    [JsonPropertyName("model")] public required string Model { get; set; }
    [JsonPropertyName("output")] public List<ResponseItem> Output { get; set; } = [];
    [JsonPropertyName("parallel_tool_calls")] public bool ParallelToolCalls { get; set; } = true;
    [JsonPropertyName("previous_response_id"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? PreviousResponseId { get; set; }
    [JsonPropertyName("prompt_cache_key"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? PromptCacheKey { get; set; }
    [JsonPropertyName("reasoning")] public ReasoningEcho Reasoning { get; set; } = new();
    [JsonPropertyName("store")] public bool Store { get; set; } = true;
    [JsonPropertyName("temperature"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public double? Temperature { get; set; }
    [JsonPropertyName("text")] public TextEcho Text { get; set; } = new();
    [JsonPropertyName("tool_choice")] public JsonElement ToolChoice { get; set; }
    [JsonPropertyName("tools")] public List<JsonElement> Tools { get; set; } = [];
    [JsonPropertyName("top_p"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public double? TopP { get; set; }
    [JsonPropertyName("presence_penalty")] public double PresencePenalty { get; set; }
    [JsonPropertyName("frequency_penalty")] public double FrequencyPenalty { get; set; }
    [JsonPropertyName("top_logprobs")] public int TopLogprobs { get; set; }
    [JsonPropertyName("max_tool_calls"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public int? MaxToolCalls { get; set; }
    /// <summary>The tier that served the response: this server has one, <c>default</c>.</summary>
    [JsonPropertyName("service_tier")] public string ServiceTier { get; set; } = "default";
    [JsonPropertyName("safety_identifier"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? SafetyIdentifier { get; set; }
    [JsonPropertyName("truncation")] public string Truncation { get; set; } = "disabled";
    [JsonPropertyName("usage"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public ResponseUsage? Usage { get; set; }
    [JsonPropertyName("user"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? User { get; set; }
    [JsonPropertyName("metadata")] public Dictionary<string, string> Metadata { get; set; } = [];
}

internal sealed class ResponseErrorDto
{
    [JsonPropertyName("code")] public required string Code { get; set; }
    [JsonPropertyName("message")] public required string Message { get; set; }
}

internal sealed class IncompleteDetails
{
    [JsonPropertyName("reason")] public required string Reason { get; set; }
}

internal sealed class ReasoningEcho
{
    [JsonPropertyName("effort"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? Effort { get; set; }
    [JsonPropertyName("summary"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? Summary { get; set; }
}

internal sealed class TextEcho
{
    /// <summary>The format as the client sent it, or <c>{"type":"text"}</c>.</summary>
    [JsonPropertyName("format")] public JsonElement Format { get; set; }
    [JsonPropertyName("verbosity")] public string? Verbosity { get; set; }
}

internal sealed class ResponseUsage
{
    [JsonPropertyName("input_tokens")] public int InputTokens { get; set; }
    [JsonPropertyName("input_tokens_details")] public InputTokensDetails InputTokensDetails { get; set; } = new();
    [JsonPropertyName("output_tokens")] public int OutputTokens { get; set; }
    [JsonPropertyName("output_tokens_details")] public OutputTokensDetails OutputTokensDetails { get; set; } = new();
    [JsonPropertyName("total_tokens")] public int TotalTokens { get; set; }
}

internal sealed class InputTokensDetails
{
    [JsonPropertyName("cached_tokens")] public int CachedTokens { get; set; }
}

internal sealed class OutputTokensDetails
{
    [JsonPropertyName("reasoning_tokens")] public int ReasoningTokens { get; set; }
}

/// <summary>
/// One item of <c>output</c> (or of a stored input): a message, a reasoning item, a function call or a function
/// call's output. One class for all kinds; fields a kind lacks stay null and are not written.
/// </summary>
internal sealed class ResponseItem
{
    [JsonPropertyName("id")] public string? Id { get; set; }
    [JsonPropertyName("type")] public required string Type { get; set; }
    [JsonPropertyName("status")] public string? Status { get; set; }
    [JsonPropertyName("role")] public string? Role { get; set; }
    [JsonPropertyName("summary")] public List<ContentPart>? Summary { get; set; }
    [JsonPropertyName("content")] public List<ContentPart>? Content { get; set; }
    [JsonPropertyName("encrypted_content")] public string? EncryptedContent { get; set; }
    [JsonPropertyName("call_id")] public string? CallId { get; set; }
    [JsonPropertyName("namespace")] public string? Namespace { get; set; }
    [JsonPropertyName("name")] public string? Name { get; set; }
    [JsonPropertyName("arguments")] public string? Arguments { get; set; }
    [JsonPropertyName("output")] public string? Output { get; set; }
    /// <summary>A custom tool call's free-form input.</summary>
    [JsonPropertyName("input")] public string? Input { get; set; }
    /// <summary>A shell_call's or local_shell_call's action.</summary>
    [JsonPropertyName("action")] public JsonElement? Action { get; set; }
    /// <summary>An apply_patch_call's file operation.</summary>
    [JsonPropertyName("operation")] public JsonElement? Operation { get; set; }
}

/// <summary>A content part: output_text (with annotations), input_text, reasoning_text, summary_text.</summary>
internal sealed class ContentPart
{
    [JsonPropertyName("type")] public required string Type { get; set; }
    [JsonPropertyName("text")] public string Text { get; set; } = "";
    [JsonPropertyName("annotations")] public List<JsonElement>? Annotations { get; set; }
    [JsonPropertyName("logprobs")] public List<JsonElement>? Logprobs { get; set; }

    public static ContentPart OutputText(string text) => new() { Type = "output_text", Text = text, Annotations = [], Logprobs = [] };
}

/// <summary>
/// One streaming event: <c>type</c> and <c>sequence_number</c>, plus the fields of its kind (the rest stay null and
/// are not written).
/// </summary>
internal sealed class ResponseStreamEvent
{
    [JsonPropertyName("type")] public required string Type { get; set; }
    [JsonPropertyName("sequence_number")] public int SequenceNumber { get; set; }
    [JsonPropertyName("response")] public ResponseObject? Response { get; set; }
    [JsonPropertyName("output_index")] public int? OutputIndex { get; set; }
    [JsonPropertyName("item_id")] public string? ItemId { get; set; }
    [JsonPropertyName("content_index")] public int? ContentIndex { get; set; }
    [JsonPropertyName("summary_index")] public int? SummaryIndex { get; set; }
    [JsonPropertyName("item")] public ResponseItem? Item { get; set; }
    [JsonPropertyName("part")] public ContentPart? Part { get; set; }
    [JsonPropertyName("delta")] public string? Delta { get; set; }
    [JsonPropertyName("text")] public string? Text { get; set; }
    [JsonPropertyName("arguments")] public string? Arguments { get; set; }
    [JsonPropertyName("input")] public string? Input { get; set; }
    [JsonPropertyName("name")] public string? Name { get; set; }
    [JsonPropertyName("logprobs")] public List<JsonElement>? Logprobs { get; set; }
    [JsonPropertyName("code")] public string? Code { get; set; }
    [JsonPropertyName("message")] public string? Message { get; set; }
    [JsonPropertyName("param")] public string? Param { get; set; }
}

internal sealed class ResponseDeleted
{
    [JsonPropertyName("id")] public required string Id { get; set; }
    [JsonPropertyName("object")] public string Object { get; set; } = "response";
    [JsonPropertyName("deleted")] public bool Deleted { get; set; } = true;
}

/// <summary>Source-generated serializers of the Responses wire types, with the relaxed escaping of the other routes.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, MaxDepth = 64)]
[JsonSerializable(typeof(ResponsesRequest))]
[JsonSerializable(typeof(ResponseObject))]
[JsonSerializable(typeof(ResponseItem))]
[JsonSerializable(typeof(ResponseStreamEvent))]
[JsonSerializable(typeof(ResponseDeleted))]
[JsonSerializable(typeof(System.Text.Json.Nodes.JsonNode))]
internal sealed partial class ResponsesJsonContext : JsonSerializerContext
{
    public static ResponsesJsonContext Wire { get; } = new(new JsonSerializerOptions
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        MaxDepth = 64,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
