using System.Text;
using YoutuServer.Chat.Parsing;

namespace YoutuServer.Chat.Tests.Parsing;

/// <summary>Runs the parser over chosen splits and checks the streaming invariants every run must keep.</summary>
internal static class ParsingHarness
{
    public static readonly OutputParserOptions Thinking = new();
    public static readonly OutputParserOptions ThinkingTools = new() { ParseToolCalls = true };
    public static readonly OutputParserOptions NoThinking = new() { ThinkingEnabled = false };
    public static readonly OutputParserOptions NoThinkingTools = new() { ThinkingEnabled = false, ParseToolCalls = true };
    public static readonly OutputParserOptions Forced = new() { StartsInReasoning = true };
    public static readonly OutputParserOptions ForcedTools = new() { StartsInReasoning = true, ParseToolCalls = true };
    public static readonly OutputParserOptions Raw = new() { ReasoningFormat = ReasoningFormat.Raw };
    public static readonly OutputParserOptions RawTools = new() { ReasoningFormat = ReasoningFormat.Raw, ParseToolCalls = true };
    public static readonly OutputParserOptions OneCall = new() { ParseToolCalls = true, MaxToolCalls = 1 };

    public static readonly OutputParserOptions[] AllOptions =
        [Thinking, ThinkingTools, NoThinking, NoThinkingTools, Forced, ForcedTools, Raw, RawTools, OneCall];

    /// <summary>Deterministic ids: call_0, call_1, … per parser.</summary>
    public static OutputParserOptions WithIds(OutputParserOptions options)
    {
        var next = 0;
        return options with { ToolCallIdGenerator = () => "call_" + next++ };
    }

    public static ParsedAssistantOutput Complete(string text, OutputParserOptions options) =>
        AssistantOutputParser.ParseComplete(text, WithIds(options));

    public static (ParsedAssistantOutput Output, List<List<OutputEvent>> PerDelta) Stream(
        IEnumerable<string> deltas, OutputParserOptions options)
    {
        var parser = new AssistantOutputParser(WithIds(options));
        var perDelta = new List<List<OutputEvent>>();
        foreach (var delta in deltas)
        {
            var events = new List<OutputEvent>();
            parser.Feed(delta, events);
            perDelta.Add(events);
        }

        var last = new List<OutputEvent>();
        parser.Finish(last);
        perDelta.Add(last);
        var all = perDelta.SelectMany(e => e).ToList();
        CheckInvariants(all);
        var accumulator = new OutputAccumulator();
        accumulator.AddRange(all);
        Assert.Equal(parser.ToolCallCount, accumulator.ToolCallCount);
        return (accumulator.Build(), perDelta);
    }

    public static ParsedAssistantOutput StreamOutput(IEnumerable<string> deltas, OutputParserOptions options) =>
        Stream(deltas, options).Output;

    public static void CheckInvariants(List<OutputEvent> events)
    {
        var started = 0;
        foreach (var e in events)
        {
            switch (e.Kind)
            {
                case OutputEventKind.ToolCallStart:
                    Assert.Equal(started, e.ToolCallIndex);
                    Assert.False(string.IsNullOrEmpty(e.ToolCallId));
                    Assert.False(string.IsNullOrEmpty(e.ToolCallName));
                    started++;
                    break;
                case OutputEventKind.ToolCallArgumentsDelta:
                    Assert.InRange(e.ToolCallIndex, 0, started - 1);
                    Assert.NotEmpty(e.Text);
                    break;
                default:
                    Assert.NotEmpty(e.Text);
                    Assert.Equal(-1, e.ToolCallIndex);
                    break;
            }

            if (e.Text.Length > 0)
            {
                // A well-formed input never yields a delta that ends inside a surrogate pair.
                Assert.False(char.IsHighSurrogate(e.Text[^1]), $"event ends with a high surrogate: {e}");
                Assert.False(char.IsLowSurrogate(e.Text[0]), $"event starts with a low surrogate: {e}");
            }
        }
    }

    public static void AssertSame(ParsedAssistantOutput expected, ParsedAssistantOutput actual, string context = "")
    {
        Assert.True(expected.Content == actual.Content, $"content differs {context}\nexpected: {Show(expected.Content)}\nactual:   {Show(actual.Content)}");
        Assert.True(expected.Reasoning == actual.Reasoning, $"reasoning differs {context}\nexpected: {Show(expected.Reasoning)}\nactual:   {Show(actual.Reasoning)}");
        Assert.True(expected.ToolCalls.SequenceEqual(actual.ToolCalls), $"tool calls differ {context}\nexpected: {string.Join(", ", expected.ToolCalls)}\nactual:   {string.Join(", ", actual.ToolCalls)}");
    }

    public static void AssertOutput(ParsedAssistantOutput actual, string? content, string? reasoning, params (string Name, string Arguments)[] calls)
    {
        Assert.Equal(content, actual.Content);
        Assert.Equal(reasoning, actual.Reasoning);
        Assert.Equal(calls.Length, actual.ToolCalls.Count);
        for (var i = 0; i < calls.Length; i++)
        {
            Assert.Equal(i, actual.ToolCalls[i].Index);
            Assert.Equal("call_" + i, actual.ToolCalls[i].Id);
            Assert.Equal(calls[i].Name, actual.ToolCalls[i].Name);
            Assert.Equal(calls[i].Arguments, actual.ToolCalls[i].Arguments);
        }
    }

    /// <summary>Parses whole, one char at a time, and at every two-way split; all must agree. Returns the whole parse.</summary>
    public static ParsedAssistantOutput ParseEveryWay(string text, OutputParserOptions options)
    {
        var expected = Complete(text, options);
        AssertSame(expected, StreamOutput(CharByChar(text), options), "(char by char)");
        for (var i = 0; i <= text.Length; i++)
        {
            if (i > 0 && i < text.Length && char.IsLowSurrogate(text[i]))
            {
                continue;
            }

            AssertSame(expected, StreamOutput([text[..i], text[i..]], options), $"(split at {i})");
        }

        return expected;
    }

    /// <summary>One delta per char, keeping surrogate pairs together (deltas are complete strings).</summary>
    public static IEnumerable<string> CharByChar(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length)
            {
                yield return text.Substring(i++, 2);
            }
            else
            {
                yield return text[i].ToString();
            }
        }
    }

    /// <summary>Random pieces of 0..maxPiece chars (empty deltas included), never cutting a surrogate pair.</summary>
    public static List<string> RandomSplit(string text, Random random, int maxPiece = 8)
    {
        var pieces = new List<string>();
        var i = 0;
        while (i < text.Length)
        {
            var n = Math.Min(random.Next(0, maxPiece + 1), text.Length - i);
            if (n > 0 && i + n < text.Length && char.IsLowSurrogate(text[i + n]))
            {
                n++;
            }

            pieces.Add(text.Substring(i, n));
            i += n;
        }

        return pieces;
    }

    private static string Show(string? s) => s is null ? "<null>" : "\"" + s.Replace("\n", "\\n", StringComparison.Ordinal) + "\"";

    public static string Concat(IEnumerable<OutputEvent> events, OutputEventKind kind)
    {
        var sb = new StringBuilder();
        foreach (var e in events.Where(e => e.Kind == kind))
        {
            sb.Append(e.Text);
        }

        return sb.ToString();
    }
}
