using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using YoutuServer.Tests.Api.Anthropic;
using YoutuServer.Tests.Api.Responses;

namespace YoutuServer.Tests.State;

/// <summary>Two replicas (A, B) on one Garnet behind a round-robin YARP, shared by the tests of this class.</summary>
public sealed class TwoReplicas : IAsyncLifetime
{
    public ReplicaCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync() => Cluster = await ReplicaCluster.StartAsync("A", "B");

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

/// <summary>
/// Session state shared through the store, proven with real processes: every turn of a chain lands on the other
/// replica than the one before it (x-youtu-replica) and still finds what the earlier turn left.
/// </summary>
[Collection(ReplicaClusterCollection.Name)]
public sealed class SharedStateReplicaTests(TwoReplicas two) : IClassFixture<TwoReplicas>
{
    private readonly ReplicaCluster cluster = two.Cluster;

    internal static string Responses(string input, string? previous = null, bool stream = false, string extra = "") =>
        $$"""{"model":"{{ReplicaCluster.Model}}","input":{{JsonSerializer.Serialize(input)}},"max_output_tokens":6,"reasoning":{"effort":"none"}{{(previous is null ? "" : $",\"previous_response_id\":\"{previous}\"")}}{{(stream ? ",\"stream\":true" : "")}}{{extra}}}""";

    /// <summary>The final response object of a streamed Responses answer (response.completed or .incomplete).</summary>
    internal static JsonNode Completed(string sse)
    {
        foreach (var line in sse.Split('\n'))
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal) && JsonNode.Parse(line[6..]) is { } e
                && e["type"]?.GetValue<string>() is "response.completed" or "response.incomplete")
            {
                return e["response"]!;
            }
        }

        throw new Xunit.Sdk.XunitException("no response.completed in the stream:\n" + sse);
    }

    private static int Usage(JsonNode r, string field) => r["usage"]![$"{field}_tokens"]!.GetValue<int>();

    [Fact]
    public async Task A_responses_chain_alternates_replicas_streamed_and_not_and_any_replica_reads_lists_and_deletes_it()
    {
        var t1 = (await cluster.SendAsync(HttpMethod.Post, "/v1/responses", Responses("Replica chain, turn one."))).Ok();
        var id1 = t1.Json["id"]!.GetValue<string>();
        var t2 = (await cluster.SendAsync(HttpMethod.Post, "/v1/responses", Responses("Turn two.", id1))).Ok();
        Assert.NotEqual(t1.Replica, t2.Replica);
        // Turn two's prompt holds turn one (its input and its output): the conversation came from the store.
        Assert.True(Usage(t2.Json, "input") > Usage(t1.Json, "input") + Usage(t1.Json, "output"), $"{t2.Text} vs {t1.Text}");
        var id2 = t2.Json["id"]!.GetValue<string>();

        var t3 = (await cluster.SendAsync(HttpMethod.Post, "/v1/responses", Responses("Turn three, streamed.", id2, stream: true))).Ok();
        Assert.NotEqual(t2.Replica, t3.Replica);
        var r3 = Completed(t3.Text);
        Assert.Equal(id2, r3["previous_response_id"]!.GetValue<string>());
        var t4 = (await cluster.SendAsync(HttpMethod.Post, "/v1/responses", Responses("Turn four.", r3["id"]!.GetValue<string>()))).Ok();
        Assert.NotEqual(t3.Replica, t4.Replica);
        Assert.True(Usage(t4.Json, "input") > Usage(r3, "input") + Usage(r3, "output"));

        // Read, list and delete from both replicas.
        var g1 = (await cluster.SendAsync(HttpMethod.Get, $"/v1/responses/{id1}")).Ok();
        var g2 = (await cluster.SendAsync(HttpMethod.Get, $"/v1/responses/{id1}")).Ok();
        Assert.NotEqual(g1.Replica, g2.Replica);
        Assert.Equal(t1.Json.ToJsonString(), g1.Json.ToJsonString());
        Assert.Equal(t1.Json.ToJsonString(), g2.Json.ToJsonString());
        var l1 = (await cluster.SendAsync(HttpMethod.Get, $"/v1/responses/{id2}/input_items")).Ok();
        var l2 = (await cluster.SendAsync(HttpMethod.Get, $"/v1/responses/{id2}/input_items")).Ok();
        Assert.NotEqual(l1.Replica, l2.Replica);
        Assert.Equal(l1.Text, l2.Text);
        Assert.Contains("Turn two.", l1.Text, StringComparison.Ordinal);

        var deleted = (await cluster.SendAsync(HttpMethod.Delete, $"/v1/responses/{id1}")).Ok();
        var gone1 = await cluster.SendAsync(HttpMethod.Get, $"/v1/responses/{id1}");
        var gone2 = await cluster.SendAsync(HttpMethod.Get, $"/v1/responses/{id1}");
        Assert.NotEqual(gone1.Replica, gone2.Replica);
        Assert.Equal(HttpStatusCode.NotFound, gone1.Status);
        Assert.Equal(HttpStatusCode.NotFound, gone2.Status);
        Assert.NotEqual(deleted.Replica, gone1.Replica == deleted.Replica ? gone2.Replica : gone1.Replica);
    }

    [Fact]
    public async Task Reasoning_sealed_on_one_replica_opens_on_the_other_and_only_for_its_tenant()
    {
        JsonNode? reasoning = null;
        Reply? sealing = null;
        for (var seed = 1; seed <= 16 && reasoning is null; seed++)
        {
            sealing = (await cluster.SendAsync(HttpMethod.Post, "/v1/responses", $$$"""
                {"model":"{{{ReplicaCluster.Model}}}","input":"Replica seal test","max_output_tokens":60,"seed":{{{seed}}},"store":false,
                 "text":{"format":{"type":"json_object"}},"reasoning":{"effort":"low","summary":"auto"},"reasoning_budget":6,
                 "include":["reasoning.encrypted_content"]}
                """)).Ok();
            reasoning = sealing.Json["output"]!.AsArray().FirstOrDefault(o => o!["type"]!.GetValue<string>() == "reasoning");
        }

        Assert.NotNull(reasoning);
        var text = reasoning["content"]![0]!["text"]!.GetValue<string>();
        var sealedText = reasoning["encrypted_content"]!.GetValue<string>();

        async Task<Reply> PromptTokens(JsonObject? item, string key = ReplicaCluster.KeyA)
        {
            var input = new JsonArray { new JsonObject { ["role"] = "user", ["content"] = "Weather in Rome?" } };
            if (item is not null)
            {
                input.Add(item);
            }

            input.Add(new JsonObject { ["type"] = "function_call", ["call_id"] = "call_1", ["name"] = "get_weather", ["arguments"] = "{\"city\":\"Rome\"}" });
            input.Add(new JsonObject { ["type"] = "function_call_output", ["call_id"] = "call_1", ["output"] = "21 C" });
            return (await cluster.SendAsync(HttpMethod.Post, "/v1/responses", $$"""
                {"model":"{{ReplicaCluster.Model}}","input":{{input.ToJsonString()}},"max_output_tokens":1,"store":false,"reasoning":{"effort":"low"},"tools":[{{ResponsesWire.WeatherTool}}]}
                """, key)).Ok();
        }

        var withSealed = await PromptTokens(new JsonObject { ["type"] = "reasoning", ["id"] = "rs_1", ["summary"] = new JsonArray(), ["encrypted_content"] = sealedText });
        Assert.NotEqual(sealing!.Replica, withSealed.Replica);
        var withText = await PromptTokens(new JsonObject { ["type"] = "reasoning", ["summary"] = new JsonArray(), ["content"] = new JsonArray(new JsonObject { ["type"] = "reasoning_text", ["text"] = text }) });
        var without = await PromptTokens(null);
        var otherTenant = await PromptTokens(new JsonObject { ["type"] = "reasoning", ["id"] = "rs_1", ["summary"] = new JsonArray(), ["encrypted_content"] = sealedText }, ReplicaCluster.KeyB);
        Assert.True(Usage(withText.Json, "input") > Usage(without.Json, "input"));
        Assert.Equal(Usage(withText.Json, "input"), Usage(withSealed.Json, "input"));
        // Tenant B cannot open tenant A's seal, on either replica: the item is ignored, never a 500.
        Assert.Equal(Usage(without.Json, "input"), Usage(otherTenant.Json, "input"));
    }

    [Fact]
    public async Task An_anthropic_tool_loop_alternates_replicas_with_signatures_that_open_and_tool_arguments_restored_exactly()
    {
        const string user = "Replica tool loop: weather?";
        var first = (await cluster.SendAsync(HttpMethod.Post, "/v1/messages", $$"""
            {"model":"{{ReplicaCluster.Model}}","max_tokens":200,"thinking":{"type":"enabled","budget_tokens":4},"tools":[{{AnthropicWire.CityTool}}],
             "tool_choice":{"type":"tool","name":"get_weather","disable_parallel_tool_use":true},"messages":[{"role":"user","content":"{{user}}"}]}
            """)).Ok();
        var content = first.Json["content"]!.AsArray();
        var thinking = content.Single(c => c!["type"]!.GetValue<string>() == "thinking")!;
        var call = content.Single(c => c!["type"]!.GetValue<string>() == "tool_use")!;
        Assert.False(string.IsNullOrEmpty(thinking["signature"]!.GetValue<string>()));

        // The client sends the turn back as SDKs do: the input object re-serialized (its spacing is the client's).
        var assistant = new JsonArray(
            new JsonObject { ["type"] = "thinking", ["thinking"] = thinking["thinking"]!.DeepClone(), ["signature"] = thinking["signature"]!.DeepClone() },
            new JsonObject { ["type"] = "tool_use", ["id"] = call["id"]!.DeepClone(), ["name"] = "get_weather", ["input"] = JsonNode.Parse(call["input"]!.ToJsonString()) });
        string Turn2(JsonArray turn) => $$"""
            {"model":"{{ReplicaCluster.Model}}","max_tokens":4,"tools":[{{AnthropicWire.CityTool}}],"tool_choice":{"type":"none"},"messages":[
              {"role":"user","content":"{{user}}"},
              {"role":"assistant","content":{{turn.ToJsonString()}}},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"{{call["id"]}}","content":"sunny"}]}]}
            """;

        var second = (await cluster.SendAsync(HttpMethod.Post, "/v1/messages", Turn2(assistant))).Ok();
        Assert.NotEqual(first.Replica, second.Replica);
        Assert.Null(second.Warning); // the signature opened there (a dropped block would be named in a Warning header)

        // The replica that ran turn one still holds its KV: the same second turn, sent there directly, reuses all of
        // turn one (prompt and output token for token), so the memories from the store restored it exactly, and the
        // other replica rendered the very same prompt (same total).
        int Prompt(JsonNode m) => m["usage"]!["input_tokens"]!.GetValue<int>() + m["usage"]!["cache_read_input_tokens"]!.GetValue<int>();
        using var holder = cluster.Direct(first.Replica!);
        var onHolder = (await cluster.SendAsync(HttpMethod.Post, "/v1/messages", Turn2(assistant), via: holder)).Ok();
        Assert.Equal(first.Replica, onHolder.Replica);
        Assert.Equal(Prompt(second.Json), Prompt(onHolder.Json));
        var cached = onHolder.Json["usage"]!["cache_read_input_tokens"]!.GetValue<int>();
        var turnOne = Prompt(first.Json) + first.Json["usage"]!["output_tokens"]!.GetValue<int>();
        Assert.True(cached >= turnOne - 2, $"cached {cached} < turn one's prompt and output {turnOne} - 2");

        // Count tokens on the other replica: the thinking block is in the prompt only because its signature opened.
        var noThinking = new JsonArray(assistant.Where(b => b!["type"]!.GetValue<string>() != "thinking").Select(b => b!.DeepClone()).ToArray());
        var withCount = (await cluster.SendAsync(HttpMethod.Post, "/v1/messages/count_tokens", Turn2(assistant))).Ok();
        var withoutCount = (await cluster.SendAsync(HttpMethod.Post, "/v1/messages/count_tokens", Turn2(noThinking))).Ok();
        Assert.NotEqual(withCount.Replica, withoutCount.Replica);
        Assert.True(withCount.Json["input_tokens"]!.GetValue<int>() > withoutCount.Json["input_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task Tenants_are_isolated_across_replicas()
    {
        var mine = (await cluster.SendAsync(HttpMethod.Post, "/v1/responses", Responses("Tenant isolation."))).Ok();
        var id = mine.Json["id"]!.GetValue<string>();
        var theirs1 = await cluster.SendAsync(HttpMethod.Get, $"/v1/responses/{id}", key: ReplicaCluster.KeyB);
        var theirs2 = await cluster.SendAsync(HttpMethod.Get, $"/v1/responses/{id}", key: ReplicaCluster.KeyB);
        Assert.NotEqual(theirs1.Replica, theirs2.Replica);
        Assert.Equal(HttpStatusCode.NotFound, theirs1.Status);
        Assert.Equal(HttpStatusCode.NotFound, theirs2.Status);
        var continued = await cluster.SendAsync(HttpMethod.Post, "/v1/responses", Responses("Not yours.", id), ReplicaCluster.KeyB);
        Assert.Equal(HttpStatusCode.NotFound, continued.Status);
        Assert.Equal(HttpStatusCode.NotFound, (await cluster.SendAsync(HttpMethod.Delete, $"/v1/responses/{id}", key: ReplicaCluster.KeyB)).Status);
        (await cluster.SendAsync(HttpMethod.Get, $"/v1/responses/{id}")).Ok();
        (await cluster.SendAsync(HttpMethod.Get, $"/v1/responses/{id}")).Ok();
    }
}
