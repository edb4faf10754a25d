using System.Diagnostics;
using System.Text;
using YoutuServer.Chat.Grammar;
using static YoutuServer.Chat.Tests.Grammar.SchemaTestHelper;
using YoutuServer.TestSupport;

namespace YoutuServer.Chat.Tests.Grammar;

/// <summary>Schema bombs are either bounded or refused, and quickly.</summary>
public sealed class SchemaLimitsTests
{
    private static T Quick<T>(Func<T> action)
    {
        var sw = Stopwatch.StartNew();
        var result = action();
        Assert.True(sw.Elapsed < TestTimeouts.Seconds(5), $"took {sw.Elapsed}");
        return result;
    }

    private static UnsupportedSchemaException QuickRefusal(string schema) => Quick(() => Refused(schema));

    /// <summary>Arrays of arrays <paramref name="depth"/> deep around an integer.</summary>
    private static string NestedArrays(int depth)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < depth; i++)
        {
            sb.Append("""{"type": "array", "items": """);
        }

        return sb.Append("""{"type": "integer"}""").Append('}', depth).ToString();
    }

    [Fact]
    public void Deep_nesting_is_refused()
    {
        var e = QuickRefusal(NestedArrays(200));
        Assert.Contains("too complex", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Nesting_within_the_limit_works()
    {
        const int Depth = 30;
        var g = Gbnf(NestedArrays(Depth));
        GrammarAssert.Accepts(g, new string('[', Depth) + "7" + new string(']', Depth));
    }

    [Fact]
    public void Huge_max_bounds_are_dropped_not_expanded()
    {
        var g = Quick(() => Gbnf("""{"type": "array", "items": {"type": "string", "maxLength": 1000000000}, "maxItems": 1000000}"""));
        Assert.True(g.Length < 2000, g);
        Assert.DoesNotContain("1000000", g, StringComparison.Ordinal);
        GrammarAssert.Accepts(g, "[" + string.Join(", ", Enumerable.Repeat("\"" + new string('x', 1500) + "\"", 3)) + "]");
    }

    [Fact]
    public void Bounds_within_the_limit_use_repetition_syntax()
    {
        var g = Gbnf("""{"type": "array", "items": {"type": "string", "maxLength": 500}, "minItems": 2, "maxItems": 900}""");
        Assert.Contains("{0,500}", g, StringComparison.Ordinal);
        Assert.Contains("{1,899}", g, StringComparison.Ordinal);
        GrammarAssert.Accepts(g, "[\"a\", \"b\"]", "[" + string.Join(", ", Enumerable.Repeat("1", 0).Concat(Enumerable.Repeat("\"z\"", 900))) + "]");
        GrammarAssert.Rejects(g, "[" + string.Join(", ", Enumerable.Repeat("\"z\"", 901)) + "]", "[\"" + new string('x', 501) + "\", \"\"]");
    }

    [Theory]
    [InlineData("""{"type": "array", "minItems": 1000000}""", "minItems")]
    [InlineData("""{"type": "string", "minLength": 5000}""", "minLength")]
    [InlineData("""{"type": "string", "pattern": "^a{3000}$"}""", "pattern")]
    public void Huge_min_bounds_are_refused(string schema, string keyword)
    {
        var e = QuickRefusal(schema);
        Assert.Equal(keyword, e.Keyword);
        Assert.Contains("too complex", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Many_any_of_branches_are_refused()
    {
        var branches = string.Join(", ", Enumerable.Range(0, 20000).Select(i => "{\"type\": \"object\", \"properties\": {\"k" + i + "\": {\"const\": " + i + "}}, \"required\": [\"k" + i + "\"]}"));
        var e = QuickRefusal("{\"anyOf\": [" + branches + "]}");
        Assert.Contains("too complex", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Many_properties_are_refused()
    {
        var props = string.Join(", ", Enumerable.Range(0, 6000).Select(i => "\"p" + i + "\": {\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"integer\"}}}"));
        QuickRefusal("{\"type\": \"object\", \"properties\": {" + props + "}}");
    }

    [Fact]
    public void Huge_enums_are_refused_by_grammar_size()
    {
        var values = string.Join(", ", Enumerable.Range(0, 200000).Select(i => $"\"value-{i}\""));
        var e = QuickRefusal("{\"enum\": [" + values + "]}");
        Assert.Contains("characters", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Shared_refs_are_converted_once_so_doubling_refs_stay_linear()
    {
        // 2^25 paths if references were expanded instead of shared.
        var defs = string.Join(", ", Enumerable.Range(0, 25).Select(i =>
            "\"d" + i + "\": {\"type\": \"array\", \"prefixItems\": [{\"$ref\": \"#/$defs/d" + (i + 1) + "\"}, {\"$ref\": \"#/$defs/d" + (i + 1) + "\"}], \"items\": false}"));
        var g = Quick(() => Gbnf("{\"$defs\": {" + defs + ", \"d25\": {\"type\": \"integer\"}}, \"$ref\": \"#/$defs/d0\"}"));
        Assert.True(g.Split('\n').Length < 400, $"{g.Split('\n').Length} rules");
        GrammarAssert.Accepts(g, "[]");
    }

    [Fact]
    public void All_of_ref_doubling_is_refused()
    {
        var defs = string.Join(", ", Enumerable.Range(0, 40).Select(i =>
            "\"d" + i + "\": {\"allOf\": [{\"$ref\": \"#/$defs/d" + (i + 1) + "\"}, {\"$ref\": \"#/$defs/d" + (i + 1) + "\"}]}"));
        var e = QuickRefusal("{\"$defs\": {" + defs + ", \"d40\": {\"type\": \"integer\"}}, \"$ref\": \"#/$defs/d0\"}");
        Assert.Contains("too complex", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Recursive_refs_are_bounded_by_memoization()
    {
        var g = Quick(() => Gbnf("""
            {"$defs": {"a": {"type": "object", "properties": {"b": {"$ref": "#/$defs/b"}, "a": {"$ref": "#/$defs/a"}}},
                       "b": {"type": "array", "items": {"anyOf": [{"$ref": "#/$defs/a"}, {"$ref": "#/$defs/b"}]}}},
             "$ref": "#/$defs/a"}
            """));
        GrammarAssert.Accepts(g, """{"b": [{"a": {}}, [[]]], "a": {"a": {"b": []}}}""");
    }

    [Fact]
    public void Rule_limit_is_configurable()
    {
        var e = Refused("""{"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}""", new JsonGrammarOptions { MaxRules = 3 });
        Assert.Contains("3 grammar rules", e.Message, StringComparison.Ordinal);
    }
}
