using System.Text.Json;
using YoutuServer.Chat.Grammar;

namespace YoutuServer.Chat.Tests.Grammar;

/// <summary>
/// What a forced call needs (issue 22 item 1): the shortest output a grammar admits, the most bytes any output can
/// take, and free strings held to a length so that the most is finite.
/// </summary>
public sealed class GrammarBoundsTests
{
    private static readonly JsonElement[] Weather =
    [
        JsonDocument.Parse("""{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}}""").RootElement.Clone(),
    ];

    [Fact]
    public void The_shortest_call_is_the_call_with_empty_strings_and_no_think_block()
    {
        var spec = ToolCallGrammar.Build(Weather, ToolChoiceMode.Required, parallel: true, allowThinking: true);
        Assert.Equal("""<tool_call>{"name":"get_weather","arguments":{"city":""}}</tool_call>""", spec.ShortestOutput());
        Assert.True(GbnfGrammar.Parse(spec.Gbnf).Accepts(spec.ShortestOutput()!));
    }

    [Fact]
    public void Free_strings_make_the_longest_output_unbounded_until_they_are_held_to_a_length()
    {
        Assert.Null(ToolCallGrammar.Build(Weather, ToolChoiceMode.Required, parallel: false, allowThinking: false).LongestOutputBytes());
        var zero = ToolCallGrammar.Build(Weather, ToolChoiceMode.Required, false, false, options: JsonGrammarOptions.Default with { MaxStringLength = 0 }).LongestOutputBytes();
        var ten = ToolCallGrammar.Build(Weather, ToolChoiceMode.Required, false, false, options: JsonGrammarOptions.Default with { MaxStringLength = 10 }).LongestOutputBytes();
        Assert.NotNull(zero);
        Assert.NotNull(ten);
        // Ten characters of at most 6 bytes each (a \uXXXX escape) more than none; whitespace is bounded.
        Assert.Equal(60, ten - zero);

        var bounded = ToolCallGrammar.Build(Weather, ToolChoiceMode.Required, false, false, options: JsonGrammarOptions.Default with { MaxStringLength = 3 });
        var g = GbnfGrammar.Parse(bounded.Gbnf);
        Assert.True(g.Accepts("""<tool_call>{"name":"get_weather","arguments":{"city":"abc"}}</tool_call>"""));
        Assert.False(g.Accepts("""<tool_call>{"name":"get_weather","arguments":{"city":"abcd"}}</tool_call>"""));
    }

    [Fact]
    public void Parallel_calls_and_think_blocks_are_unbounded()
    {
        Assert.Null(ToolCallGrammar.Build(Weather, ToolChoiceMode.Required, parallel: true, allowThinking: false,
            options: JsonGrammarOptions.Default with { MaxStringLength = 0 }).LongestOutputBytes());
        Assert.Null(ToolCallGrammar.Build(Weather, ToolChoiceMode.Required, parallel: false, allowThinking: true,
            options: JsonGrammarOptions.Default with { MaxStringLength = 0 }).LongestOutputBytes());
    }

    [Theory]
    [InlineData("start: \"a\" b\nb: /[0-9]+/", "a12", "a")]
    [InlineData("start: x+\nx: \"ab\" | \"c\" -> alias\n", "abcab", "abd")]
    [InlineData("start: [\"-\"] INT\n%import common.INT", "-42", "--4")]
    [InlineData("start: (\"x\" LF) ~ 2\n%import common.LF", "x\nx\n", "x\n")]
    public void Lark_grammars_become_regexes_of_the_whole_input(string lark, string accepted, string refused)
    {
        var regex = new System.Text.RegularExpressions.Regex(LarkToRegex.Convert(lark, "/g"));
        Assert.Matches(regex, accepted);
        Assert.DoesNotMatch(regex, refused);
    }
}
