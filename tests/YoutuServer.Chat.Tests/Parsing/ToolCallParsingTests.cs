using System.Text.Json;
using YoutuServer.Chat.Parsing;
using static YoutuServer.Chat.Tests.Parsing.ParsingHarness;

namespace YoutuServer.Chat.Tests.Parsing;

public sealed class ToolCallParsingTests
{
    private const string Weather = "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}</tool_call>";
    private const string Lyon = "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Lyon\"}}</tool_call>";

    [Fact]
    public void Single_call_after_reasoning()
    {
        var output = ParseEveryWay("<think>\nneed tool\n</think>\n\n" + Weather, ThinkingTools);
        AssertOutput(output, null, "need tool", ("get_weather", "{\"city\": \"Paris\"}"));
    }

    [Fact]
    public void Two_calls_separated_by_newline()
    {
        var output = ParseEveryWay("<think>\nx\n</think>\n\n" + Weather + "\n" + Lyon, ThinkingTools);
        AssertOutput(output, null, "x", ("get_weather", "{\"city\": \"Paris\"}"), ("get_weather", "{\"city\": \"Lyon\"}"));
    }

    [Fact]
    public void Calls_without_thinking_and_qwen_style_newlines_inside_tags()
    {
        var output = ParseEveryWay("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": [1, 2]}}\n</tool_call>", NoThinkingTools);
        AssertOutput(output, null, null, ("f", "{\"a\": [1, 2]}"));
    }

    [Fact]
    public void Content_before_call_loses_trailing_whitespace()
    {
        var output = ParseEveryWay("<think>r</think>\n\nLet me check.\n" + Weather + "\n", ThinkingTools);
        AssertOutput(output, "Let me check.", "r", ("get_weather", "{\"city\": \"Paris\"}"));
    }

    [Fact]
    public void Text_after_calls_is_content_joined_by_the_whitespace_before_the_calls()
    {
        var output = ParseEveryWay("Let me check.\n" + Weather + "\n" + Lyon + "\n\nDone.\n", NoThinkingTools);
        AssertOutput(output, "Let me check.\nDone.\n", null, ("get_weather", "{\"city\": \"Paris\"}"), ("get_weather", "{\"city\": \"Lyon\"}"));

        output = ParseEveryWay(Weather + "  trailing", NoThinkingTools);
        AssertOutput(output, "trailing", null, ("get_weather", "{\"city\": \"Paris\"}"));

        output = ParseEveryWay(Weather + " \n\t ", NoThinkingTools);
        AssertOutput(output, null, null, ("get_weather", "{\"city\": \"Paris\"}"));
    }

    [Fact]
    public void Text_between_calls_is_content()
    {
        var output = ParseEveryWay("A " + Weather + " B " + Lyon + " C", NoThinkingTools);
        AssertOutput(output, "A B C", null, ("get_weather", "{\"city\": \"Paris\"}"), ("get_weather", "{\"city\": \"Lyon\"}"));
    }

    [Fact]
    public void Arguments_before_name()
    {
        var output = ParseEveryWay("<tool_call>{\"arguments\": {\"q\": \"x}\"}, \"name\": \"search\"}</tool_call>", NoThinkingTools);
        AssertOutput(output, null, null, ("search", "{\"q\": \"x}\"}"));
    }

    [Fact]
    public void Arguments_before_name_is_sent_only_when_the_object_closes()
    {
        var (output, perDelta) = Stream(
            ["<tool_call>{\"arguments\": {\"q\": 1}", ", \"name\": \"search\"", "}", "</tool_call>"], NoThinkingTools);
        Assert.Empty(perDelta[0]);
        Assert.Empty(perDelta[1]);
        Assert.Equal(
            [OutputEvent.ToolCallStart(0, "call_0", "search"), OutputEvent.ToolCallArguments(0, "{\"q\": 1}")],
            perDelta[2]);
        AssertOutput(output, null, null, ("search", "{\"q\": 1}"));
    }

    [Fact]
    public void Nested_arguments_with_braces_and_tags_inside_strings()
    {
        const string args = "{\"code\": \"if (x) { return \\\"}\\\"; }\", \"html\": \"</tool_call><tool_call>\", \"deep\": {\"a\": [{\"b\": \"]}\"}, []]}}";
        var output = ParseEveryWay("<tool_call>{\"name\": \"run\", \"arguments\": " + args + "}</tool_call>", NoThinkingTools);
        AssertOutput(output, null, null, ("run", args));
        using var doc = JsonDocument.Parse(output.ToolCalls[0].Arguments);
        Assert.Equal("</tool_call><tool_call>", doc.RootElement.GetProperty("html").GetString());
    }

    [Fact]
    public void Arguments_written_as_a_json_string_are_decoded()
    {
        var output = ParseEveryWay("<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"city\\\": \\\"Paris \\u00e9\\ud83d\\ude00\\\"}\"}</tool_call>", NoThinkingTools);
        AssertOutput(output, null, null, ("f", "{\"city\": \"Paris é😀\"}"));
    }

    [Fact]
    public void Missing_null_or_empty_arguments_become_empty_object()
    {
        AssertOutput(ParseEveryWay("<tool_call>{\"name\": \"now\"}</tool_call>", NoThinkingTools), null, null, ("now", "{}"));
        AssertOutput(ParseEveryWay("<tool_call>{\"name\": \"now\", \"arguments\": null}</tool_call>", NoThinkingTools), null, null, ("now", "{}"));
        AssertOutput(ParseEveryWay("<tool_call>{\"name\": \"now\", \"arguments\": \"\"}</tool_call>", NoThinkingTools), null, null, ("now", "{}"));
        AssertOutput(ParseEveryWay("<tool_call>{\"name\": \"now\", \"arguments\": {}}</tool_call>", NoThinkingTools), null, null, ("now", "{}"));
        AssertOutput(ParseEveryWay("<tool_call>{\"arguments\":null,\"name\":\"now\"}</tool_call>", NoThinkingTools), null, null, ("now", "{}"));
    }

    [Fact]
    public void Other_scalar_arguments_and_extra_keys()
    {
        AssertOutput(ParseEveryWay("<tool_call>{\"name\": \"n\", \"arguments\": 42 }</tool_call>", NoThinkingTools), null, null, ("n", "42"));
        AssertOutput(
            ParseEveryWay("<tool_call>{\"type\": \"function\", \"name\": \"n\", \"id\": [1, {\"x\": \"}\"}], \"arguments\": {\"a\": true}, \"name\": \"other\"}</tool_call>", NoThinkingTools),
            null, null, ("n", "{\"a\": true}"));
    }

    [Fact]
    public void Escaped_name_is_decoded()
    {
        AssertOutput(ParseEveryWay("<tool_call>{\"n\\u0061me\": \"get_\\u0077eather\", \"arguments\": {}}</tool_call>", NoThinkingTools), null, null, ("get_weather", "{}"));
    }

    [Theory]
    [InlineData("<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}</tool_call>")] // started: missing outer brace is tolerated
    [InlineData("<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}}</tool_call>")] // extra brace
    [InlineData("<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}} junk</tool_call>")]
    [InlineData("<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}")] // no close tag at end of output
    [InlineData("<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}</tool_c")] // truncated close tag
    public void Started_call_survives_junk_after_its_arguments(string text)
    {
        AssertOutput(ParseEveryWay(text, NoThinkingTools), null, null, ("f", "{\"a\": 1}"));
    }

    [Fact]
    public void Forgotten_close_tag_is_implied_by_the_next_call()
    {
        var output = ParseEveryWay(Weather.Replace("</tool_call>", "\n", StringComparison.Ordinal) + Lyon, NoThinkingTools);
        AssertOutput(output, null, null, ("get_weather", "{\"city\": \"Paris\"}"), ("get_weather", "{\"city\": \"Lyon\"}"));
    }

    [Theory]
    [InlineData("<tool_call>not json</tool_call>")]
    [InlineData("<tool_call>{\"arguments\": {}}</tool_call>")] // no name
    [InlineData("<tool_call>{\"name\": 5, \"arguments\": {}}</tool_call>")]
    [InlineData("<tool_call>{\"name\": \"\", \"arguments\": {}}</tool_call>")]
    [InlineData("<tool_call>{\"name\": \"f\",}</tool_call>")] // trailing comma
    [InlineData("<tool_call>{\"name\": \"f\" \"arguments\": {}}</tool_call>")] // missing comma
    [InlineData("<tool_call>{\"arguments\": {\"a\": 01}, \"name\": \"f\"}</tool_call>")] // invalid number, caught by validation
    [InlineData("<tool_call>{\"arguments\": {\"a\": tru}, \"name\": \"f\"}</tool_call>")]
    [InlineData("<tool_call>{\"name\": \"f\\x\"}</tool_call>")] // bad escape
    [InlineData("<tool_call>{}</tool_call>")]
    [InlineData("<tool_call></tool_call>")]
    [InlineData("<tool_call>{\"name\": \"f\", \"arguments\": ")] // unterminated before the arguments value began
    [InlineData("<tool_call>{\"name\": \"f\", \"arguments\": x}</tool_call>")] // not a JSON value: never started
    [InlineData("<tool_call>{\"name\": \"f\"")]
    [InlineData("<tool_call>")]
    [InlineData("<tool_call")]
    public void Malformed_call_is_verbatim_content(string text)
    {
        AssertOutput(ParseEveryWay(text, NoThinkingTools), text, null);
        AssertOutput(ParseEveryWay("Before\n" + text, NoThinkingTools), "Before\n" + text, null);
        AssertOutput(ParseEveryWay("<think>r</think>\n\nBefore " + text + " after", ThinkingTools), "Before " + text + " after", "r");
    }

    [Fact]
    public void Malformed_call_ends_at_the_first_literal_close_tag_and_parsing_resumes()
    {
        const string bad = "<tool_call>{\"name\": \"f\", \"x\": \"</tool_call>\" oops</tool_call>";
        var output = ParseEveryWay("A " + bad + "\n" + Weather, NoThinkingTools);
        // The scanner knew the first </tool_call> was inside a string; the error came later, at "oops".
        AssertOutput(output, "A " + bad, null, ("get_weather", "{\"city\": \"Paris\"}"));
    }

    [Fact]
    public void Started_call_that_breaks_keeps_the_arguments_already_sent()
    {
        var output = ParseEveryWay("<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1]}</tool_call>after", NoThinkingTools);
        AssertOutput(output, "after", null, ("f", "{\"a\": 1"));
    }

    [Fact]
    public void Truncated_started_call_keeps_partial_arguments()
    {
        AssertOutput(ParseEveryWay("<tool_call>{\"name\": \"f\", \"arguments\": {\"city\": \"Par", NoThinkingTools), null, null, ("f", "{\"city\": \"Par"));
        AssertOutput(ParseEveryWay("<tool_call>{\"name\": \"f\", \"arguments\": \"", NoThinkingTools), null, null, ("f", "{}"));
        AssertOutput(ParseEveryWay("<tool_call>{\"name\": \"f\", \"arguments\": nu", NoThinkingTools), null, null, ("f", "nu"));
        AssertOutput(ParseEveryWay("<tool_call>{\"name\": \"f\", \"arguments\": null", NoThinkingTools), null, null, ("f", "{}"));
    }

    [Fact]
    public void Truncated_call_whose_arguments_came_first_is_content()
    {
        const string text = "Hi <tool_call>{\"arguments\": {\"a\": 1}, \"name\": \"f\"";
        AssertOutput(ParseEveryWay(text, NoThinkingTools), text, null);
    }

    [Fact]
    public void Max_tool_calls_drops_every_later_block()
    {
        var output = ParseEveryWay("<think>r</think>" + Weather + "\n" + Lyon + "\n<tool_call>broken</tool_call>\n" + Lyon, OneCall);
        AssertOutput(output, null, "r", ("get_weather", "{\"city\": \"Paris\"}"));

        output = ParseEveryWay("A\n" + Weather + "\n" + Lyon + "\nB", OneCall);
        AssertOutput(output, "A\nB", null, ("get_weather", "{\"city\": \"Paris\"}"));

        var none = new OutputParserOptions { ParseToolCalls = true, MaxToolCalls = 0 };
        AssertOutput(ParseEveryWay("A " + Weather, none), "A", null);
    }

    [Fact]
    public void Malformed_blocks_do_not_count_towards_the_limit()
    {
        var output = ParseEveryWay("<tool_call>oops</tool_call>\n" + Weather, OneCall);
        AssertOutput(output, "<tool_call>oops</tool_call>", null, ("get_weather", "{\"city\": \"Paris\"}"));
    }

    [Fact]
    public void Tool_calls_are_content_when_not_parsed()
    {
        AssertOutput(ParseEveryWay("<think>r</think>\n\n" + Weather + "\n", Thinking), Weather + "\n", "r");
    }

    [Fact]
    public void Multibyte_text_in_names_arguments_and_content()
    {
        var output = ParseEveryWay("<think>想一想 🤔</think>\n\n好的 😀\n<tool_call>{\"name\": \"翻译\", \"arguments\": {\"text\": \"你好，世界 👋🏽\"}}</tool_call>", ThinkingTools);
        AssertOutput(output, "好的 😀", "想一想 🤔", ("翻译", "{\"text\": \"你好，世界 👋🏽\"}"));
    }

    [Fact]
    public void Default_ids_look_like_openai_ids()
    {
        var output = AssistantOutputParser.ParseComplete(Weather + Lyon, NoThinkingTools);
        Assert.Equal(2, output.ToolCalls.Count);
        foreach (var call in output.ToolCalls)
        {
            Assert.Matches("^call_[A-Za-z0-9]{24}$", call.Id);
        }

        Assert.NotEqual(output.ToolCalls[0].Id, output.ToolCalls[1].Id);
    }

    [Fact]
    public void Negative_max_tool_calls_is_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new AssistantOutputParser(new OutputParserOptions { MaxToolCalls = -1 }));
    }

    [Fact]
    public void Feed_after_finish_throws()
    {
        var parser = new AssistantOutputParser(OutputParserOptions.Default);
        var events = new List<OutputEvent>();
        parser.Finish(events);
        Assert.Throws<InvalidOperationException>(() => parser.Feed("x", events));
        Assert.Throws<InvalidOperationException>(() => parser.Finish(events));
    }
}
