using YoutuServer.Chat.Parsing;
using static YoutuServer.Chat.Tests.Parsing.ParsingHarness;

namespace YoutuServer.Chat.Tests.Parsing;

public sealed class ReasoningParsingTests
{
    [Fact]
    public void Think_block_is_split_out_and_trimmed()
    {
        var output = ParseEveryWay("<think>\nLet me think.\nMore.\n</think>\n\nThe answer is 4.", Thinking);
        AssertOutput(output, "The answer is 4.", "Let me think.\nMore.");
    }

    [Fact]
    public void Whitespace_before_think_is_dropped()
    {
        var output = ParseEveryWay(" \n<think>r</think>a", Thinking);
        AssertOutput(output, "a", "r");
    }

    [Fact]
    public void Inner_whitespace_of_reasoning_and_content_is_kept()
    {
        var output = ParseEveryWay("<think>\n\n a \n\n b \n\n</think>\n\n x \n\n y ", Thinking);
        AssertOutput(output, "x \n\n y ", "a \n\n b");
    }

    [Fact]
    public void Empty_think_block_gives_no_reasoning()
    {
        AssertOutput(ParseEveryWay("<think>\n\n</think>\n\nHello", Thinking), "Hello", null);
        AssertOutput(ParseEveryWay("<think></think>", Thinking), null, null);
    }

    [Fact]
    public void Unterminated_reasoning_is_all_reasoning()
    {
        AssertOutput(ParseEveryWay("<think>\nstill thinking\n", Thinking), null, "still thinking");
        AssertOutput(ParseEveryWay("<think>\nstill thinking </thi", Thinking), null, "still thinking </thi");
        AssertOutput(ParseEveryWay("<think>", Thinking), null, null);
    }

    [Fact]
    public void Output_without_think_is_content()
    {
        AssertOutput(ParseEveryWay("Hello <think>x</think> there", Thinking), "Hello <think>x</think> there", null);
        AssertOutput(ParseEveryWay("\n\nHello", Thinking), "Hello", null);
        AssertOutput(ParseEveryWay("<thinking>x", Thinking), "<thinking>x", null);
        AssertOutput(ParseEveryWay("<thin", Thinking), "<thin", null);
        AssertOutput(ParseEveryWay("a</think>b", Thinking), "a</think>b", null);
    }

    [Fact]
    public void Second_think_tag_after_content_is_content()
    {
        AssertOutput(ParseEveryWay("<think>r</think>a<think>b</think>", Thinking), "a<think>b</think>", "r");
    }

    [Fact]
    public void Thinking_disabled_treats_tags_as_content()
    {
        AssertOutput(ParseEveryWay("<think>r</think>\n\nanswer", NoThinking), "<think>r</think>\n\nanswer", null);
        AssertOutput(ParseEveryWay("\n answer \n", NoThinking), "answer \n", null);
    }

    [Fact]
    public void Thinking_disabled_wins_over_starts_in_reasoning()
    {
        var options = new OutputParserOptions { ThinkingEnabled = false, StartsInReasoning = true };
        AssertOutput(ParseEveryWay("r</think>a", options), "r</think>a", null);
    }

    [Fact]
    public void Forced_thinking_starts_inside_reasoning()
    {
        AssertOutput(ParseEveryWay("\nreasoning here\n</think>\n\nanswer", Forced), "answer", "reasoning here");
        AssertOutput(ParseEveryWay("only reasoning", Forced), null, "only reasoning");
        AssertOutput(ParseEveryWay("<think>x</think>y", Forced), "y", "<think>x");
    }

    [Fact]
    public void Raw_format_keeps_everything_verbatim_in_content()
    {
        const string text = " \n<think>\nr <tool_call>{}\n</think>\n\nanswer\n";
        AssertOutput(ParseEveryWay(text, Raw), text, null);
        AssertOutput(ParseEveryWay("\nr\n</think>\n\na", Raw with { StartsInReasoning = true }), "\nr\n</think>\n\na", null);
    }

    [Fact]
    public void Raw_format_still_tracks_the_think_block_for_tool_calls()
    {
        const string call = "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>";
        var output = ParseEveryWay("<think>\n" + call + "\n</think>\n\n" + call, RawTools);
        AssertOutput(output, "<think>\n" + call + "\n</think>", null, ("f", "{}"));
    }

    [Fact]
    public void Tool_call_inside_reasoning_is_reasoning_text()
    {
        const string call = "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}</tool_call>";
        var output = ParseEveryWay("<think>\nmaybe " + call + "\n</think>\n\nNo call.", ThinkingTools);
        AssertOutput(output, "No call.", "maybe " + call);

        output = ParseEveryWay("<think>\n" + call, ThinkingTools);
        AssertOutput(output, null, call);

        output = ParseEveryWay("I think " + call, ForcedTools);
        AssertOutput(output, null, "I think " + call);
    }

    [Fact]
    public void Near_miss_tags_in_reasoning_are_text()
    {
        AssertOutput(ParseEveryWay("<think>a </thinx b <</ </think>c", Thinking), "c", "a </thinx b <</");
        AssertOutput(ParseEveryWay("<think>a<</think>c", Thinking), "c", "a<");
        AssertOutput(ParseEveryWay("<<think>x", Thinking), "<<think>x", null);
    }
}
