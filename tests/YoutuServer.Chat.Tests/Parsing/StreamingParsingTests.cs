using YoutuServer.Chat.Parsing;
using static YoutuServer.Chat.Tests.Parsing.ParsingHarness;

namespace YoutuServer.Chat.Tests.Parsing;

public sealed class StreamingParsingTests
{
    [Fact]
    public void Partial_tool_call_tag_is_held_back_then_arguments_stream()
    {
        var (output, d) = Stream(
            ["Hello <tool_", "call>{\"name\": \"f\", \"arguments\": {\"a\"", ": 1", "}", "}", "</tool_call>"],
            NoThinkingTools);

        Assert.Equal([OutputEvent.Content("Hello")], d[0]);
        Assert.Equal([OutputEvent.ToolCallStart(0, "call_0", "f"), OutputEvent.ToolCallArguments(0, "{\"a\"")], d[1]);
        Assert.Equal([OutputEvent.ToolCallArguments(0, ": 1")], d[2]);
        Assert.Equal([OutputEvent.ToolCallArguments(0, "}")], d[3]);
        Assert.Empty(d[4]); // the outer brace is not part of the arguments
        Assert.Empty(d[5]);
        Assert.Empty(d[6]);
        AssertOutput(output, "Hello", null, ("f", "{\"a\": 1}"));
    }

    [Fact]
    public void Partial_tag_that_turns_out_to_be_text_is_released()
    {
        var (output, d) = Stream(["a <tool_", "x> b"], NoThinkingTools);
        Assert.Equal([OutputEvent.Content("a")], d[0]);
        Assert.Equal([OutputEvent.Content(" <tool_x> b")], d[1]);
        AssertOutput(output, "a <tool_x> b", null);
    }

    [Fact]
    public void Partial_close_think_is_held_back()
    {
        var (output, d) = Stream(["<thi", "nk>\nabc\n</thi", "nk>\n\nxyz"], Thinking);
        Assert.Empty(d[0]);
        Assert.Equal([OutputEvent.Reasoning("abc")], d[1]);
        Assert.Equal([OutputEvent.Content("xyz")], d[2]);
        AssertOutput(output, "xyz", "abc");
    }

    [Fact]
    public void Reasoning_streams_before_the_block_closes()
    {
        var (_, d) = Stream(["<think>\n", "one", " two", "\n", "three", "\n</think>"], Thinking);
        Assert.Empty(d[0]);
        Assert.Equal([OutputEvent.Reasoning("one")], d[1]);
        Assert.Equal([OutputEvent.Reasoning(" two")], d[2]);
        Assert.Empty(d[3]); // trailing whitespace waits: it may precede </think>
        Assert.Equal([OutputEvent.Reasoning("\nthree")], d[4]);
        Assert.Empty(d[5]);
    }

    [Fact]
    public void Content_whitespace_is_held_only_when_tool_calls_are_parsed()
    {
        var (_, plain) = Stream(["a", "\n", "b"], NoThinking);
        Assert.Equal([OutputEvent.Content("\n")], plain[1]);

        var (_, tools) = Stream(["a", "\n", "b"], NoThinkingTools);
        Assert.Empty(tools[1]);
        Assert.Equal([OutputEvent.Content("\nb")], tools[2]);
    }

    [Fact]
    public void Events_of_one_delta_come_in_order()
    {
        var (_, d) = Stream(["<think>r</think>c <tool_call>{\"name\": \"f\", \"arguments\": [1]}</tool_call> d"], ThinkingTools);
        Assert.Equal(
            [
                OutputEvent.Reasoning("r"),
                OutputEvent.Content("c"),
                OutputEvent.ToolCallStart(0, "call_0", "f"),
                OutputEvent.ToolCallArguments(0, "[1]"),
                OutputEvent.Content(" d"),
            ],
            d[0]);
    }

    [Fact]
    public void Decoded_surrogate_pair_is_never_split_across_deltas()
    {
        var (output, d) = Stream(["<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"e\\\": \\\"x\\ud83d", "\\ude00\\\"}\"}</tool_call>"], NoThinkingTools);
        Assert.Equal("{\"e\": \"x", Concat(d[0], OutputEventKind.ToolCallArgumentsDelta));
        Assert.Equal("😀\"}", Concat(d[1], OutputEventKind.ToolCallArgumentsDelta));
        AssertOutput(output, null, null, ("f", "{\"e\": \"x😀\"}"));
    }

    [Fact]
    public void Surrogate_pairs_in_text_stay_whole_when_fed_char_by_char()
    {
        const string text = "<think>🤔 思考 🧠</think>\n\n答案 😀👍🏽";
        var (output, perDelta) = Stream(CharByChar(text), ThinkingTools);
        AssertOutput(output, "答案 😀👍🏽", "🤔 思考 🧠");
        CheckInvariants(perDelta.SelectMany(e => e).ToList());
    }

    [Fact]
    public void Every_tag_split_at_every_position()
    {
        string[] samples =
        [
            "<think>\nA\n</think>\n\nB<tool_call>{\"name\": \"n\", \"arguments\": {\"k\": \"</tool_call>\"}}</tool_call>\n<tool_call>{\"arguments\": {}, \"name\": \"m\"}</tool_call>",
            "<think>x<tool_call>{\"name\": \"n\"}</tool_call></think><tool_call>{\"name\": \"n\"}</tool_call>",
            "< <t <th <thi <think <think> <</ </t </think>",
            "<tool_call><tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call></tool_call>",
        ];
        foreach (var sample in samples)
        {
            foreach (var options in AllOptions)
            {
                ParseEveryWay(sample, options);
            }
        }
    }

    [Fact]
    public void Arguments_text_streams_incrementally_with_exact_final_value()
    {
        const string args = "{\"path\": \"/tmp/a b\", \"lines\": [1, 2, 3], \"opts\": {\"deep\": {\"x\": \"}}]]\"}}}";
        var text = "<tool_call>{\"name\": \"read\", \"arguments\": " + args + "}</tool_call>";
        var (output, perDelta) = Stream(CharByChar(text), NoThinkingTools);
        AssertOutput(output, null, null, ("read", args));

        // One argument fragment per char of the value, each sent as soon as its char arrived.
        var fragments = perDelta.SelectMany(e => e).Where(e => e.Kind == OutputEventKind.ToolCallArgumentsDelta).ToList();
        Assert.Equal(args.Length, fragments.Count);
    }
}
