using System.Text.Json.Serialization;
using YoutuServer.Api.Common;

namespace YoutuServer.Api;

/// <summary>Source-generated serializers of the shared routes' wire types.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, MaxDepth = 64)]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ModelCard))]
[JsonSerializable(typeof(TokenizeRequest))]
[JsonSerializable(typeof(TokenizeResponse))]
[JsonSerializable(typeof(DetokenizeRequest))]
[JsonSerializable(typeof(DetokenizeResponse))]
[JsonSerializable(typeof(string))]
internal sealed partial class ApiJsonContext : JsonSerializerContext
{
    /// <summary>The generated metadata with the wire's options (<see cref="Common.WireJson"/>).</summary>
    public static ApiJsonContext Wire { get; } = new(WireJson.Options());
}
