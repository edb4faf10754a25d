using System.Text.Json;
using YoutuServer.Chat.Messages;
using YoutuServer.Chat.Parsing;
using YoutuServer.Generation;
using YoutuServer.State;

namespace YoutuServer.Tests.State;

/// <summary>The output memory through its interface, keyed by <see cref="OutputMemoryKeys"/>.</summary>
public sealed class OutputMemoryTests
{
    private static readonly TenantId Tenant = TenantId.Anonymous;

    private static ParsedAssistantOutput Output(string? reasoning, string? content, params (string Name, string Args)[] calls) =>
        new(content, reasoning, calls.Select((c, i) => new ParsedToolCall(i, "call_" + i, c.Name, c.Args)).ToArray());

    private static InMemoryOutputMemory Memory(int items = 4096, long bytes = 1 << 26) => new(CacheBounds.Of(items, bytes));

    [Fact]
    public async Task A_turn_sent_back_as_returned_finds_the_tokens_it_was_generated_with()
    {
        using var memory = Memory();
        var output = Output("why", null, ("get_weather", "{ \"city\":\"Paris\" }"));
        await memory.RememberAsync(Tenant, OutputMemoryKeys.Of(output), new RememberedOutput("<think>\nwhy\n</think>\n\n<tool_call>…", [1, 2, 3]), default);

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
            var turn = await memory.RecallAsync(Tenant, OutputMemoryKeys.Of(echoed), default);
            Assert.NotNull(turn);
            Assert.Equal([1, 2, 3], turn.Tokens);
            Assert.StartsWith("<think>\nwhy", turn.Text, StringComparison.Ordinal);
        }

        // Anything the client changed is a different turn: rendered from its fields instead.
        var edited = new ChatMessage
        {
            Role = ChatRoles.Assistant,
            Reasoning = "why",
            ToolCalls = [ChatToolCall.FromArgumentsString("call_0", "get_weather", "{\"city\":\"Paris\"}")],
        };
        Assert.Null(await memory.RecallAsync(Tenant, OutputMemoryKeys.Of(edited), default));
        Assert.Null(await memory.RecallAsync(Tenant, OutputMemoryKeys.Of(new ChatMessage(ChatRoles.Assistant, "why")), default));

        // Another tenant does not see it.
        Assert.Null(await memory.RecallAsync(new TenantId("key:other"), OutputMemoryKeys.Of(output), default));

        // Nor does a request of another prefix-cache scope (cache_salt) of the same tenant: keys are scoped.
        await memory.RememberAsync(Tenant, OutputMemoryKeys.Of(output, "salt-a"), new RememberedOutput("x", [1]), default);
        Assert.NotEqual(OutputMemoryKeys.Of(output, "salt-a"), OutputMemoryKeys.Of(output, "salt-b"));
        Assert.NotEqual(OutputMemoryKeys.Of(output, "salt-a"), OutputMemoryKeys.Of(output));
        Assert.Null(await memory.RecallAsync(Tenant, OutputMemoryKeys.Of(output, "salt-b"), default));
        Assert.NotNull(await memory.RecallAsync(Tenant, OutputMemoryKeys.Of(output, "salt-a"), default));
    }

    [Fact]
    public async Task Arguments_sent_as_a_json_object_match_their_raw_text()
    {
        using var memory = Memory();
        await memory.RememberAsync(Tenant, OutputMemoryKeys.Of(Output(null, "x", ("f", "{\"a\": 1}"))), new RememberedOutput("x", [7]), default);
        using var doc = JsonDocument.Parse("{\"a\": 1}");
        var echoed = new ChatMessage { Role = ChatRoles.Assistant, Content = "x", ToolCalls = [new ChatToolCall("c", "f", doc.RootElement.Clone())] };
        Assert.NotNull(await memory.RecallAsync(Tenant, OutputMemoryKeys.Of(echoed), default));
    }

    [Fact]
    public async Task Bounded_by_entries_least_recently_used_first_out()
    {
        using var memory = Memory(items: 2);
        string K(string s) => OutputMemoryKeys.Of(Output(null, s));
        await memory.RememberAsync(Tenant, K("a"), new RememberedOutput("a", [1, 2, 3]), default);
        await memory.RememberAsync(Tenant, K("b"), new RememberedOutput("b", [4, 5, 6]), default);
        Assert.NotNull(await memory.RecallAsync(Tenant, K("a"), default)); // a is now the most recent
        await memory.RememberAsync(Tenant, K("c"), new RememberedOutput("c", [7]), default);
        Assert.Equal(2, memory.Cache.Count);
        Assert.Null(await memory.RecallAsync(Tenant, K("b"), default));
        Assert.NotNull(await memory.RecallAsync(Tenant, K("a"), default));
    }

    [Fact]
    public async Task Several_turns_are_recalled_at_once_the_held_ones_by_key_each_key_once()
    {
        using var memory = Memory();
        string K(string s) => OutputMemoryKeys.Of(Output(null, s));
        await memory.RememberAsync(Tenant, K("a"), new RememberedOutput("a", [1]), default);
        await memory.RememberAsync(Tenant, K("c"), new RememberedOutput("c", [3]), default);
        var found = await memory.RecallManyAsync(Tenant, [K("a"), K("b"), K("c"), K("a")], default);
        Assert.Equal(2, found.Count);
        Assert.Equal([1], found[K("a")].Tokens);
        Assert.Equal([3], found[K("c")].Tokens);
        Assert.Empty(await memory.RecallManyAsync(new TenantId("key:other"), [K("a"), K("c")], default));
    }

    [Fact]
    public async Task The_planner_recalls_every_earlier_assistant_turn_in_one_call()
    {
        var memory = new CountingMemory();
        var planner = new GenerationPlanner(null!, null!, null!, memory, null!); // RecallTurnsAsync uses the memory only
        var turns = new[] { "one", "two", "three" };
        var messages = new List<ChatMessage> { new(ChatRoles.User, "q0") };
        foreach (var t in turns)
        {
            messages.Add(new ChatMessage(ChatRoles.Assistant, t));
            messages.Add(new ChatMessage(ChatRoles.User, "q"));
        }

        var intent = await planner.RecallTurnsAsync(new GenerationIntent { Messages = messages, Tenant = Tenant }, default);
        var call = Assert.Single(memory.Calls);
        Assert.Equal(turns.Select(t => OutputMemoryKeys.Of(new ChatMessage(ChatRoles.Assistant, t), null)), call);
        Assert.Equal(3, intent.RecalledTurns!.Count);
    }

    /// <summary>Records each RecallManyAsync call's keys and answers every key; RecallAsync must not be used.</summary>
    private sealed class CountingMemory : IOutputMemory
    {
        public List<string[]> Calls { get; } = [];

        public ValueTask RememberAsync(TenantId tenant, string key, RememberedOutput value, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask<RememberedOutput?> RecallAsync(TenantId tenant, string key, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("one key at a time");

        public ValueTask<IReadOnlyDictionary<string, RememberedOutput>> RecallManyAsync(TenantId tenant, IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
        {
            Calls.Add([.. keys]);
            return ValueTask.FromResult<IReadOnlyDictionary<string, RememberedOutput>>(keys.Distinct().ToDictionary(k => k, k => new RememberedOutput(k, [1])));
        }
    }
}
