using System.Text.Json.Serialization;

namespace YoutuServer.Api.Dtos;

/// <summary>Source-generated serializers for every wire type: no reflection on the hot path.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, MaxDepth = 64)]
[JsonSerializable(typeof(ChatCompletionRequest))]
[JsonSerializable(typeof(CompletionRequest))]
[JsonSerializable(typeof(TokenizeRequest))]
[JsonSerializable(typeof(DetokenizeRequest))]
[JsonSerializable(typeof(ChatCompletionResponse))]
[JsonSerializable(typeof(ChatCompletionChunk))]
[JsonSerializable(typeof(CompletionResponse))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ModelCard))]
[JsonSerializable(typeof(TokenizeResponse))]
[JsonSerializable(typeof(DetokenizeResponse))]
[JsonSerializable(typeof(ApplyTemplateResponse))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(string))]
public sealed partial class ApiJsonContext : JsonSerializerContext;
