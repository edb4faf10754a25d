using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace YoutuServer.Tests.Api;

/// <summary>
/// An agent's thinking tool loop over Chat Completions: the assistant turn goes back as received (reasoning_content +
/// tool_calls), then the tool result. The next prompt must start with every token the earlier turn evaluated and
/// generated, so the prefix cache covers it (the generated end-of-text token is the one that may differ: slack 2).
/// Forced thinking with a reasoning budget makes every turn think; a required tool with a closed schema makes it end
/// in a complete call.
/// </summary>
[Collection("server")]
public sealed class ThinkingToolLoopTests(ServerFixture server)
{
    private static readonly JsonArray Tools = JsonNode.Parse("""
        [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Lyon", "Nice"]}},
                         "required": ["city"], "additionalProperties": false}}}]
        """)!.AsArray();

    private static StringContent Body(JsonNode json) => new(json.ToJsonString(), Encoding.UTF8, "application/json");

    private static JsonObject Request(JsonArray messages, int seed) => new()
    {
        ["messages"] = messages.DeepClone(),
        ["tools"] = Tools.DeepClone(),
        ["tool_choice"] = "required",
        ["parallel_tool_calls"] = false,
        ["chat_template_kwargs"] = new JsonObject { ["forced_thinking"] = true },
        ["reasoning_budget"] = 6,
        ["max_tokens"] = 200,
        ["seed"] = seed,
    };

    private async Task<JsonNode> Turn(HttpClient client, JsonArray messages, int seed)
    {
        using var res = await client.PostAsync("/v1/chat/completions", Body(Request(messages, seed)));
        var text = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.OK, text);
        var node = JsonNode.Parse(text)!;
        Assert.True(node["choices"]![0]!["finish_reason"]!.GetValue<string>() == "tool_calls", text);
        return node;
    }

    /// <summary>Appends the assistant turn exactly as a client echoes it, then one tool result per call.</summary>
    private static void Echo(JsonArray messages, JsonNode response, int round)
    {
        var message = response["choices"]![0]!["message"]!;
        messages.Add(new JsonObject
        {
            ["role"] = "assistant",
            ["content"] = message["content"]?.DeepClone(),
            ["reasoning_content"] = message["reasoning_content"]?.DeepClone(),
            ["tool_calls"] = message["tool_calls"]!.DeepClone(),
        });
        foreach (var call in message["tool_calls"]!.AsArray())
        {
            messages.Add(new JsonObject { ["role"] = "tool", ["tool_call_id"] = call!["id"]!.DeepClone(), ["content"] = $"{{\"temp\": {20 + round}}}" });
        }
    }

    private static (int Prompt, int Completion, int Cached) Usage(JsonNode response)
    {
        var u = response["usage"]!;
        return (u["prompt_tokens"]!.GetValue<int>(), u["completion_tokens"]!.GetValue<int>(), u["prompt_tokens_details"]!["cached_tokens"]!.GetValue<int>());
    }

    [Theory]
    [InlineData(2, 11)]
    [InlineData(3, 12)]
    public async Task Each_turn_of_a_thinking_tool_loop_reuses_the_whole_previous_turn(int rounds, int seed)
    {
        var client = server.CreateClient();
        // A question no other test (or case) asks, the same in every run.
        var messages = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = $"Weather round trip {rounds}/{seed}: Paris, then Lyon, then Nice?" });
        var previous = await Turn(client, messages, seed);
        for (var round = 1; round <= rounds; round++)
        {
            var reasoning = previous["choices"]![0]!["message"]!["reasoning_content"]?.GetValue<string>();
            Assert.False(string.IsNullOrEmpty(reasoning), "forced thinking must produce reasoning");
            Echo(messages, previous, round);

            // The rendered prompt keeps this turn's reasoning (it is inside the tool loop).
            using (var applied = await client.PostAsync("/apply-template", Body(Request(messages, seed))))
            {
                var prompt = JsonNode.Parse(await applied.Content.ReadAsStringAsync())!["prompt"]!.GetValue<string>();
                Assert.Contains(reasoning, prompt, StringComparison.Ordinal);
            }

            var (p, c, _) = Usage(previous);
            var next = await Turn(client, messages, seed + round);
            var cached = Usage(next).Cached;
            Assert.True(cached >= p + c - 2, $"round {round}: cached_tokens {cached} < previous prompt {p} + completion {c} - 2");
            previous = next;
        }
    }

    [Fact]
    public async Task Without_the_reasoning_the_loop_loses_the_earlier_turns_tokens()
    {
        // The control: the same loop with reasoning_content dropped (what clients got before) reuses less.
        var client = server.CreateClient();
        var messages = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Control loop: weather in Nice?" });
        var first = await Turn(client, messages, 21);
        Echo(messages, first, 1);
        ((JsonObject)messages[^2]!).Remove("reasoning_content");
        var (p, c, _) = Usage(first);
        var second = await Turn(client, messages, 22);
        Assert.True(Usage(second).Cached < p + c - 2, $"cached {Usage(second).Cached} should stop where the missing reasoning began ({p} + {c})");
        // The first prompt itself is still reused, up to the forced "<think>\n" it ended with.
        Assert.True(Usage(second).Cached >= p - 2, $"cached {Usage(second).Cached}, first prompt {p}");
    }
}
