using System.Text.Json;
using YoutuServer.Chat.Grammar;

namespace YoutuServer.Chat.Tests.Grammar;

internal static class SchemaTestHelper
{
    public static string Gbnf(string schemaJson, JsonGrammarOptions? options = null)
    {
        using var doc = JsonDocument.Parse(schemaJson);
        return JsonSchemaToGbnf.Convert(doc.RootElement, options);
    }

    public static UnsupportedSchemaException Refused(string schemaJson, JsonGrammarOptions? options = null)
    {
        using var doc = JsonDocument.Parse(schemaJson);
        return Assert.Throws<UnsupportedSchemaException>(() => JsonSchemaToGbnf.Convert(doc.RootElement, options));
    }

    public static JsonElement Element(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }
}
