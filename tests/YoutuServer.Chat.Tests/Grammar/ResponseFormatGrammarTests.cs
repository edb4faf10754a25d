using YoutuServer.Chat.Grammar;
using static YoutuServer.Chat.Tests.Grammar.SchemaTestHelper;

namespace YoutuServer.Chat.Tests.Grammar;

public sealed class ResponseFormatGrammarTests
{
    [Fact]
    public void Text_needs_no_grammar()
    {
        Assert.Null(ResponseFormatGrammar.Build(Element("""{"type": "text"}"""), allowThinking: true));
    }

    [Fact]
    public void Json_object_accepts_any_object()
    {
        var spec = ResponseFormatGrammar.Build(Element("""{"type": "json_object"}"""), allowThinking: false)!;
        Assert.False(spec.Lazy);
        GrammarAssert.Accepts(spec, "{}", """{"a": [1, 2, {"b": null}], "c": "d"}""");
        GrammarAssert.Rejects(spec, "[]", "\"x\"", "Here you go: {}", "{} ", "<think>x</think>{}");
    }

    [Fact]
    public void Json_object_with_schema_extension_uses_the_schema()
    {
        var spec = ResponseFormatGrammar.Build(Element("""{"type": "json_object", "schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}"""), false)!;
        GrammarAssert.Accepts(spec, """{"n": 1}""");
        GrammarAssert.Rejects(spec, "{}");
    }

    [Fact]
    public void Json_schema_uses_the_schema_and_optional_thinking()
    {
        const string Format = """
            {"type": "json_schema", "json_schema": {"name": "answer", "strict": true, "schema":
              {"type": "object", "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
               "required": ["answer", "confidence"], "additionalProperties": false}}}
            """;
        var plain = ResponseFormatGrammar.Build(Element(Format), allowThinking: false)!;
        GrammarAssert.Accepts(plain, """{"answer": "42", "confidence": 0.9}""");
        GrammarAssert.Rejects(plain, """{"answer": "42"}""", "<think>x</think>{\"answer\": \"42\", \"confidence\": 1}");

        var thinking = ResponseFormatGrammar.Build(Element(Format), allowThinking: true)!;
        GrammarAssert.Accepts(thinking,
            """{"answer": "42", "confidence": 0.9}""",
            "<think>\nLet me think about {braces} and </thinking>\n</think>\n\n{\"answer\": \"42\", \"confidence\": 1}");
        GrammarAssert.Rejects(thinking, "<think>x</think>Sure: {\"answer\": \"42\", \"confidence\": 1}");
    }

    [Fact]
    public void Json_schema_without_schema_accepts_any_value()
    {
        var spec = ResponseFormatGrammar.Build(Element("""{"type": "json_schema", "json_schema": {"name": "x"}}"""), false)!;
        GrammarAssert.Accepts(spec, "[1]", "{}", "3");
    }

    [Fact]
    public void Bad_response_formats_are_refused()
    {
        Assert.Equal("type", Assert.Throws<UnsupportedSchemaException>(() => ResponseFormatGrammar.Build(Element("""{"type": "yaml"}"""), false)).Keyword);
        Assert.Equal("type", Assert.Throws<UnsupportedSchemaException>(() => ResponseFormatGrammar.Build(Element("""{}"""), false)).Keyword);
        Assert.Equal("json_schema", Assert.Throws<UnsupportedSchemaException>(() => ResponseFormatGrammar.Build(Element("""{"type": "json_schema"}"""), false)).Keyword);
        var e = Assert.Throws<UnsupportedSchemaException>(() => ResponseFormatGrammar.Build(
            Element("""{"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "properties": {"a": {"if": {}, "then": {}}}}}}"""), false));
        Assert.Equal("/response_format/json_schema/schema/properties/a", e.Path);
        Assert.Contains("'if'", e.Message, StringComparison.Ordinal);
    }
}
