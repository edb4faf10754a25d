using YoutuServer.Chat.Grammar;

namespace YoutuServer.Chat.Tests.Grammar;

/// <summary>The test recognizer itself: it must agree with llama.cpp's parser on what is an error.</summary>
public sealed class GbnfGrammarTests
{
    [Fact]
    public void Matches_literals_classes_and_repetitions()
    {
        var g = GbnfGrammar.Parse("root ::= \"a\" [0-9]{2,3} ( \"x\" | \"yz\" )* [^\\n]? tail\ntail ::= \"!\"+\n");
        Assert.True(g.Accepts("a12!"));
        Assert.True(g.Accepts("a123xyzq!!"));
        Assert.False(g.Accepts("a1!"));
        Assert.False(g.Accepts("a12345!"));
        Assert.False(g.Accepts("a12\n!"));
        Assert.False(g.Accepts("a12"));
    }

    [Fact]
    public void Handles_escapes_and_unicode()
    {
        var g = GbnfGrammar.Parse("root ::= \"\\\"\\\\\\t\\x41\\u00e9\\U0001F600\" [\\]\\-\\[]\n");
        Assert.True(g.Accepts("\"\\\tAé😀]"));
        Assert.True(g.Accepts("\"\\\tAé😀-"));
        Assert.False(g.Accepts("\"\\\tAé😀a"));
    }

    [Fact]
    public void Allows_newlines_only_inside_parentheses_or_after_alternation()
    {
        Assert.True(GbnfGrammar.Parse("root ::= ( \"a\"\n  | \"b\" )\n").Accepts("b"));
        Assert.True(GbnfGrammar.Parse("root ::= \"a\" |\n \"b\"\n").Accepts("b"));
        Assert.Throws<FormatException>(() => GbnfGrammar.Parse("root ::= \"a\"\n \"b\"\n"));
    }

    [Theory]
    [InlineData("root ::= missing\n", "Undefined rule")]
    [InlineData("other ::= \"a\"\n", "root")]
    [InlineData("root ::= \"\\q\"\n", "unknown escape")]
    [InlineData("root ::= \"a\"{2001}\n", "repetitions")]
    [InlineData("root ::= ( \"a\" [b]{0,100} ){0,30}\n", "multiplied")]
    [InlineData("root ::= root \"a\" | \"b\"\n", "left recursion")]
    [InlineData("root ::= x\nx ::= y root\ny ::= \"a\"?\n", "left recursion")]
    [InlineData("root ::= \"a\"\nroot ::= \"b\"\n", "defined twice")]
    [InlineData("root ::= *\n", "preceding item")]
    [InlineData("root := \"a\"\n", "::=")]
    public void Rejects_what_llama_cpp_rejects(string gbnf, string message)
    {
        var e = Assert.Throws<FormatException>(() => GbnfGrammar.Parse(gbnf));
        Assert.Contains(message, e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Bounds_above_2000_become_unbounded()
    {
        var g = GbnfGrammar.Parse("root ::= \"a\"{1,5000}\n");
        Assert.True(g.Accepts(new string('a', 2500)));
    }
}
