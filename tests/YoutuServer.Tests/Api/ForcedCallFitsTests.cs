using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using YoutuServer.Tests.Api.Responses;

namespace YoutuServer.Tests.Api;

/// <summary>
/// A forced tool call (or json_schema answer) always fits in the output bound with thinking on, and a parallel call is
/// never cut (issue 22 item 1): over many prompts on the tiny model, in all three wire formats.
/// </summary>
[Collection("server")]
public sealed class ForcedCallFitsTests(ServerFixture server)
{
    /// <summary>Prompts per case: each gives the random model another path (the server's seed is fixed).</summary>
    private const int Runs = 5;

    private const string FreeWeatherTool = """
        {"type":"function","name":"get_weather","description":"Weather of a city","strict":true,"parameters":{"type":"object",
         "properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}
        """;

    private static void AssertWeatherArgs(string arguments)
    {
        using var doc = JsonDocument.Parse(arguments);
        Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
        Assert.Equal(JsonValueKind.String, doc.RootElement.GetProperty("city").ValueKind);
        Assert.Single(doc.RootElement.EnumerateObject());
    }

    private static string N(int i) => i.ToString(CultureInfo.InvariantCulture);

    /// <summary>A client that waits as long as a loaded machine needs for a few hundred tokens (the tests assert outcomes, not time).</summary>
    private HttpClient Client()
    {
        var client = server.CreateClient();
        client.Timeout = TimeSpan.FromMinutes(10);
        return client;
    }

    [Fact]
    public async Task Responses_required_call_with_medium_effort_and_300_tokens_always_completes()
    {
        using var client = Client();
        for (var i = 0; i < Runs; i++)
        {
            var input = ResponsesWire.Unique("What is the weather in city number " + N(i) + "?");
            var body = $$$"""
                {"model":"tiny-youtu","input":{{{JsonSerializer.Serialize(input)}}},"reasoning":{"effort":"medium"},
                 "max_output_tokens":300,"tool_choice":"required","parallel_tool_calls":false,"tools":[{{{FreeWeatherTool}}}]}
                """;
            var r = await ResponsesWire.OkAsync(client, body);
            var what = $"run {i}: {r.ToJsonString()}";
            Assert.True(r["status"]!.GetValue<string>() == "completed", what);
            var calls = r["output"]!.AsArray().Where(o => o!["type"]!.GetValue<string>() == "function_call").ToList();
            Assert.True(calls.Count == 1, what);
            Assert.Equal("get_weather", calls[0]!["name"]!.GetValue<string>());
            AssertWeatherArgs(calls[0]!["arguments"]!.GetValue<string>());
            Assert.True(ResponsesWire.Usage(r, "output") <= 300, what);
            // The call's room is half the bound, thinking (its close included) the rest at most.
            Assert.True(ResponsesWire.Usage(r, "reasoning") <= 150, what);
        }
    }

    [Fact]
    public async Task Responses_parallel_required_calls_in_160_tokens_are_never_cut()
    {
        using var client = Client();
        for (var i = 0; i < Runs; i++)
        {
            // The Agents SDK's case: thinking off, required, parallel calls left at their default, a free string.
            var input = ResponsesWire.Unique("Weather in every city you know, number " + N(i));
            var body = $$$"""
                {"model":"tiny-youtu","input":{{{JsonSerializer.Serialize(input)}}},"reasoning":{"effort":"none"},
                 "max_output_tokens":160,"tool_choice":"required","tools":[{{{FreeWeatherTool}}}]}
                """;
            var r = await ResponsesWire.OkAsync(client, body);
            var what = $"run {i}: {r.ToJsonString()}";
            Assert.True(r["status"]!.GetValue<string>() == "completed", what);
            var calls = r["output"]!.AsArray().Where(o => o!["type"]!.GetValue<string>() == "function_call").ToList();
            Assert.True(calls.Count >= 1, what);
            foreach (var c in calls)
            {
                AssertWeatherArgs(c!["arguments"]!.GetValue<string>());
            }

            Assert.True(ResponsesWire.Usage(r, "output") <= 160, what);
        }
    }

    [Fact]
    public async Task Further_parallel_calls_start_only_while_one_more_fits()
    {
        using var client = Client();
        // "\n" is what separates calls: biased up, the model always asks for one more call, so only the room check ends the output.
        var newline = await ResponsesWire.TokenIdAsync(client, "\n");
        var most = 0;
        for (var i = 0; i < Runs; i++)
        {
            var input = ResponsesWire.Unique("Weather in Paris and Rome, number " + N(i));
            var body = $$$"""
                {"model":"tiny-youtu","input":{{{JsonSerializer.Serialize(input)}}},"reasoning":{"effort":"none"},"logit_bias":{"{{{N(newline)}}}":100},
                 "max_output_tokens":160,"tool_choice":"required","tools":[{{{ResponsesWire.WeatherTool}}}]}
                """;
            var r = await ResponsesWire.OkAsync(client, body);
            var what = $"run {i}: {r.ToJsonString()}";
            Assert.True(r["status"]!.GetValue<string>() == "completed", what);
            var calls = r["output"]!.AsArray().Where(o => o!["type"]!.GetValue<string>() == "function_call").ToList();
            foreach (var c in calls)
            {
                using var doc = JsonDocument.Parse(c!["arguments"]!.GetValue<string>());
                Assert.Contains(doc.RootElement.GetProperty("city").GetString(), new[] { "Paris", "Rome" });
            }

            Assert.True(ResponsesWire.Usage(r, "output") <= 160, what);
            most = Math.Max(most, calls.Count);
        }

        Assert.True(most > 1, "no run made a second call: the room check was not exercised");
    }

    [Fact]
    public async Task Chat_required_call_with_thinking_fits_streaming_and_not()
    {
        using var client = Client();
        for (var i = 0; i < Runs; i++)
        {
            var body = $$$"""
                {"model":"tiny-youtu","messages":[{"role":"user","content":{{{JsonSerializer.Serialize(ResponsesWire.Unique("Weather " + N(i)))}}}}],
                 "max_tokens":200,"reasoning_effort":"high","tool_choice":"required","parallel_tool_calls":true,
                 "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object",
                   "properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false} } }]}
                """;
            var res = await client.PostAsync("/v1/chat/completions", ResponsesWire.Body(body));
            var text = await res.Content.ReadAsStringAsync();
            Assert.True(res.StatusCode == HttpStatusCode.OK, text);
            var node = JsonNode.Parse(text)!;
            var choice = node["choices"]![0]!;
            Assert.True(choice["finish_reason"]!.GetValue<string>() == "tool_calls", $"run {i}: {text}");
            foreach (var call in choice["message"]!["tool_calls"]!.AsArray())
            {
                AssertWeatherArgs(call!["function"]!["arguments"]!.GetValue<string>());
            }

            Assert.True(node["usage"]!["completion_tokens"]!.GetValue<int>() <= 200, text);
            Assert.True(node["usage"]!["completion_tokens_details"]!["reasoning_tokens"]!.GetValue<int>() <= 100, text);
        }
    }

    [Fact]
    public async Task Messages_any_tool_with_thinking_fits()
    {
        using var client = Client();
        for (var i = 0; i < Runs; i++)
        {
            var body = $$$"""
                {"model":"tiny-youtu","max_tokens":250,"thinking":{"type":"enabled","budget_tokens":4000},
                 "tool_choice":{"type":"any"},"messages":[{"role":"user","content":{{{JsonSerializer.Serialize(ResponsesWire.Unique("Weather " + N(i)))}}}}],
                 "tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}]}
                """;
            using var req = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = ResponsesWire.Body(body) };
            req.Headers.Add("anthropic-version", "2023-06-01");
            var res = await client.SendAsync(req);
            var text = await res.Content.ReadAsStringAsync();
            Assert.True(res.StatusCode == HttpStatusCode.OK, text);
            var node = JsonNode.Parse(text)!;
            Assert.True(node["stop_reason"]!.GetValue<string>() == "tool_use", $"run {i}: {text}");
            var uses = node["content"]!.AsArray().Where(b => b!["type"]!.GetValue<string>() == "tool_use").ToList();
            Assert.NotEmpty(uses);
            foreach (var u in uses)
            {
                AssertWeatherArgs(u!["input"]!.ToJsonString());
            }
        }
    }

    [Fact]
    public async Task Json_schema_answer_with_thinking_fits()
    {
        using var client = Client();
        for (var i = 0; i < Runs; i++)
        {
            var input = ResponsesWire.Unique("Answer in JSON, number " + N(i));
            var body = $$$"""
                {"model":"tiny-youtu","input":{{{JsonSerializer.Serialize(input)}}},"reasoning":{"effort":"high"},"max_output_tokens":120,
                 "text":{"format":{"type":"json_schema","name":"answer","strict":true,"schema":{"type":"object",
                   "properties":{"ok":{"type":"boolean"}},"required":["ok"],"additionalProperties":false} } } }
                """;
            var r = await ResponsesWire.OkAsync(client, body);
            var what = $"run {i}: {r.ToJsonString()}";
            Assert.True(r["status"]!.GetValue<string>() == "completed", what);
            Assert.True(ResponsesWire.Usage(r, "reasoning") <= 60, what);
            var message = r["output"]!.AsArray().Single(o => o!["type"]!.GetValue<string>() == "message")!;
            using var doc = JsonDocument.Parse(message["content"]![0]!["text"]!.GetValue<string>());
            Assert.True(doc.RootElement.GetProperty("ok").ValueKind is JsonValueKind.True or JsonValueKind.False, what);
        }
    }
}
