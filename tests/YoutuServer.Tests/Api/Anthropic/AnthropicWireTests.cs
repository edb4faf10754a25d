using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static YoutuServer.Tests.Api.Anthropic.AnthropicWire;

namespace YoutuServer.Tests.Api.Anthropic;

/// <summary>The Messages API on the wire: event order, block indexes, input_json concatenation, signatures, errors.</summary>
[Collection("server")]
public sealed class AnthropicWireTests(ServerFixture server)
{
    private static string Body(string extra, string user = "Weather?") =>
        $$"""{"model":"{{ServerFixture.ModelId}}","messages":[{"role":"user","content":"{{user}}"}],{{extra}}}""";

    [Fact]
    public async Task Stream_has_anthropic_event_order_block_indexes_signature_and_partial_json_that_concatenates()
    {
        using var client = server.CreateClient();
        var body = Body($$"""
            "max_tokens":200,"stream":true,"thinking":{"type":"enabled","budget_tokens":4},
            "tools":[{{CityTool}}],"tool_choice":{"type":"tool","name":"get_weather","disable_parallel_tool_use":true}
            """, "Anthropic stream order test");
        using var res = await client.SendAsync(Post("/v1/messages?beta=true", body));
        var sse = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.OK, sse);
        Assert.StartsWith("text/event-stream", res.Content.Headers.ContentType!.ToString(), StringComparison.Ordinal);
        var events = Events(sse).Where(e => e.Event != "ping").ToList();

        Assert.Equal("message_start", events[0].Event);
        var start = events[0].Data["message"]!;
        Assert.StartsWith("msg_", start["id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Empty(start["content"]!.AsArray());
        Assert.True(start["usage"]!["input_tokens"]!.GetValue<int>() > 0);
        Assert.Equal("message_delta", events[^2].Event);
        Assert.Equal("message_stop", events[^1].Event);

        // Blocks: start, deltas, stop, with indexes 0, 1, ... in order; a block's deltas carry its own index.
        var blocks = new List<(string Type, JsonNode Start, StringBuilder Text, string? Signature)>();
        int? open = null;
        foreach (var (name, data) in events.Skip(1).SkipLast(2))
        {
            switch (name)
            {
                case "content_block_start":
                    Assert.Null(open);
                    Assert.Equal(blocks.Count, data["index"]!.GetValue<int>());
                    open = blocks.Count;
                    var cb = data["content_block"]!;
                    blocks.Add((cb["type"]!.GetValue<string>(), cb, new StringBuilder(), null));
                    break;
                case "content_block_delta":
                    Assert.Equal(open, data["index"]!.GetValue<int>());
                    var d = data["delta"]!;
                    var b = blocks[open!.Value];
                    switch (d["type"]!.GetValue<string>())
                    {
                        case "thinking_delta":
                            Assert.Equal("thinking", b.Type);
                            b.Text.Append(d["thinking"]!.GetValue<string>());
                            break;
                        case "signature_delta":
                            Assert.Equal("thinking", b.Type);
                            blocks[open.Value] = b with { Signature = d["signature"]!.GetValue<string>() };
                            break;
                        case "input_json_delta":
                            Assert.Equal("tool_use", b.Type);
                            b.Text.Append(d["partial_json"]!.GetValue<string>());
                            break;
                        case "text_delta":
                            Assert.Equal("text", b.Type);
                            b.Text.Append(d["text"]!.GetValue<string>());
                            break;
                    }

                    break;
                case "content_block_stop":
                    Assert.Equal(open, data["index"]!.GetValue<int>());
                    open = null;
                    break;
                default:
                    Assert.Fail($"unexpected event {name} inside the message");
                    break;
            }
        }

        Assert.Null(open);
        Assert.Equal("thinking", blocks[0].Type);
        Assert.False(string.IsNullOrEmpty(blocks[0].Text.ToString()));
        Assert.False(string.IsNullOrEmpty(blocks[0].Signature));
        var tool = Assert.Single(blocks, x => x.Type == "tool_use");
        Assert.StartsWith("toolu_", tool.Start["id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("get_weather", tool.Start["name"]!.GetValue<string>());
        Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(tool.Start["input"]!.ToJsonString()).RootElement.ValueKind);
        using (var input = JsonDocument.Parse(tool.Text.ToString()))
        {
            Assert.Contains(input.RootElement.GetProperty("city").GetString(), new[] { "Paris", "Rome" });
        }

        var delta = events[^2].Data;
        Assert.Equal("tool_use", delta["delta"]!["stop_reason"]!.GetValue<string>());
        Assert.Null(delta["delta"]!["stop_sequence"]);
        Assert.True(delta["usage"]!["output_tokens"]!.GetValue<int>() > 0);
    }

    [Fact]
    public async Task Json_message_has_thinking_text_and_tool_use_blocks_with_usage()
    {
        using var client = server.CreateClient();
        var body = Body($$$"""
            "max_tokens":200,"thinking":{"type":"enabled","budget_tokens":4},"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],
            "metadata":{"user_id":"{\"session\":\"x\"}"},"context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]},
            "tools":[{{{CityTool}}}],"tool_choice":{"type":"any","disable_parallel_tool_use":true}
            """, "Anthropic json shape test");
        using var res = await client.SendAsync(Post("/v1/messages", body));
        var text = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.OK, text);
        var msg = JsonNode.Parse(text)!;
        Assert.Equal("message", msg["type"]!.GetValue<string>());
        Assert.Equal("assistant", msg["role"]!.GetValue<string>());
        Assert.Equal(ServerFixture.ModelId, msg["model"]!.GetValue<string>());
        Assert.Equal("tool_use", msg["stop_reason"]!.GetValue<string>());
        Assert.True(msg.AsObject().ContainsKey("stop_sequence"));
        var content = msg["content"]!.AsArray();
        Assert.Equal("thinking", content[0]!["type"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(content[0]!["signature"]!.GetValue<string>()));
        var call = content.Single(c => c!["type"]!.GetValue<string>() == "tool_use")!;
        Assert.Contains(call["input"]!["city"]!.GetValue<string>(), new[] { "Paris", "Rome" });
        var usage = msg["usage"]!;
        foreach (var k in new[] { "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens" })
        {
            Assert.NotNull(usage[k]);
        }
    }

    [Fact]
    public async Task Output_format_constrains_the_text_and_a_stop_sequence_is_reported()
    {
        using var client = server.CreateClient();
        const string format = """
            "output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"city":{"type":"string","enum":["Paris","Rome"]}},"required":["city"],"additionalProperties":false}}}
            """;
        var full = JsonNode.Parse(await (await client.SendAsync(Post("/v1/messages", Body("\"max_tokens\":60," + format.Trim(), "Anthropic format test")))).Content.ReadAsStringAsync())!;
        var text = full["content"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "text")!["text"]!.GetValue<string>();
        using (var doc = JsonDocument.Parse(text))
        {
            Assert.Contains(doc.RootElement.GetProperty("city").GetString(), new[] { "Paris", "Rome" });
        }

        Assert.Equal("end_turn", full["stop_reason"]!.GetValue<string>());
        Assert.Null(full["stop_sequence"]);

        // The grammar writes the key "city": a stop sequence on it ends the message there and is named.
        var stopped = JsonNode.Parse(await (await client.SendAsync(Post("/v1/messages", Body("\"max_tokens\":60,\"stop_sequences\":[\"city\"]," + format.Trim(), "Anthropic format test")))).Content.ReadAsStringAsync())!;
        Assert.Equal("stop_sequence", stopped["stop_reason"]!.GetValue<string>());
        Assert.Equal("city", stopped["stop_sequence"]!.GetValue<string>());
    }

    [Fact]
    public async Task Thinking_signature_restores_the_reasoning_and_a_forged_one_is_dropped_with_a_warning()
    {
        using var client = server.CreateClient();
        var first = Body($$"""
            "max_tokens":200,"thinking":{"type":"enabled","budget_tokens":4},"tools":[{{CityTool}}],
            "tool_choice":{"type":"tool","name":"get_weather","disable_parallel_tool_use":true}
            """, "Anthropic signature test");
        var msg = JsonNode.Parse(await (await client.SendAsync(Post("/v1/messages", first))).Content.ReadAsStringAsync())!;
        var content = msg["content"]!.AsArray();
        var call = content.Single(c => c!["type"]!.GetValue<string>() == "tool_use")!;
        string Turn(JsonArray assistant) => $$"""
            {"model":"{{ServerFixture.ModelId}}","tools":[{{CityTool}}],"messages":[
              {"role":"user","content":"Anthropic signature test"},
              {"role":"assistant","content":{{assistant.ToJsonString()}}},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"{{call["id"]}}","content":"sunny"}]}]}
            """;

        var good = content.DeepClone().AsArray();
        var forged = content.DeepClone().AsArray();
        // Alter one byte of the sealed blob (past the version byte) and re-encode: a character swap in the text could
        // miss (no such character) or land on the unused low bits of the last base64 character, leaving the blob as it was.
        var blob = System.Buffers.Text.Base64Url.DecodeFromChars(forged[0]!["signature"]!.GetValue<string>());
        blob[^1] ^= 0x01;
        forged[0]!["signature"] = System.Buffers.Text.Base64Url.EncodeToString(blob);
        var noThinking = new JsonArray(content.Where(c => c!["type"]!.GetValue<string>() != "thinking").Select(c => c!.DeepClone()).ToArray());

        async Task<(int Count, string? Warning)> Count(JsonArray assistant)
        {
            using var res = await client.SendAsync(Post("/v1/messages/count_tokens", Turn(assistant)));
            var text = await res.Content.ReadAsStringAsync();
            Assert.True(res.StatusCode == HttpStatusCode.OK, text);
            return (JsonNode.Parse(text)!["input_tokens"]!.GetValue<int>(), res.Headers.TryGetValues("Warning", out var w) ? string.Join(";", w) : null);
        }

        var withReasoning = await Count(good);
        var dropped = await Count(forged);
        var without = await Count(noThinking);
        Assert.Null(withReasoning.Warning);
        Assert.True(withReasoning.Count > without.Count, $"{withReasoning.Count} vs {without.Count}");
        Assert.Equal(without.Count, dropped.Count);
        Assert.Contains("messages.1.content.0", dropped.Warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mid_conversation_system_message_and_server_tools_are_accepted()
    {
        using var client = server.CreateClient();
        var body = $$"""
            {"model":"{{ServerFixture.ModelId}}","max_tokens":3,
             "messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
               {"role":"system","content":"Mid-conversation note."}],
             "tools":[{"type":"web_search_20250305","name":"web_search","max_uses":2},{{CityTool}}]}
            """;
        using var res = await client.SendAsync(Post("/v1/messages", body));
        var text = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.OK, text);
        Assert.Contains(res.Headers.GetValues("Warning"), w => w.Contains("tools.0", StringComparison.Ordinal) && w.Contains("web_search", StringComparison.Ordinal));
        var count = JsonNode.Parse(await (await client.SendAsync(Post("/v1/messages/count_tokens", body))).Content.ReadAsStringAsync())!["input_tokens"]!.GetValue<int>();
        var withoutSystem = body.Replace("""{"role":"system","content":"Mid-conversation note."}""", """{"role":"assistant","content":"x"},{"role":"user","content":"y"}""", StringComparison.Ordinal);
        Assert.NotEqual(count, JsonNode.Parse(await (await client.SendAsync(Post("/v1/messages/count_tokens", withoutSystem))).Content.ReadAsStringAsync())!["input_tokens"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("""{"model":"tiny-youtu","messages":[{"role":"user","content":"x"}]}""", 400, "invalid_request_error", "max_tokens")]
    [InlineData("""{"model":"tiny-youtu","max_tokens":0,"messages":[{"role":"user","content":"x"}]}""", 400, "invalid_request_error", "max_tokens")]
    [InlineData("""{"model":"tiny-youtu","max_tokens":5,"temperature":7,"messages":[{"role":"user","content":"x"}]}""", 400, "invalid_request_error", "temperature")]
    [InlineData("""{"model":"tiny-youtu","max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}]}""", 400, "invalid_request_error", "messages.2.content.1")]
    [InlineData("""{"model":"tiny-youtu","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"x"}}]}]}""", 400, "invalid_request_error", "'document'")]
    [InlineData("""{"model":"tiny-youtu","max_tokens":5,"tools":[{"name":"ok","input_schema":{"type":"object"}},{"name":"bad name!","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"x"}]}""", 400, "invalid_request_error", "tools.1.name")]
    [InlineData("""{"model":"tiny-youtu","max_tokens":5,"tool_choice":{"type":"tool","name":"nope"},"tools":[{"name":"ok","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"x"}]}""", 400, "invalid_request_error", "tool_choice")]
    [InlineData("""{"model":"claude-opus-4-1","max_tokens":5,"messages":[{"role":"user","content":"x"}]}""", 404, "not_found_error", "--model-alias 'claude-opus-4-1=tiny-youtu'")]
    [InlineData("""{"model":"tiny-youtu","max_tokens":5,"messages":[{"role":"user","content":"x"}]""", 400, "invalid_request_error", "JSON")]
    public async Task Errors_have_anthropic_shape_status_and_a_message_naming_the_field(string body, int status, string type, string mention)
    {
        using var client = server.CreateClient();
        using var res = await client.SendAsync(Post("/v1/messages", body));
        var text = await res.Content.ReadAsStringAsync();
        Assert.Equal(status, (int)res.StatusCode);
        var json = JsonNode.Parse(text)!;
        Assert.Equal("error", json["type"]!.GetValue<string>());
        Assert.Equal(type, json["error"]!["type"]!.GetValue<string>());
        Assert.Contains(mention, json["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Null(json["error"]!["code"]);
    }

    [Fact]
    public async Task Unknown_route_under_messages_is_anthropic_404_and_openai_routes_keep_their_shape()
    {
        using var client = server.CreateClient();
        using var res = await client.SendAsync(Post("/v1/messages/batches", "{}"));
        Assert.Equal(HttpStatusCode.NotFound, res.StatusCode);
        Assert.Equal("not_found_error", JsonNode.Parse(await res.Content.ReadAsStringAsync())!["error"]!["type"]!.GetValue<string>());

        using var chat = await client.PostAsync("/v1/chat/completions", Json("""{"model":"claude-x","messages":[{"role":"user","content":"x"}]}"""));
        var error = JsonNode.Parse(await chat.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal("model_not_found", error["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task Count_tokens_matches_the_prompt_of_the_same_message_and_counts_tools()
    {
        using var client = server.CreateClient();
        var plain = """{"model":"tiny-youtu","system":"Count me.","messages":[{"role":"user","content":"Anthropic count test"}]}""";
        var withTools = plain.Replace("\"system\"", $$"""
            "tools":[{{CityTool}}],"system"
            """.Trim(), StringComparison.Ordinal);
        async Task<int> Count(string b) => JsonNode.Parse(await (await client.SendAsync(Post("/v1/messages/count_tokens", b))).Content.ReadAsStringAsync())!["input_tokens"]!.GetValue<int>();
        var n = await Count(plain);
        Assert.True(await Count(withTools) > n);

        var created = JsonNode.Parse(await (await client.SendAsync(Post("/v1/messages", plain.Replace("{\"model\"", "{\"max_tokens\":1,\"model\"", StringComparison.Ordinal)))).Content.ReadAsStringAsync())!;
        var usage = created["usage"]!;
        Assert.Equal(n, usage["input_tokens"]!.GetValue<int>() + usage["cache_read_input_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task Openapi_document_describes_the_messages_routes()
    {
        using var client = server.CreateClient();
        var doc = JsonNode.Parse(await client.GetStringAsync("/openapi/v1.json"))!;
        var post = doc["paths"]!["/v1/messages"]!["post"]!;
        Assert.NotNull(post["requestBody"]!["content"]!["application/json"]);
        Assert.NotNull(post["responses"]!["200"]!["content"]!["text/event-stream"]);
        Assert.NotNull(post["responses"]!["529"]);
        Assert.NotNull(doc["paths"]!["/v1/messages/count_tokens"]!["post"]!["responses"]!["200"]);
        var schemas = doc["components"]!["schemas"]!.AsObject();
        Assert.Contains(schemas, kv => kv.Key.Contains("MessagesRequest", StringComparison.Ordinal));
        Assert.Contains(schemas, kv => kv.Key.Contains("AnthropicErrorResponse", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Keywords_the_grammar_cannot_enforce_are_ignored_for_non_strict_tools_and_refused_for_strict_ones()
    {
        using var client = server.CreateClient();
        const string schema = """
            {"type":"object","properties":{"tags":{"type":"object","propertyNames":{"pattern":"^[a-z]+$"},"additionalProperties":{"type":"string"}},
              "enum":{"type":"string","enum":["not","if"]}},"required":["enum"]}
            """;
        string Body(bool strict) => $$"""
            {"model":"tiny-youtu","max_tokens":1,"messages":[{"role":"user","content":"Anthropic lenient schema test"}],
             "tools":[{"name":"tagger","strict":{{(strict ? "true" : "false")}},"input_schema":{{schema}}}]}
            """;
        using var lenient = await client.SendAsync(Post("/v1/messages", Body(strict: false)));
        Assert.True(lenient.StatusCode == HttpStatusCode.OK, await lenient.Content.ReadAsStringAsync());
        Assert.Contains(lenient.Headers.GetValues("Warning"), w => w.Contains("tools.0.input_schema: propertyNames", StringComparison.Ordinal));

        using var strict = await client.SendAsync(Post("/v1/messages", Body(strict: true)));
        var error = JsonNode.Parse(await strict.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.BadRequest, strict.StatusCode);
        Assert.Contains("propertyNames", error["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }
}
