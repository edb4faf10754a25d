using System.Text.Json;
using YoutuServer.Chat.Grammar;

namespace YoutuServer.Chat.Tests.Grammar;

internal static class SchemaTestHelper
{
    // Deeper than System.Text.Json's default of 64, so the converter's own depth limit is what the tests meet.
    private static readonly JsonDocumentOptions Deep = new() { MaxDepth = 1024 };

    public static string Gbnf(string schemaJson, JsonGrammarOptions? options = null)
    {
        using var doc = JsonDocument.Parse(schemaJson, Deep);
        return JsonSchemaToGbnf.Convert(doc.RootElement, options);
    }

    public static UnsupportedSchemaException Refused(string schemaJson, JsonGrammarOptions? options = null)
    {
        using var doc = JsonDocument.Parse(schemaJson, Deep);
        return Assert.Throws<UnsupportedSchemaException>(() => JsonSchemaToGbnf.Convert(doc.RootElement, options));
    }

    public static JsonElement Element(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }
}
