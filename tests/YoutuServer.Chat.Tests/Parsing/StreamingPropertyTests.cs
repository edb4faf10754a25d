using System.Text;
using YoutuServer.Chat.Parsing;
using static YoutuServer.Chat.Tests.Parsing.ParsingHarness;

namespace YoutuServer.Chat.Tests.Parsing;

/// <summary>Streaming in any split must equal <see cref="AssistantOutputParser.ParseComplete"/>.</summary>
public sealed class StreamingPropertyTests
{
    private const string Call = "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}</tool_call>";

    public static readonly string[] CraftedOutputs =
    [
        "",
        " ",
        "Hello, world!",
        "<think>\nreasoning\n</think>\n\nanswer",
        "  \n<think>\n\n  r1\n\n r2 \n\n</think>\n\n\n a \n",
        "<think>unterminated reasoning with <tool_call> inside",
        "<think>\nfoo\n</think>\n\n" + Call,
        "<think>\nfoo\n</think>\n\nSure.\n" + Call + "\n" + Call + "\n\nDone.",
        Call + Call + "tail",
        "<tool_call>{\"arguments\": {\"a\": \"}\"}, \"name\": \"x\"}</tool_call>",
        "<tool_call>{\"name\": \"x\", \"arguments\": \"{\\\"a\\\": \\\"\\u4f60\\ud83d\\ude00\\\\n\\\"}\"}</tool_call>",
        "<tool_call>{\"name\": \"x\", \"arguments\": {\"s\": \"</tool_call>\\\"}{][\", \"n\": [1, {\"m\": null}]}}</tool_call> after",
        "<tool_call>{\"name\": \"x\", \"arguments\": {\"a\": 1}}}}</tool_call>\n" + Call,
        "<tool_call>{broken json</tool_call>\n" + Call,
        "<tool_call>{\"name\": \"x\", \"arguments\": {\"a\": [1, 2}</tool_call>text",
        "<tool_call>{\"name\": \"x\", \"arguments\": {\"a\": \"unterminated",
        "<tool_call>{\"arguments\": {\"a\": 1}, \"name\"",
        "<tool_call>{\"name\": \"x\", \"arguments\": {}}\n<tool_call>{\"name\": \"y\", \"arguments\": {}}",
        "<tool_call>{\"name\": \"x\", \"arguments\": null, \"arguments\": {\"b\": 2}}</tool_call>",
        "<tool_call>{\"name\": \"x\", \"arguments\": -1.5e3}</tool_call><tool_call>{\"name\": \"x\", \"arguments\": true}</tool_call>",
        "<think>思考 🤔\n</think>\n\n你好 😀 <tool_call>{\"name\": \"翻译\", \"arguments\": {\"t\": \"🌍\"}}</tool_call> 再见 👋",
        "a < b <= c <tool <tool_ <tool_call <tool_callx> </tool_call> <think> </think>",
        "<think><think></think></think>",
        "</think>plain",
        "<tool_call>   \n {  \"name\" : \"sp\" ,  \"arguments\" : { }  }  \n </tool_call>",
        "<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call><tool_call>{\"name\":\"b\",\"arguments\":{}}</tool_call><tool_call>{\"name\":\"c\",\"arguments\":{}}</tool_call>",
        "x\r\n\t\f\v<tool_call>{\"name\":\"a\"}</tool_call>\r\n\ty",
    ];

    public static TheoryData<int> OutputIndexes()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < CraftedOutputs.Length; i++)
        {
            data.Add(i);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(OutputIndexes))]
    public void Random_splits_of_crafted_outputs_match_the_complete_parse(int index)
    {
        var text = CraftedOutputs[index];
        for (var o = 0; o < AllOptions.Length; o++)
        {
            var options = AllOptions[o];
            var expected = Complete(text, options);
            AssertSame(expected, StreamOutput([text], options), $"(single delta, options {o})");
            AssertSame(expected, StreamOutput(CharByChar(text), options), $"(char by char, options {o})");
            for (var seed = 0; seed < 150; seed++)
            {
                var random = new Random(seed * 7919 + index);
                var split = RandomSplit(text, random, maxPiece: 1 + (seed % 12));
                AssertSame(expected, StreamOutput(split, options), $"(options {o}, seed {seed}: [{string.Join("|", split)}])");
            }
        }
    }

    private static readonly string[] Fragments =
    [
        "<think>", "</think>", "<tool_call>", "</tool_call>", "<think", "</thi", "<tool_", "</tool_call", "<", ">", "/",
        "\n", "\n\n", " ", "\t", "text", "答", "😀", "{", "}", "[", "]", "\"", "\\", "\\\"", "\\u", "\\ud83d\\ude00", "00e9",
        ":", ",", "\"name\"", "\"arguments\"", "\"f\"", "null", "1", "-2.5", "true", "{\"name\": \"f\", \"arguments\": ",
        "{\"arguments\": ", ", \"name\": \"g\"}", "{\"a\": \"}\"}", "}}", Call,
    ];

    [Fact]
    public void Fuzzed_outputs_never_throw_and_stream_like_the_complete_parse()
    {
        var random = new Random(12345);
        var sb = new StringBuilder();
        for (var iteration = 0; iteration < 3000; iteration++)
        {
            sb.Clear();
            var pieces = random.Next(1, 25);
            for (var i = 0; i < pieces; i++)
            {
                sb.Append(Fragments[random.Next(Fragments.Length)]);
            }

            var text = sb.ToString();
            var options = AllOptions[random.Next(AllOptions.Length)];
            var expected = Complete(text, options);
            for (var s = 0; s < 4; s++)
            {
                var split = RandomSplit(text, random, maxPiece: 1 + random.Next(10));
                AssertSame(expected, StreamOutput(split, options), $"(text \"{text}\", split [{string.Join("|", split)}])");
            }

            CheckTextIsAccountedFor(text, options, expected);
        }
    }

    /// <summary>Without tool parsing and thinking, content is the text minus leading whitespace; with Raw it is verbatim.</summary>
    private static void CheckTextIsAccountedFor(string text, OutputParserOptions options, ParsedAssistantOutput output)
    {
        if (!options.ParseToolCalls && !options.ThinkingEnabled)
        {
            var trimmed = text.TrimStart(' ', '\t', '\n', '\r', '\f', '\v');
            Assert.Equal(trimmed.Length == 0 ? null : trimmed, output.Content);
            Assert.Null(output.Reasoning);
        }

        if (!options.ParseToolCalls && options.ReasoningFormat == ReasoningFormat.Raw)
        {
            Assert.Equal(text.Length == 0 ? null : text, output.Content);
            Assert.Null(output.Reasoning);
        }

        if (output.ToolCalls.Count > 0)
        {
            Assert.True(options.ParseToolCalls);
            Assert.True(output.ToolCalls.Count <= (options.MaxToolCalls ?? int.MaxValue));
        }
    }
}
