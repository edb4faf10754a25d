using System.Text.Json;
using YoutuServer.Chat.Messages;
using YoutuServer.Chat.Parsing;
using YoutuServer.Generation;

namespace YoutuServer.Tests.Generation;

public sealed class OutputMemoryTests
{
    private static ParsedAssistantOutput Output(string? reasoning, string? content, params (string Name, string Args)[] calls) =>
        new(content, reasoning, calls.Select((c, i) => new ParsedToolCall(i, "call_" + i, c.Name, c.Args)).ToArray());

    [Fact]
    public void A_turn_sent_back_as_returned_finds_the_tokens_it_was_generated_with()
    {
        var memory = new OutputMemory();
        var output = Output("why", null, ("get_weather", "{ \"city\":\"Paris\" }"));
        memory.Remember(OutputMemory.KeyOf(output), "<think>\nwhy\n</think>\n\n<tool_call>…", [1, 2, 3]);

        // What a client echoes: content null or "", the arguments string untouched.
        foreach (var content in new[] { null, "" })
        {
            var echoed = new ChatMessage
            {
                Role = ChatRoles.Assistant,
                Content = content,
                Reasoning = "why",
                ToolCalls = [ChatToolCall.FromArgumentsString("call_0", "get_weather", "{ \"city\":\"Paris\" }")],
            };
            Assert.True(memory.TryRecall(OutputMemory.KeyOf(echoed), out var text, out var tokens));
            Assert.Equal([1, 2, 3], tokens);
            Assert.StartsWith("<think>\nwhy", text, StringComparison.Ordinal);
        }

        // Anything the client changed is a different turn: rendered from its fields instead.
        var edited = new ChatMessage
        {
            Role = ChatRoles.Assistant,
            Reasoning = "why",
            ToolCalls = [ChatToolCall.FromArgumentsString("call_0", "get_weather", "{\"city\":\"Paris\"}")],
        };
        Assert.False(memory.TryRecall(OutputMemory.KeyOf(edited), out _, out _));
        Assert.False(memory.TryRecall(OutputMemory.KeyOf(new ChatMessage(ChatRoles.Assistant, "why")), out _, out _));
    }

    [Fact]
    public void Arguments_sent_as_a_json_object_match_their_raw_text()
    {
        var memory = new OutputMemory();
        memory.Remember(OutputMemory.KeyOf(Output(null, "x", ("f", "{\"a\": 1}"))), "x", [7]);
        using var doc = JsonDocument.Parse("{\"a\": 1}");
        var echoed = new ChatMessage { Role = ChatRoles.Assistant, Content = "x", ToolCalls = [new ChatToolCall("c", "f", doc.RootElement.Clone())] };
        Assert.True(memory.TryRecall(OutputMemory.KeyOf(echoed), out _, out _));
    }

    [Fact]
    public void Bounded_by_entries_and_tokens_least_recently_used_first_out()
    {
        var memory = new OutputMemory(maxEntries: 2, maxTokens: 10);
        string K(string s) => OutputMemory.KeyOf(Output(null, s));
        memory.Remember(K("a"), "a", [1, 2, 3]);
        memory.Remember(K("b"), "b", [4, 5, 6]);
        Assert.True(memory.TryRecall(K("a"), out _, out _)); // a is now the most recent
        memory.Remember(K("c"), "c", [7]);
        Assert.Equal(2, memory.Count);
        Assert.False(memory.TryRecall(K("b"), out _, out _));
        Assert.True(memory.TryRecall(K("a"), out _, out _));

        memory.Remember(K("d"), "d", [.. Enumerable.Range(0, 9)]); // 9 + 1 or 3 tokens: over 10, the oldest go
        Assert.True(memory.TryRecall(K("d"), out _, out _));
        Assert.True(memory.Count <= 2);
        memory.Remember(K("huge"), "huge", [.. Enumerable.Range(0, 11)]); // bigger than the whole bound: not kept
        Assert.False(memory.TryRecall(K("huge"), out _, out _));
    }
}
