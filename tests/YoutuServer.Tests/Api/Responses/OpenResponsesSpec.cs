extern alias JsonSchemaNet;

using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using JsonSchemaNet::Json.Schema;
using YoutuServer.Tests.Operations;

namespace YoutuServer.Tests.Api.Responses;

/// <summary>
/// The Open Responses specification's own OpenAPI 3.1 document (Conformance/openapi.json, vendored unmodified; see the
/// README beside it) as JSON Schema 2020-12: its component schemas, with their references resolved, and the
/// streaming-event union it gives for <c>text/event-stream</c>.
/// </summary>
internal static class OpenResponsesSpec
{
    public const string DocumentPath = "tests/YoutuServer.Tests/Api/Responses/Conformance/openapi.json";

    /// <summary>The name under which the document's <c>text/event-stream</c> union of streaming events is registered.</summary>
    public const string StreamingEvent = "StreamingEvent";

    private const string Id = "https://youtu-server.local/tests/openresponses-openapi.json";

    private static readonly Lazy<(BuildOptions Options, JsonObject Document)> Loaded = new(Load);
    private static readonly ConcurrentDictionary<string, JsonSchema> Schemas = new();

    /// <summary>The vendored document as published.</summary>
    public static JsonObject Document => (JsonObject)Loaded.Value.Document.DeepClone();

    /// <summary>
    /// The published document's one known defect: <c>JsonSchemaResponseFormat.schema</c> is typed <c>null</c>, where the
    /// specification's source for it and its compliance tool's validators allow an object or null (README).
    /// </summary>
    public static readonly JsonNode ErratumPublished = JsonNode.Parse("""{"type":"null"}""")!;

    private static (BuildOptions, JsonObject) Load()
    {
        var document = JsonNode.Parse(File.ReadAllText(RepoFiles.PathOf(DocumentPath)))!.AsObject();
        var defs = document["components"]!["schemas"]!.DeepClone().AsObject();
        var format = defs["JsonSchemaResponseFormat"]!["properties"]!.AsObject();
        if (JsonNode.DeepEquals(format["schema"], ErratumPublished))
        {
            format["schema"] = JsonNode.Parse("""{"anyOf":[{"type":"object"},{"type":"null"}]}""");
        }

        defs[StreamingEvent] = document["paths"]!["/responses"]!["post"]!["responses"]!["200"]!["content"]!["text/event-stream"]!["schema"]!.DeepClone();
        var root = new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["$id"] = Id,
            ["$defs"] = defs,
        };
        var text = root.ToJsonString().Replace("\"#/components/schemas/", "\"#/$defs/", StringComparison.Ordinal);
        var options = new BuildOptions { SchemaRegistry = new SchemaRegistry() };
        JsonSchema.FromText(text, options);
        return (options, document);
    }

    /// <summary>The component schema of that name (or <see cref="StreamingEvent"/>).</summary>
    public static JsonSchema Schema(string name)
    {
        var (options, document) = Loaded.Value;
        if (name != StreamingEvent && document["components"]!["schemas"]![name] is null)
        {
            throw new ArgumentException($"the specification's document has no component schema {name}", nameof(name));
        }

        return Schemas.GetOrAdd(name, n => JsonSchema.FromText($$"""{"$ref":"{{Id}}#/$defs/{{n}}"}""", options));
    }

    /// <summary>The errors of the instance against that schema; none when it conforms.</summary>
    public static List<string> Errors(string name, JsonNode instance)
    {
        using var doc = JsonDocument.Parse(instance.ToJsonString());
        var result = Schema(name).Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        return result.IsValid
            ? []
            : (result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
                .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation} ({d.EvaluationPath}): {e.Key}: {e.Value}")).ToList();
    }

    public static void AssertValid(string name, JsonNode instance, string what)
    {
        var errors = Errors(name, instance);
        if (errors.Count > 0)
        {
            Assert.Fail($"{what} does not match the Open Responses specification's {name} schema:\n{string.Join("\n", errors)}\n{instance.ToJsonString()}");
        }
    }

    /// <summary>
    /// A streaming event (SSE data or a WebSocket frame) against the document's union of streaming events and against the
    /// one schema its type names: an event type the specification does not define fails.
    /// </summary>
    public static void AssertValidEvent(JsonNode e)
    {
        var type = e["type"]?.GetValue<string>() ?? "";
        AssertValid(StreamingEvent, e, $"event {type}");
        var named = StreamingEventSchemaOf(type);
        Assert.True(named is not null, $"event type {type} is not one of the specification's streaming events");
        AssertValid(named!, e, $"event {type}");
    }

    /// <summary>The name of the component schema of a streaming event type, from the document's union (null if none).</summary>
    public static string? StreamingEventSchemaOf(string type)
    {
        var (_, document) = Loaded.Value;
        var schemas = document["components"]!["schemas"]!.AsObject();
        foreach (var option in document["paths"]!["/responses"]!["post"]!["responses"]!["200"]!["content"]!["text/event-stream"]!["schema"]!["oneOf"]!.AsArray())
        {
            var name = option!["$ref"]!.GetValue<string>()["#/components/schemas/".Length..];
            var types = schemas[name]!["properties"]!["type"]!["enum"]!.AsArray().Select(t => t!.GetValue<string>());
            if (types.Contains(type))
            {
                return name;
            }
        }

        return null;
    }
}
