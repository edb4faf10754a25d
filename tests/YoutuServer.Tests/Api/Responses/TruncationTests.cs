using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using YoutuServer.Api.Responses;
using YoutuServer.Generation;
using static YoutuServer.Tests.Api.Responses.ResponsesWire;

namespace YoutuServer.Tests.Api.Responses;

/// <summary>
/// <c>truncation: "auto"</c> drops the oldest input turns until the prompt fits (never the instructions or the last
/// user turn) and says so; <c>disabled</c> keeps refusing an over-long input (issue 22 item 6).
/// </summary>
[Collection("server")]
public sealed class TruncationTests(ServerFixture server)
{
    private static JsonObject Body(string truncation)
    {
        var input = new JsonArray();
        var filler = string.Concat(Enumerable.Repeat("many words of old history ", 120));
        for (var i = 0; i < 12; i++)
        {
            input.Add(new JsonObject { ["role"] = "user", ["content"] = $"old question {i}: {filler}" });
            input.Add(new JsonObject { ["role"] = "assistant", ["content"] = $"old answer {i}: {filler}" });
        }

        input.Add(new JsonObject { ["role"] = "user", ["content"] = Unique("The question that matters") });
        return new JsonObject
        {
            ["model"] = "tiny-youtu",
            ["instructions"] = "KEEP-THESE-INSTRUCTIONS",
            ["input"] = input,
            ["max_output_tokens"] = 8,
            ["truncation"] = truncation,
        };
    }

    [Fact]
    public async Task Disabled_refuses_an_input_over_the_context()
    {
        using var client = server.CreateClient();
        client.Timeout = TimeSpan.FromMinutes(10); // a loaded machine may need minutes for a few hundred tokens; outcomes are asserted, not time
        var (status, json, _) = await PostAsync(client, Body("disabled").ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("context_length_exceeded", json["error"]!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task Auto_drops_the_oldest_turns_keeps_instructions_and_the_last_turn_and_says_so()
    {
        using var client = server.CreateClient();
        client.Timeout = TimeSpan.FromMinutes(10); // a loaded machine may need minutes for a few hundred tokens; outcomes are asserted, not time
        var (status, json, res) = await PostAsync(client, Body("auto").ToJsonString());
        Assert.True(status == HttpStatusCode.OK, json.ToJsonString());
        Assert.Equal("auto", json["truncation"]!.GetValue<string>());
        var dropped = int.Parse(res.Headers.GetValues("x-youtu-truncated-messages").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(dropped, 2, 24);
        Assert.Equal(0, dropped % 2); // whole turns: a question with its answer
        Assert.True(Usage(json, "input") < 4096);

        // What stayed: the instructions, the newest turns and the last question; the oldest went.
        var mapped = ResponsesRequestMapper.Map(JsonSerializer.Deserialize(Body("auto").ToJsonString(), ResponsesJsonContext.Wire.ResponsesRequest)!, [],
            server.Services.GetRequiredService<ReasoningSeal>().For(SealKind.ResponsesEncryptedContent, null, "tiny-youtu"));
        var plan = server.Services.GetRequiredService<GenerationPlanner>().Plan(mapped.Intent);
        Assert.Equal(dropped, plan.DroppedMessages);
        Assert.Contains("KEEP-THESE-INSTRUCTIONS", plan.Prompt, StringComparison.Ordinal);
        Assert.Contains("The question that matters", plan.Prompt, StringComparison.Ordinal);
        Assert.Contains("old answer 11:", plan.Prompt, StringComparison.Ordinal);
        Assert.DoesNotContain("old question 0:", plan.Prompt, StringComparison.Ordinal);
    }
}
