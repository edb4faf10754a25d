using System.Text;
using System.Text.Json;
using YoutuServer.Chat.Grammar;

namespace YoutuServer.Chat.Tests.Grammar;

/// <summary>Random schemas: the converter either returns a grammar that parses, or throws <see cref="UnsupportedSchemaException"/>.</summary>
public sealed class SchemaFuzzTests
{
    private static readonly string[] Samples = ["{}", "[]", "1", "-2.5", "\"a\"", "null", "true", "{\"a\": 1}", "[1, \"x\"]", "\"2024-01-02\""];

    [Fact]
    public void Random_schemas_never_fail_with_anything_but_unsupported_schema()
    {
        var random = new Random(20240601);
        var converted = 0;
        for (var i = 0; i < 1500; i++)
        {
            var json = RandomSchema(random, 0);
            using var doc = JsonDocument.Parse(json);
            string gbnf;
            try
            {
                gbnf = JsonSchemaToGbnf.Convert(doc.RootElement, new JsonGrammarOptions { MaxRules = 400, StrictKeywords = random.Next(2) == 0 });
            }
            catch (UnsupportedSchemaException)
            {
                continue;
            }

            converted++;
            var grammar = GrammarAssert.Parse(gbnf);
            foreach (var sample in Samples)
            {
                // No expectation of our own here: the dump lets llama.cpp confirm the recognizer's verdicts.
                var verdict = grammar.Accepts(sample);
                GrammarAssert.Expect(gbnf, grammar, sample, verdict, json);
            }
        }

        Assert.True(converted > 300, $"only {converted} schemas converted");
    }

    [Fact]
    public void Invalid_utf16_in_the_request_is_an_unsupported_schema()
    {
        using var doc = JsonDocument.Parse("""{"properties": {"a\ud800": {}}}""");
        Assert.Throws<UnsupportedSchemaException>(() => JsonSchemaToGbnf.Convert(doc.RootElement));
        using var tool = JsonDocument.Parse("""{"type": "function", "function": {"name": "x\udc00"}}""");
        Assert.Throws<UnsupportedSchemaException>(() => ToolCallGrammar.Build([tool.RootElement], ToolChoiceMode.Required, false, false));
        using var pattern = JsonDocument.Parse("""{"type": "string", "pattern": "a\ud800"}""");
        Assert.Throws<UnsupportedSchemaException>(() => JsonSchemaToGbnf.Convert(pattern.RootElement));
    }

    private static readonly string[] Types = ["string", "integer", "number", "boolean", "null", "object", "array"];

    private static string RandomSchema(Random r, int depth)
    {
        if (depth > 3 || r.Next(8) == 0)
        {
            return r.Next(10) switch
            {
                0 => "true",
                1 => "false",
                2 => "{}",
                _ => $$"""{"type": "{{Types[r.Next(Types.Length)]}}"}""",
            };
        }

        var parts = new List<string>();
        var count = r.Next(1, 5);
        for (var i = 0; i < count; i++)
        {
            parts.Add(r.Next(30) switch
            {
                0 => $"\"type\": \"{Types[r.Next(Types.Length)]}\"",
                1 => $"\"type\": [\"{Types[r.Next(Types.Length)]}\", \"{Types[r.Next(Types.Length)]}\"]",
                2 => $"\"properties\": {{\"a\": {RandomSchema(r, depth + 1)}, \"b\": {RandomSchema(r, depth + 1)}}}",
                3 => "\"required\": [\"a\"]",
                4 => $"\"additionalProperties\": {RandomSchema(r, depth + 1)}",
                5 => $"\"items\": {RandomSchema(r, depth + 1)}",
                6 => $"\"prefixItems\": [{RandomSchema(r, depth + 1)}]",
                7 => $"\"minItems\": {r.Next(0, 4)}",
                8 => $"\"maxItems\": {r.Next(0, 4)}",
                9 => $"\"minLength\": {r.Next(0, 4)}",
                10 => $"\"maxLength\": {r.Next(0, 4)}",
                11 => $"\"minimum\": {r.Next(-20, 20)}",
                12 => $"\"maximum\": {r.Next(-20, 20)}.5",
                13 => $"\"enum\": [1, \"a\", null, {RandomValue(r)}]",
                14 => $"\"const\": {RandomValue(r)}",
                15 => $"\"anyOf\": [{RandomSchema(r, depth + 1)}, {RandomSchema(r, depth + 1)}]",
                16 => $"\"oneOf\": [{RandomSchema(r, depth + 1)}]",
                17 => $"\"allOf\": [{RandomSchema(r, depth + 1)}, {RandomSchema(r, depth + 1)}]",
                18 => "\"$ref\": \"#\"",
                19 => $"\"$ref\": \"#/$defs/{(r.Next(2) == 0 ? "d" : "missing")}\", \"$defs\": {{\"d\": {RandomSchema(r, depth + 1)}}}",
                20 => $"\"pattern\": \"{new[] { "^a+$", "b", "^[0-9]{2}$", "(?=x)", "^(a|b)*c?$", "\\\\d" }[r.Next(6)]}\"",
                21 => $"\"format\": \"{new[] { "date", "uuid", "email", "time" }[r.Next(4)]}\"",
                22 => $"\"not\": {RandomSchema(r, depth + 1)}",
                23 => "\"uniqueItems\": true",
                24 => "\"nullable\": true",
                25 => "\"description\": \"x\"",
                26 => "\"minItems\": \"x\"",
                27 => "\"properties\": 5",
                28 => "\"required\": [1]",
                _ => "\"type\": 7",
            });
        }

        var sb = new StringBuilder("{");
        var seen = new HashSet<string>();
        foreach (var part in parts)
        {
            var key = part[..part.IndexOf(':', StringComparison.Ordinal)];
            if (key.Contains("$ref", StringComparison.Ordinal) && parts.Count(p => p.Contains("$defs", StringComparison.Ordinal)) > 1)
            {
                continue;
            }

            if (!seen.Add(key))
            {
                continue;
            }

            sb.Append(sb.Length > 1 ? ", " : "").Append(part);
        }

        return sb.Append('}').ToString();
    }

    private static string RandomValue(Random r) => r.Next(5) switch
    {
        0 => "{\"k\": [1, 2]}",
        1 => "[true]",
        2 => "2.5",
        3 => "\"q\\\"\"",
        _ => "false",
    };
}
