using System.Text.Json;

namespace YoutuServer.Chat.Grammar;

/// <summary>
/// Grammars for OpenAI <c>response_format</c>: <c>{"type": "json_object"}</c> (any JSON object; llama.cpp's extension
/// <c>{"type": "json_object", "schema": {...}}</c> is honoured), <c>{"type": "json_schema", "json_schema": {"name",
/// "schema", "strict"}}</c> (the schema, via <see cref="JsonSchemaToGbnf"/>; <c>strict</c> makes no difference because
/// the output is always constrained; a missing schema means any JSON value), and <c>{"type": "text"}</c> (no grammar).
/// </summary>
public static class ResponseFormatGrammar
{
    /// <summary>The grammar for <paramref name="responseFormat"/>, or null when it asks for plain text.</summary>
    /// <param name="responseFormat">The request's <c>response_format</c> object.</param>
    /// <param name="allowThinking">The output may start with a <c>&lt;think&gt;…&lt;/think&gt;</c> block and up to four
    /// whitespace characters before the JSON.</param>
    /// <param name="options">Schema conversion limits and policy.</param>
    /// <exception cref="UnsupportedSchemaException">Unknown type, malformed object, or unsupported schema
    /// (the path is <c>/response_format/json_schema/schema/...</c>).</exception>
    public static GrammarSpec? Build(JsonElement responseFormat, bool allowThinking, JsonGrammarOptions? options = null) =>
        SchemaGuard.Run(Path, () => BuildCore(responseFormat, allowThinking, options));

    private const string Path = "/response_format";

    /// <summary>
    /// The grammar for a JSON answer in no wire format's terms: any object (<paramref name="schemaMode"/> false, or
    /// that schema when one is given) or a value following <paramref name="schema"/> (any JSON value without one).
    /// </summary>
    /// <param name="schemaPath">Where the schema sits in the request, as a JSON pointer, for error messages.</param>
    public static GrammarSpec BuildJson(bool schemaMode, JsonElement? schema, bool allowThinking, string schemaPath, JsonGrammarOptions? options = null) =>
        SchemaGuard.Run(schemaPath, () => BuildJsonCore(schemaMode, schema, allowThinking, schemaPath, schemaPath, options));

    private static GrammarSpec BuildJsonCore(bool schemaMode, JsonElement? schema, bool allowThinking, string schemaPath, string rootPath, JsonGrammarOptions? options)
    {
        var builder = new GbnfBuilder(options ?? JsonGrammarOptions.Default);
        var value = schema is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) } s
            ? new SchemaConverter(builder, s, schemaPath).ConvertDocumentRule("response")
            : schemaMode ? builder.AnyValue() : builder.AnyObject();
        var root = allowThinking ? ThinkGrammar.Define(builder) + "? " + value : value;
        builder.Define("root", root, rootPath);
        return new GrammarSpec { Gbnf = builder.Build() };
    }

    private static GrammarSpec? BuildCore(JsonElement responseFormat, bool allowThinking, JsonGrammarOptions? options)
    {
        if (responseFormat.ValueKind != JsonValueKind.Object ||
            !responseFormat.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
        {
            throw new UnsupportedSchemaException("type", Path, "response_format needs a string 'type'");
        }

        switch (typeElement.GetString())
        {
            case "text":
                return null;
            case "json_object":
                return BuildJsonCore(false, responseFormat.TryGetProperty("schema", out var extSchema) ? extSchema : null, allowThinking, Path + "/schema", Path, options);
            case "json_schema":
                if (!responseFormat.TryGetProperty("json_schema", out var js) || js.ValueKind != JsonValueKind.Object)
                {
                    throw new UnsupportedSchemaException("json_schema", Path, "response_format of type json_schema needs a 'json_schema' object");
                }

                return BuildJsonCore(true, js.TryGetProperty("schema", out var schema) ? schema : null, allowThinking, Path + "/json_schema/schema", Path, options);
            default:
                throw new UnsupportedSchemaException("type", Path + "/type",
                    $"unknown response_format type {JsonText.Quote(typeElement.GetString()!)}");
        }
    }
}
