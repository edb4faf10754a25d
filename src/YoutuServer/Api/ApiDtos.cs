using System.Text.Json;
using System.Text.Json.Serialization;
using YoutuServer.Api.Common;

namespace YoutuServer.Api;

// Wire types of the shared routes: models and the tokenizer utilities.

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

internal sealed class TokenizeRequest
{
    [JsonPropertyName("model")] public string? Model { get; set; }
    [JsonPropertyName("content")] public string? Content { get; set; }
    [JsonPropertyName("prompt")] public string? Prompt { get; set; }
    [JsonPropertyName("add_special")] public bool? AddSpecial { get; set; }
    [JsonPropertyName("with_pieces")] public bool? WithPieces { get; set; }
}

internal sealed class TokenizeResponse
{
    [JsonPropertyName("tokens")] public int[] Tokens { get; set; } = [];
    [JsonPropertyName("count")] public int Count { get; set; }
    [JsonPropertyName("pieces")] public List<string>? Pieces { get; set; }
}

internal sealed class DetokenizeRequest
{
    [JsonPropertyName("model")] public string? Model { get; set; }
    [JsonPropertyName("tokens")] public List<int>? Tokens { get; set; }
}

internal sealed class DetokenizeResponse
{
    [JsonPropertyName("content")] public string Content { get; set; } = "";
}
