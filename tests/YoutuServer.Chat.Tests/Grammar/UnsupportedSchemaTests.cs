using YoutuServer.Chat.Grammar;
using static YoutuServer.Chat.Tests.Grammar.SchemaTestHelper;

namespace YoutuServer.Chat.Tests.Grammar;

public sealed class UnsupportedSchemaTests
{
    [Theory]
    [InlineData("""{"type": "object", "properties": {"a": {"not": {"type": "string"}}}}""", "not", "/properties/a")]
    [InlineData("""{"if": {"type": "string"}, "then": {"minLength": 1}}""", "if", "")]
    [InlineData("""{"type": "object", "patternProperties": {"^x": {"type": "integer"}}}""", "patternProperties", "")]
    [InlineData("""{"type": "object", "dependentSchemas": {"a": {"required": ["b"]}}}""", "dependentSchemas", "")]
    [InlineData("""{"type": "object", "dependentRequired": {"a": ["b"]}}""", "dependentRequired", "")]
    [InlineData("""{"type": "object", "propertyNames": {"maxLength": 3}}""", "propertyNames", "")]
    [InlineData("""{"type": "object", "unevaluatedProperties": false}""", "unevaluatedProperties", "")]
    [InlineData("""{"type": "array", "items": {"contains": {"type": "integer"}}}""", "contains", "/items")]
    [InlineData("""{"$ref": "https://example.com/schema.json"}""", "$ref", "")]
    [InlineData("""{"properties": {"a": {"$ref": "#/$defs/missing"}}}""", "$ref", "/properties/a")]
    [InlineData("""{"properties": {"a": {"$ref": "#anchor"}}}""", "$ref", "/properties/a")]
    [InlineData("""{"$dynamicRef": "#meta"}""", "$dynamicRef", "")]
    [InlineData("""{"type": "string", "pattern": "^(?=a)b$"}""", "pattern", "")]
    [InlineData("""{"type": "object", "properties": {"x": {"type": "string", "pattern": "(a)\\1"}}}""", "pattern", "/properties/x")]
    [InlineData("""{"type": "string", "pattern": "\\bword\\b"}""", "pattern", "")]
    [InlineData("""{"type": "string", "pattern": "a^b"}""", "pattern", "")]
    [InlineData("""{"type": "string", "pattern": "\\p{L}+"}""", "pattern", "")]
    [InlineData("""{"type": "string", "pattern": "[a-"}""", "pattern", "")]
    [InlineData("""{"type": "date"}""", "type", "")]
    public void Refuses_unsupported_keywords_naming_keyword_and_path(string schema, string keyword, string path)
    {
        var e = Refused(schema);
        Assert.Equal(keyword, e.Keyword);
        Assert.Equal(path, e.Path);
        Assert.Contains($"'{keyword}'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"'{(path.Length == 0 ? "/" : path)}'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("false", "false")]
    [InlineData("""{"type": "array", "minItems": 3, "maxItems": 2}""", "minItems")]
    [InlineData("""{"type": "string", "minLength": 3, "maxLength": 2}""", "minLength")]
    [InlineData("""{"type": "integer", "minimum": 5, "maximum": 4}""", "minimum")]
    [InlineData("""{"type": "integer", "exclusiveMinimum": 4, "exclusiveMaximum": 5}""", "minimum")]
    [InlineData("""{"enum": []}""", "enum")]
    [InlineData("""{"type": "string", "enum": [1, 2]}""", "enum")]
    [InlineData("""{"type": "object", "required": ["a"], "additionalProperties": false}""", "required")]
    [InlineData("""{"type": "object", "properties": {"a": false}, "required": ["a"]}""", "required")]
    [InlineData("""{"allOf": [{"type": "string"}, {"type": "integer"}]}""", "type")]
    [InlineData("""{"allOf": [{"const": 1}, {"const": 2}]}""", "const")]
    [InlineData("""{"prefixItems": [{"type": "string"}], "items": false, "minItems": 2}""", "minItems")]
    [InlineData("""{"anyOf": [false, false]}""", "anyOf")]
    public void Refuses_unsatisfiable_schemas(string schema, string keyword)
    {
        Assert.Equal(keyword, Refused(schema).Keyword);
    }

    [Fact]
    public void Empty_or_trivial_forms_of_refused_keywords_are_fine()
    {
        var g = Gbnf("""
            {"type": "object", "patternProperties": {}, "dependentRequired": {}, "propertyNames": true,
             "unevaluatedProperties": true, "if": {"type": "object"}, "properties": {"a": {"type": "integer"}}}
            """);
        GrammarAssert.Accepts(g, """{"a": 1}""");
    }

    [Theory]
    [InlineData("""{"type": "array", "uniqueItems": true}""", "uniqueItems", "[1, 1]")]
    [InlineData("""{"type": "integer", "multipleOf": 5}""", "multipleOf", "3")]
    [InlineData("""{"type": "number", "maximum": 1.5}""", "maximum", "7")]
    [InlineData("""{"type": "number", "exclusiveMinimum": 0}""", "exclusiveMinimum", "0")]
    [InlineData("""{"type": "object", "minProperties": 1}""", "minProperties", "{}")]
    [InlineData("""{"type": "object", "maxProperties": 1}""", "maxProperties", "{\"a\": 1, \"b\": 2}")]
    [InlineData("""{"type": "string", "pattern": "^a+$", "maxLength": 2}""", "maxLength", "\"aaa\"")]
    public void Unenforceable_keywords_are_relaxed_by_default_and_refused_when_strict(string schema, string keyword, string acceptedAnyway)
    {
        GrammarAssert.Accepts(Gbnf(schema), acceptedAnyway);
        var e = Refused(schema, new JsonGrammarOptions { StrictKeywords = true });
        Assert.Equal(keyword, e.Keyword);
    }

    [Fact]
    public void Trivially_satisfied_keywords_are_not_refused_even_when_strict()
    {
        var strict = new JsonGrammarOptions { StrictKeywords = true };
        var g = Gbnf("""
            {"type": "object", "properties": {"a": {"type": "integer", "multipleOf": 1}, "b": {"type": "array", "maxItems": 1, "uniqueItems": true},
             "c": {"type": "number", "minimum": 0}}, "required": ["a"], "minProperties": 1, "maxProperties": 3, "additionalProperties": false}
            """, strict);
        GrammarAssert.Accepts(g, """{"a": 1, "b": [2], "c": 0.5}""");
        GrammarAssert.Rejects(g, """{"a": 1, "c": -0.5}""");
    }

    [Fact]
    public void Left_recursive_refs_are_refused()
    {
        var e = Refused("""{"$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}, {"type": "string"}]}}, "$ref": "#/$defs/a"}""");
        Assert.Equal("$ref", e.Keyword);
        Assert.Contains("recursive", e.Message, StringComparison.Ordinal);
        Assert.Equal("$ref", Refused("""{"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}""").Keyword);
    }

    [Fact]
    public void Error_paths_point_into_referenced_definitions()
    {
        var e = Refused("""{"$defs": {"bad": {"type": "object", "properties": {"x": {"not": {}}}}}, "properties": {"b": {"$ref": "#/$defs/bad"}}}""");
        Assert.Equal("/$defs/bad/properties/x", e.Path);
        using var doc = System.Text.Json.JsonDocument.Parse("""{"properties": {"a/b": {"not": {}}}}""");
        var prefixed = Assert.Throws<UnsupportedSchemaException>(() => JsonSchemaToGbnf.Convert(doc.RootElement, basePath: "/response_format/json_schema/schema"));
        Assert.Equal("/response_format/json_schema/schema/properties/a~1b", prefixed.Path);
    }
}
