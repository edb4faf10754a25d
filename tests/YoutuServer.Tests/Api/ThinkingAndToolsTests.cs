using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static YoutuServer.Tests.Api.HttpJson;

namespace YoutuServer.Tests.Api;

/// <summary>Thinking and tool calls end to end on the random tiny model, steered by budgets, grammars and logit bias.</summary>
[Collection("server")]
public sealed class ThinkingAndToolsTests(ServerFixture server)
{
    private async Task<int> TokenId(HttpClient client, string text)
    {
        var res = await client.PostAsync("/tokenize", Body(JsonSerializer.Serialize(new { content = text })));
        var tokens = JsonNode.Parse(await res.Content.ReadAsStringAsync())!["tokens"]!.AsArray();
        Assert.Single(tokens);
        return tokens[0]!.GetValue<int>();
    }

    private static (string Content, string Reasoning, JsonArray? Calls, string? Finish) Assemble(string sse)
    {
        var content = new StringBuilder();
        var reasoning = new StringBuilder();
        var calls = new Dictionary<int, (string? Id, string? Name, StringBuilder Args)>();
        string? finish = null;
        foreach (var line in sse.Split('\n').Where(l => l.StartsWith("data: {", StringComparison.Ordinal)))
        {
            var node = JsonNode.Parse(line[6..])!;
            if (node["choices"] is not JsonArray { Count: > 0 } choices)
            {
                continue;
            }

            var delta = choices[0]!["delta"]!;
            content.Append(delta["content"]?.GetValue<string>());
            reasoning.Append(delta["reasoning_content"]?.GetValue<string>());
            Assert.Equal(delta["reasoning_content"]?.GetValue<string>(), delta["reasoning"]?.GetValue<string>());
            foreach (var tc in delta["tool_calls"]?.AsArray() ?? [])
            {
                var i = tc!["index"]!.GetValue<int>();
                if (!calls.TryGetValue(i, out var c))
                {
                    // The first delta of a call carries id, type and name, with empty arguments.
                    Assert.Equal("function", tc["type"]!.GetValue<string>());
                    Assert.Equal("", tc["function"]!["arguments"]!.GetValue<string>());
                    calls[i] = c = (tc["id"]!.GetValue<string>(), tc["function"]!["name"]!.GetValue<string>(), new StringBuilder());
                }

                c.Args.Append(tc["function"]?["arguments"]?.GetValue<string>());
            }

            finish ??= choices[0]!["finish_reason"]?.GetValue<string>();
        }

        JsonArray? arr = calls.Count == 0 ? null : new JsonArray(calls.OrderBy(kv => kv.Key).Select(kv => (JsonNode)new JsonObject
        {
            ["id"] = kv.Value.Id,
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = kv.Value.Name, ["arguments"] = kv.Value.Args.ToString() },
        }).ToArray());
        return (content.ToString(), reasoning.ToString(), arr, finish);
    }

    [Fact]
    public async Task Reasoning_budget_splits_reasoning_from_content_streaming_and_not()
    {
        using var client = server.CreateClient();
        const string body = """
            {"messages":[{"role":"user","content":"Think first"}],"max_tokens":24,"seed":21,"ignore_eos":true,
             "chat_template_kwargs":{"forced_thinking":true},"reasoning_budget":6}
            """;
        var res = await client.PostAsync("/v1/chat/completions", Body(body));
        var json = JsonNode.Parse(await res.Content.ReadAsStringAsync())!;
        var message = json["choices"]![0]!["message"]!;
        var reasoning = message["reasoning_content"]?.GetValue<string>();
        var content = message["content"]!.GetValue<string>();
        Assert.False(string.IsNullOrEmpty(reasoning));
        Assert.Equal(reasoning, message["reasoning"]!.GetValue<string>());
        Assert.DoesNotContain("</think>", content, StringComparison.Ordinal);
        var reasoningTokens = json["usage"]!["completion_tokens_details"]!["reasoning_tokens"]!.GetValue<int>();
        Assert.InRange(reasoningTokens, 6, 10); // six thinking tokens, plus the close tag the engine wrote

        var sse = await (await client.PostAsync("/v1/chat/completions", Body(body.TrimEnd().TrimEnd('}') + ",\"stream\":true}"))).Content.ReadAsStringAsync();
        var (sContent, sReasoning, _, _) = Assemble(sse);
        Assert.Equal(reasoning, sReasoning);
        Assert.Equal(content, sContent);
    }

    [Fact]
    public async Task Thinking_off_has_no_reasoning_field()
    {
        using var client = server.CreateClient();
        var res = await client.PostAsync("/v1/chat/completions", Body("""{"messages":[{"role":"user","content":"Hi"}],"max_tokens":6,"seed":2,"ignore_eos":true,"reasoning_effort":"none"}"""));
        var message = JsonNode.Parse(await res.Content.ReadAsStringAsync())!["choices"]![0]!["message"]!;
        Assert.Null(message["reasoning_content"]);
        Assert.Null(message["reasoning"]);
    }

    [Fact]
    public async Task Auto_tool_choice_call_is_grammar_valid_and_streaming_matches()
    {
        using var client = server.CreateClient();
        var callToken = await TokenId(client, "<tool_call>");
        var body = """
            {"messages":[{"role":"user","content":"Use the tool"}],"max_tokens":300,"seed":8,"enable_thinking":false,
             "parallel_tool_calls":false,"logit_bias":{"CALL":100},
             "tools":[{"type":"function","function":{"name":"set_mode","parameters":{"type":"object",
               "properties":{"mode":{"type":"string","enum":["fast","slow"]},"level":{"type":"integer","minimum":1,"maximum":3}},
               "required":["mode","level"],"additionalProperties":false}}}]}
            """.Replace("CALL", callToken.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        var res = await client.PostAsync("/v1/chat/completions", Body(body));
        var text = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.OK, text);
        var choice = JsonNode.Parse(text)!["choices"]![0]!;
        Assert.Equal("tool_calls", choice["finish_reason"]!.GetValue<string>());
        var calls = choice["message"]!["tool_calls"]!.AsArray();
        Assert.Single(calls);
        var args = calls[0]!["function"]!["arguments"]!.GetValue<string>();
        using (var doc = JsonDocument.Parse(args))
        {
            Assert.Contains(doc.RootElement.GetProperty("mode").GetString(), new[] { "fast", "slow" });
            Assert.InRange(doc.RootElement.GetProperty("level").GetInt32(), 1, 3);
        }

        var sse = await (await client.PostAsync("/v1/chat/completions", Body(body.TrimEnd().TrimEnd('}') + ",\"stream\":true}"))).Content.ReadAsStringAsync();
        var (_, _, streamed, finish) = Assemble(sse);
        Assert.Equal("tool_calls", finish);
        Assert.Equal("set_mode", streamed![0]!["function"]!["name"]!.GetValue<string>());
        Assert.Equal(args, streamed[0]!["function"]!["arguments"]!.GetValue<string>());
    }

    [Fact]
    public async Task Required_tool_choice_with_forced_thinking_gives_reasoning_and_a_valid_call()
    {
        using var client = server.CreateClient();
        const string body = """
            {"messages":[{"role":"user","content":"Pick"}],"max_tokens":400,"seed":4,"reasoning_budget":4,
             "chat_template_kwargs":{"forced_thinking":true},"tool_choice":"required",
             "tools":[{"type":"function","function":{"name":"pick","parameters":{"type":"object",
               "properties":{"x":{"type":"boolean"}},"required":["x"],"additionalProperties":false}}}]}
            """;
        var res = await client.PostAsync("/v1/chat/completions", Body(body));
        var text = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.OK, text);
        var message = JsonNode.Parse(text)!["choices"]![0]!["message"]!;
        var call = message["tool_calls"]![0]!["function"]!;
        Assert.Equal("pick", call["name"]!.GetValue<string>());
        using var doc = JsonDocument.Parse(call["arguments"]!.GetValue<string>());
        Assert.True(doc.RootElement.GetProperty("x").ValueKind is JsonValueKind.True or JsonValueKind.False);
    }
}
