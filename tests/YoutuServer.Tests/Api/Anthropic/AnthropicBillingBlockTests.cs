using System.Net;
using System.Text.Json.Nodes;
using static YoutuServer.Tests.Api.Anthropic.AnthropicWire;

namespace YoutuServer.Tests.Api.Anthropic;

/// <summary>
/// Claude Code's billing line (<c>x-anthropic-billing-header: …; cch=…;</c>, a new nonce on every request) as the first
/// system block is left out of the prompt, so a session's second turn still reuses its first. Each turn is an agent
/// step as Claude Code makes it: thinking on, a tool call, then its tool_result. The assistant turn sent back (its sealed
/// thinking and its call) renders token for token as it was generated, so the second prompt starts with every token
/// the first turn evaluated and generated (the last generated one may differ: slack 2, as in the chat tool loop test).
/// </summary>
[Collection("server")]
public sealed class AnthropicBillingBlockTests(ServerFixture server)
{
    private const string System = "You are a careful assistant. Answer in one short sentence and use tools when asked.";

    private static string Billing(string nonce) => $"x-anthropic-billing-header: cc_version=2.1.197.{nonce[..3]}; cc_entrypoint=cli; cch={nonce};";

    private static string SystemBlocks(string first) =>
        new JsonArray(new JsonObject { ["type"] = "text", ["text"] = first }, new JsonObject { ["type"] = "text", ["text"] = System }).ToJsonString();

    private static string Request(string system, JsonArray messages) =>
        $$"""{"model":"{{ServerFixture.ModelId}}","max_tokens":200,"thinking":{"type":"enabled","budget_tokens":4},"tools":[{{CityTool}}],"tool_choice":{"type":"any","disable_parallel_tool_use":true},"system":{{system}},"messages":{{messages.ToJsonString()}}}""";

    private static async Task<JsonNode> SendAsync(HttpClient client, string body)
    {
        using var res = await client.SendAsync(Post("/v1/messages", body));
        var text = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!;
    }

    /// <summary>Two turns of one session whose first system block is <paramref name="first"/>(turn); the usage of each.</summary>
    private static async Task<(JsonNode First, JsonNode Second)> TwoTurnsAsync(HttpClient client, Func<string, string> first, string topic)
    {
        var messages = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = $"Billing block test: {topic}. What should I check first?" });
        var one = await SendAsync(client, Request(SystemBlocks(first("3f2a9")), messages));
        messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = one["content"]!.DeepClone() });
        var call = one["content"]!.AsArray().Single(b => b!["type"]!.GetValue<string>() == "tool_use")!;
        messages.Add(new JsonObject
        {
            ["role"] = "user",
            ["content"] = new JsonArray(new JsonObject { ["type"] = "tool_result", ["tool_use_id"] = call["id"]!.GetValue<string>(), ["content"] = "Sunny, 21 C." }),
        });
        var two = await SendAsync(client, Request(SystemBlocks(first("b71c0")), messages));
        return (one["usage"]!, two["usage"]!);
    }

    private static int Prompt(JsonNode usage) => usage["input_tokens"]!.GetValue<int>() + usage["cache_read_input_tokens"]!.GetValue<int>();

    [Fact]
    public async Task A_changing_billing_block_leaves_the_second_turn_reusing_the_whole_first_turn()
    {
        using var client = server.CreateClient();
        var (one, two) = await TwoTurnsAsync(client, Billing, "billing nonce");
        var cached = two["cache_read_input_tokens"]!.GetValue<int>();
        var firstTurn = Prompt(one) + one["output_tokens"]!.GetValue<int>();
        Assert.True(cached >= firstTurn - 2, $"turn 2 read {cached} cached tokens; turn 1 evaluated and generated {firstTurn}");
        Assert.True(Prompt(two) > cached);
    }

    [Fact]
    public async Task Any_other_changing_first_block_voids_the_cache_so_the_test_above_can_fail()
    {
        using var client = server.CreateClient();
        var (one, two) = await TwoTurnsAsync(client, nonce => $"x-session-nonce: {nonce}", "ordinary nonce");
        Assert.True(two["cache_read_input_tokens"]!.GetValue<int>() < Prompt(one) / 2, two.ToJsonString());
    }

    [Fact]
    public async Task The_billing_block_is_not_in_the_rendered_prompt()
    {
        using var client = server.CreateClient();
        async Task<int> Count(string system) =>
            JsonNode.Parse(await (await client.SendAsync(Post("/v1/messages/count_tokens",
                $$"""{"model":"{{ServerFixture.ModelId}}","system":{{system}},"messages":[{"role":"user","content":"count"}]}"""))).Content.ReadAsStringAsync())!["input_tokens"]!.GetValue<int>();
        var plain = await Count(new JsonArray(new JsonObject { ["type"] = "text", ["text"] = System }).ToJsonString());
        Assert.Equal(plain, await Count(SystemBlocks(Billing("3f2a9"))));
        Assert.True(await Count(SystemBlocks("x-other-header: 3f2a9")) > plain);
    }
}
