using static YoutuServer.Chat.Tests.Grammar.SchemaTestHelper;

namespace YoutuServer.Chat.Tests.Grammar;

/// <summary>Patterns become grammars over the JSON string (value escaped as the model writes it).</summary>
public sealed class RegexPatternTests
{
    private static string Pattern(string regex)
    {
        var json = "{\"type\": \"string\", \"pattern\": " + YoutuServer.Chat.Grammar.JsonText.Quote(regex) + "}";
        return Gbnf(json);
    }

    private static string Str(string value) => YoutuServer.Chat.Grammar.JsonText.Quote(value);

    [Theory]
    [InlineData(@"^[A-Z]{3}-\d{2,4}$", new[] { "ABC-12", "XYZ-1234" }, new[] { "AB-12", "ABC-1", "ABC-12345", "abc-12", "ABC-12x" })]
    [InlineData(@"abc", new[] { "abc", "xxabcyy", "abcabc" }, new[] { "ab", "acb", "" })]
    [InlineData(@"^abc", new[] { "abc", "abcdef" }, new[] { "xabc" })]
    [InlineData(@"abc$", new[] { "abc", "xyzabc" }, new[] { "abcx" })]
    [InlineData(@"^(cat|dog)s?$", new[] { "cat", "dogs" }, new[] { "cats!", "bird" })]
    [InlineData(@"^a|b$", new[] { "a", "axyz", "xyzb", "b" }, new[] { "xa", "bx" })]
    [InlineData(@"^.$", new[] { "a", "\"", "é", "\t" }, new[] { "", "ab", "\n" })]
    [InlineData(@"^[^a]+$", new[] { "bcd", "b\"c", "x\\y", "\t" }, new[] { "bad", "" })]
    [InlineData(@"^[a\]\-]*$", new[] { "", "a]-a" }, new[] { "b" })]
    [InlineData(@"^\w+@\w+\.com$", new[] { "me@site.com" }, new[] { "me@site.org", "me @site.com" })]
    [InlineData(@"^\s*\S+\s*$", new[] { "x", " x\t", "\nxy\n" }, new[] { "x y", "  " })]
    [InlineData(@"^[""\\]+$", new[] { "\"", "\\\"\\" }, new[] { "a" })]
    [InlineData(@"^(?:ab){2}(?<tail>c+?)$", new[] { "ababc", "ababccc" }, new[] { "abc", "abababc" })]
    [InlineData(@"^\x41\u00e9\.\*\?{$", new[] { "Aé.*?{" }, new[] { "Ae.*?{" })]
    [InlineData(@"^$", new[] { "" }, new[] { "a" })]
    [InlineData(@"^[0-9a-f]{8}(-[0-9a-f]{4}){3}$", new[] { "0123abcd-0000-1111-ffff" }, new[] { "0123abcd-0000-1111", "0123ABCD-0000-1111-ffff" })]
    public void Pattern_language(string regex, string[] matching, string[] notMatching)
    {
        var g = Pattern(regex);
        foreach (var value in matching)
        {
            Assert.Matches(new System.Text.RegularExpressions.Regex(regex, System.Text.RegularExpressions.RegexOptions.ECMAScript), value);
            GrammarAssert.Accepts(g, Str(value));
        }

        foreach (var value in notMatching)
        {
            Assert.DoesNotMatch(new System.Text.RegularExpressions.Regex(regex, System.Text.RegularExpressions.RegexOptions.ECMAScript), value);
            GrammarAssert.Rejects(g, Str(value));
        }
    }

    [Fact]
    public void Groups_holding_large_repetitions_stay_within_llama_cpp_limits()
    {
        var g = Pattern("^(a{0,1000}b{0,1000})?(c{2,900}|d)*$");
        GrammarAssert.Accepts(g, Str(""), Str("aab"), Str(new string('a', 1000) + "b" + "cc" + "d"));
        GrammarAssert.Rejects(g, Str("ba"), Str("c"));
    }

    [Fact]
    public void Repetition_cap_never_exceeds_what_llama_cpp_accepts()
    {
        var g = Gbnf("""{"type": "string", "maxLength": 1800, "minLength": 900}""", new YoutuServer.Chat.Grammar.JsonGrammarOptions { MaxRepetition = 5000 });
        Assert.Contains("{900,}", g, StringComparison.Ordinal);
        var e = Refused("""{"type": "string", "minLength": 1800}""", new YoutuServer.Chat.Grammar.JsonGrammarOptions { MaxRepetition = 5000 });
        Assert.Equal("minLength", e.Keyword);
    }
}
