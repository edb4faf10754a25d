using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace YoutuServer.Api.Messages;

// Anthropic Messages API wire types. Content blocks, system, tools and the option objects stay JsonElements: the
// mapper reads them by hand so that every bad field gets a 400 naming it (messages.3.content.1.type).

/// <summary>POST /v1/messages and /v1/messages/count_tokens.</summary>
internal sealed class MessagesRequest
{
    [JsonPropertyName("model")] public string? Model { get; set; }
    [JsonPropertyName("max_tokens")] public int? MaxTokens { get; set; }
    [JsonPropertyName("messages")] public List<InputMessage?>? Messages { get; set; }
    /// <summary>A string or an array of text blocks.</summary>
    [JsonPropertyName("system")] public JsonElement? System { get; set; }
    [JsonPropertyName("stop_sequences")] public List<string?>? StopSequences { get; set; }
    [JsonPropertyName("temperature")] public double? Temperature { get; set; }
    [JsonPropertyName("top_p")] public double? TopP { get; set; }
    [JsonPropertyName("top_k")] public int? TopK { get; set; }
    [JsonPropertyName("stream")] public bool? Stream { get; set; }
    [JsonPropertyName("tools")] public List<JsonElement>? Tools { get; set; }
    [JsonPropertyName("tool_choice")] public JsonElement? ToolChoice { get; set; }
    /// <summary>{type: enabled, budget_tokens} | {type: adaptive} | {type: disabled}.</summary>
    [JsonPropertyName("thinking")] public JsonElement? Thinking { get; set; }
    /// <summary>{effort, format: {type: json_schema, schema}}.</summary>
    [JsonPropertyName("output_config")] public JsonElement? OutputConfig { get; set; }
    /// <summary>The older structured-outputs beta spelling of output_config.format.</summary>
    [JsonPropertyName("output_format")] public JsonElement? OutputFormat { get; set; }
    /// <summary>Accepted and ignored (user_id).</summary>
    [JsonPropertyName("metadata")] public JsonElement? Metadata { get; set; }
    /// <summary>Accepted; nothing is edited server-side (the client's history is rendered as sent).</summary>
    [JsonPropertyName("context_management")] public JsonElement? ContextManagement { get; set; }
    /// <summary>Remote MCP servers: not run here (skipped with a warning).</summary>
    [JsonPropertyName("mcp_servers")] public JsonElement? McpServers { get; set; }
    [JsonPropertyName("container")] public JsonElement? Container { get; set; }
    /// <summary>vLLM's prefix-cache salt (an extension): prefixes are reused only between requests with the same salt.</summary>
    [JsonPropertyName("cache_salt")] public string? CacheSalt { get; set; }
}

internal sealed class InputMessage
{
    [JsonPropertyName("role")] public string? Role { get; set; }
    /// <summary>A string or an array of content blocks.</summary>
    [JsonPropertyName("content")] public JsonElement? Content { get; set; }
}

/// <summary>The response message (also the skeleton in message_start).</summary>
internal sealed class MessageResponse
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("type")] public string Type { get; set; } = "message";
    [JsonPropertyName("role")] public string Role { get; set; } = "assistant";
    [JsonPropertyName("model")] public string Model { get; set; } = "";
    [JsonPropertyName("content")] public List<ContentBlock> Content { get; set; } = [];
    [JsonPropertyName("stop_reason"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? StopReason { get; set; }
    [JsonPropertyName("stop_sequence"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? StopSequence { get; set; }
    [JsonPropertyName("usage")] public MessageUsage Usage { get; set; } = new();
}

/// <summary>One output block: text, thinking (with its signature) or tool_use (with its input object).</summary>
internal sealed class ContentBlock
{
    [JsonPropertyName("type")] public string Type { get; set; } = "text";
    [JsonPropertyName("id")] public string? Id { get; set; }
    [JsonPropertyName("name")] public string? Name { get; set; }
    [JsonPropertyName("input")] public JsonElement? Input { get; set; }
    /// <summary>tool_use: who made the call; always the model itself here ({"type":"direct"}).</summary>
    [JsonPropertyName("caller")] public ToolCaller? Caller { get; set; }
    [JsonPropertyName("thinking")] public string? Thinking { get; set; }
    [JsonPropertyName("signature")] public string? Signature { get; set; }
    [JsonPropertyName("text")] public string? Text { get; set; }
}

internal sealed class ToolCaller
{
    public static ToolCaller Direct { get; } = new();

    [JsonPropertyName("type")] public string Type { get; set; } = "direct";
}

/// <summary>
/// Token counts. input_tokens is the part of the prompt not read from the prefix cache; cache_read_input_tokens is the
/// reused part (their sum is the whole prompt). The cache fills by itself, so cache_creation_input_tokens is 0.
/// </summary>
internal sealed class MessageUsage
{
    [JsonPropertyName("input_tokens")] public int InputTokens { get; set; }
    [JsonPropertyName("cache_creation_input_tokens")] public int CacheCreationInputTokens { get; set; }
    [JsonPropertyName("cache_read_input_tokens")] public int CacheReadInputTokens { get; set; }
    [JsonPropertyName("output_tokens")] public int OutputTokens { get; set; }
}

internal sealed class CountTokensResponse
{
    [JsonPropertyName("input_tokens")] public int InputTokens { get; set; }
}

// ------------------------------------------------------------------ stream events

internal sealed class MessageStartEvent
{
    [JsonPropertyName("type")] public string Type { get; set; } = "message_start";
    [JsonPropertyName("message")] public MessageResponse Message { get; set; } = new();
}

internal sealed class ContentBlockStartEvent
{
    [JsonPropertyName("type")] public string Type { get; set; } = "content_block_start";
    [JsonPropertyName("index")] public int Index { get; set; }
    [JsonPropertyName("content_block")] public ContentBlock ContentBlock { get; set; } = new();
}

internal sealed class ContentBlockDeltaEvent
{
    [JsonPropertyName("type")] public string Type { get; set; } = "content_block_delta";
    [JsonPropertyName("index")] public int Index { get; set; }
    [JsonPropertyName("delta")] public BlockDelta Delta { get; set; } = new();
}

/// <summary>text_delta (text), thinking_delta (thinking), signature_delta (signature), input_json_delta (partial_json).</summary>
internal sealed class BlockDelta
{
    [JsonPropertyName("type")] public string Type { get; set; } = "text_delta";
    [JsonPropertyName("text")] public string? Text { get; set; }
    [JsonPropertyName("thinking")] public string? Thinking { get; set; }
    [JsonPropertyName("signature")] public string? Signature { get; set; }
    [JsonPropertyName("partial_json")] public string? PartialJson { get; set; }
}

internal sealed class ContentBlockStopEvent
{
    [JsonPropertyName("type")] public string Type { get; set; } = "content_block_stop";
    [JsonPropertyName("index")] public int Index { get; set; }
}

internal sealed class MessageDeltaEvent
{
    [JsonPropertyName("type")] public string Type { get; set; } = "message_delta";
    [JsonPropertyName("delta")] public MessageDelta Delta { get; set; } = new();
    [JsonPropertyName("usage")] public MessageUsage Usage { get; set; } = new();
}

internal sealed class MessageDelta
{
    [JsonPropertyName("stop_reason"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? StopReason { get; set; }
    [JsonPropertyName("stop_sequence"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? StopSequence { get; set; }
}

/// <summary>message_stop and ping: a type and nothing else.</summary>
internal sealed class TypeOnlyEvent
{
    [JsonPropertyName("type")] public string Type { get; set; } = "ping";
}

/// <summary>Anthropic's error body: <c>{"type":"error","error":{"type","message"},"request_id"}</c>.</summary>
internal sealed class AnthropicErrorResponse
{
    [JsonPropertyName("type")] public string Type { get; set; } = "error";
    [JsonPropertyName("error")] public AnthropicErrorBody Error { get; set; } = new();
    [JsonPropertyName("request_id")] public string? RequestId { get; set; }
}

internal sealed class AnthropicErrorBody
{
    [JsonPropertyName("type")] public string Type { get; set; } = "api_error";
    [JsonPropertyName("message")] public string Message { get; set; } = "";
}

/// <summary>Source-generated serializers of the Anthropic wire types.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, MaxDepth = 64)]
[JsonSerializable(typeof(MessagesRequest))]
[JsonSerializable(typeof(MessageResponse))]
[JsonSerializable(typeof(CountTokensResponse))]
[JsonSerializable(typeof(MessageStartEvent))]
[JsonSerializable(typeof(ContentBlockStartEvent))]
[JsonSerializable(typeof(ContentBlockDeltaEvent))]
[JsonSerializable(typeof(ContentBlockStopEvent))]
[JsonSerializable(typeof(MessageDeltaEvent))]
[JsonSerializable(typeof(TypeOnlyEvent))]
[JsonSerializable(typeof(AnthropicErrorResponse))]
internal sealed partial class AnthropicJsonContext : JsonSerializerContext
{
    /// <summary>The generated metadata with the same relaxed escaping as the OpenAI routes (UTF-8 text as itself).</summary>
    public static AnthropicJsonContext Wire { get; } = new(new JsonSerializerOptions
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        MaxDepth = 64,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
