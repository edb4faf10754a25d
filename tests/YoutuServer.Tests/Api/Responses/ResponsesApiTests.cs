using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using static YoutuServer.Tests.Api.Responses.ResponsesWire;

namespace YoutuServer.Tests.Api.Responses;

/// <summary>/v1/responses over raw HTTP on the tiny random model, steered by grammars, budgets and logit bias.</summary>
[Collection("server")]
public sealed class ResponsesApiTests(ServerFixture server)
{
    [Fact]
    public async Task Text_response_has_the_response_shape_and_echoes_the_settings()
    {
        using var client = server.CreateClient();
        var json = await OkAsync(client, $$$"""
            {"model":"{{{ServerFixture.ModelId}}}","input":"{{{Unique("Hello")}}}","instructions":"Be brief.","max_output_tokens":6,"ignore_eos":true,
             "seed":3,"temperature":0.5,"metadata":{"run":"t1"},"reasoning":{"effort":"none"},"user":"u1"}
            """);
        Assert.StartsWith("resp_", json["id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("response", json["object"]!.GetValue<string>());
        Assert.True(json["created_at"]!.GetValue<long>() > 1_700_000_000);
        Assert.Equal("incomplete", json["status"]!.GetValue<string>());
        Assert.Equal("max_output_tokens", json["incomplete_details"]!["reason"]!.GetValue<string>());
        Assert.Equal(ServerFixture.ModelId, json["model"]!.GetValue<string>());
        Assert.Equal("Be brief.", json["instructions"]!.GetValue<string>());
        Assert.Equal(6, json["max_output_tokens"]!.GetValue<int>());
        Assert.Equal(0.5, json["temperature"]!.GetValue<double>());
        Assert.Equal("t1", json["metadata"]!["run"]!.GetValue<string>());
        Assert.Equal("none", json["reasoning"]!["effort"]!.GetValue<string>());
        Assert.Equal("auto", json["tool_choice"]!.GetValue<string>());
        Assert.Empty(json["tools"]!.AsArray());
        Assert.True(json["store"]!.GetValue<bool>());
        Assert.True(json["parallel_tool_calls"]!.GetValue<bool>());
        Assert.Equal("text", json["text"]!["format"]!["type"]!.GetValue<string>());
        Assert.Null(json["previous_response_id"]);
        Assert.Null(json["error"]);
        Assert.Equal("u1", json["user"]!.GetValue<string>());

        var output = json["output"]!.AsArray();
        var message = Assert.Single(output)!;
        Assert.Equal("message", message["type"]!.GetValue<string>());
        Assert.StartsWith("msg_", message["id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("assistant", message["role"]!.GetValue<string>());
        Assert.Equal("incomplete", message["status"]!.GetValue<string>());
        var part = Assert.Single(message["content"]!.AsArray())!;
        Assert.Equal("output_text", part["type"]!.GetValue<string>());
        Assert.Empty(part["annotations"]!.AsArray());
        Assert.False(string.IsNullOrEmpty(part["text"]!.GetValue<string>()));

        Assert.Equal(6, Usage(json, "output"));
        Assert.Equal(Usage(json, "input") + 6, Usage(json, "total"));
        Assert.Equal(0, Usage(json, "reasoning"));
        Assert.NotNull(json["usage"]!["input_tokens_details"]!["cached_tokens"]);
    }

    [Fact]
    public async Task Streamed_tool_call_events_come_in_order_with_consecutive_sequence_numbers()
    {
        using var client = server.CreateClient();
        var events = await StreamAsync(client, $$$"""
            {"input":"{{{Unique("Weather?")}}}","max_output_tokens":200,"seed":5,"stream":true,"reasoning":{"effort":"none"},
             "parallel_tool_calls":false,"tool_choice":"required","tools":[{{{WeatherTool}}}]}
            """);
        for (var i = 0; i < events.Count; i++)
        {
            Assert.Equal(i, events[i].Data["sequence_number"]!.GetValue<int>());
            Assert.Equal(events[i].Event, events[i].Data["type"]!.GetValue<string>());
        }

        var names = events.Select(e => e.Event).ToList();
        Assert.Equal(["response.created", "response.in_progress", "response.output_item.added"], names.Take(3));
        Assert.Equal(["response.function_call_arguments.done", "response.output_item.done", "response.completed"], names.TakeLast(3));
        Assert.All(names.Skip(3).SkipLast(3), n => Assert.Equal("response.function_call_arguments.delta", n));
        Assert.Equal("in_progress", events[0].Data["response"]!["status"]!.GetValue<string>());
        Assert.Null(events[0].Data["response"]!["usage"]);

        var added = events[2].Data["item"]!;
        Assert.Equal("function_call", added["type"]!.GetValue<string>());
        Assert.Equal("in_progress", added["status"]!.GetValue<string>());
        Assert.Equal("", added["arguments"]!.GetValue<string>());
        var itemId = added["id"]!.GetValue<string>();
        Assert.StartsWith("fc_", itemId, StringComparison.Ordinal);
        Assert.StartsWith("call_", added["call_id"]!.GetValue<string>(), StringComparison.Ordinal);

        var deltas = string.Concat(events.Where(e => e.Event == "response.function_call_arguments.delta").Select(e => e.Data["delta"]!.GetValue<string>()));
        var done = events[^3].Data;
        Assert.Equal(itemId, done["item_id"]!.GetValue<string>());
        Assert.Equal(deltas, done["arguments"]!.GetValue<string>());
        using (var doc = JsonDocument.Parse(deltas))
        {
            Assert.Contains(doc.RootElement.GetProperty("city").GetString(), new[] { "Paris", "Rome" });
        }

        var final = events[^1].Data["response"]!;
        Assert.Equal("completed", final["status"]!.GetValue<string>());
        var call = Assert.Single(final["output"]!.AsArray())!;
        Assert.Equal(deltas, call["arguments"]!.GetValue<string>());
        Assert.Equal("get_weather", call["name"]!.GetValue<string>());
        Assert.Equal("completed", call["status"]!.GetValue<string>());
        Assert.True(Usage(final, "output") > 0);
    }

    [Fact]
    public async Task Streamed_text_cut_by_max_output_tokens_ends_with_response_incomplete()
    {
        using var client = server.CreateClient();
        var events = await StreamAsync(client, $$$"""
            {"input":"{{{Unique("Write")}}}","max_output_tokens":5,"ignore_eos":true,"seed":2,"stream":true,"reasoning":{"effort":"none"}}
            """);
        var names = events.Select(e => e.Event).ToList();
        Assert.Equal(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"], names.Take(4));
        Assert.Equal(["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.incomplete"], names.TakeLast(4));
        Assert.Single(names, n => n is "response.completed" or "response.incomplete" or "response.failed");
        var text = string.Concat(events.Where(e => e.Event == "response.output_text.delta").Select(e => e.Data["delta"]!.GetValue<string>()));
        Assert.Equal(text, events[^4].Data["text"]!.GetValue<string>());
        var final = events[^1].Data["response"]!;
        Assert.Equal("incomplete", final["status"]!.GetValue<string>());
        Assert.Equal("max_output_tokens", final["incomplete_details"]!["reason"]!.GetValue<string>());
        Assert.Equal(text, final["output"]![0]!["content"]![0]!["text"]!.GetValue<string>());
        Assert.Equal(5, Usage(final, "output"));
    }

    [Fact]
    public async Task Streamed_reasoning_uses_OpenAIs_event_names_by_default()
    {
        using var client = server.CreateClient();
        var think = await TokenIdAsync(client, "<think>");
        // Thinking on and <think> favoured: the first token opens the reasoning, the next ones are its text.
        var events = await StreamAsync(client, $$$"""
            {"input":"{{{Unique("Think")}}}","max_output_tokens":4,"ignore_eos":true,"seed":3,"stream":true,"reasoning":{"effort":"low"},
             "logit_bias":{"{{{think}}}":100}}
            """);
        var names = events.Select(e => e.Event).ToList();
        Assert.Contains("response.reasoning_text.delta", names);
        Assert.Contains("response.reasoning_text.done", names);
        Assert.DoesNotContain(names, n => n is "response.reasoning.delta" or "response.reasoning.done");
    }

    [Fact]
    public async Task Tool_loop_continues_through_previous_response_id()
    {
        using var client = server.CreateClient();
        var think = await TokenIdAsync(client, "<think>");
        // Thinking on (the template keeps no empty think block in history) with the think block banned.
        var first = await OkAsync(client, $$$"""
            {"input":"{{{Unique("Weather in Rome?")}}}","max_output_tokens":200,"seed":7,"reasoning":{"effort":"low"},"logit_bias":{"{{{think}}}":-100},
             "tool_choice":"required","parallel_tool_calls":false,"tools":[{{{WeatherTool}}}]}
            """);
        var call = Assert.Single(first["output"]!.AsArray())!;
        Assert.Equal("function_call", call["type"]!.GetValue<string>());
        var callId = call["call_id"]!.GetValue<string>();
        var id = first["id"]!.GetValue<string>();

        var second = await OkAsync(client, $$$"""
            {"previous_response_id":"{{{id}}}","input":[{"type":"function_call_output","call_id":"{{{callId}}}","output":"{\"temp_c\":21}"}],
             "max_output_tokens":4,"ignore_eos":true,"seed":1,"reasoning":{"effort":"low"},"tools":[{{{WeatherTool}}}]}
            """);
        Assert.Equal(id, second["previous_response_id"]!.GetValue<string>());
        // The second prompt holds the first turn's prompt, its call and the tool output, and reuses the first prompt's KV.
        Assert.True(Usage(second, "input") > Usage(first, "input") + 20, second["usage"]!.ToJsonString());
        Assert.True(Usage(second, "cached") >= Usage(first, "input"), $"{first["usage"]!.ToJsonString()} then {second["usage"]!.ToJsonString()}");
    }

    [Fact]
    public async Task Continuing_with_thinking_off_reuses_the_first_prompt_up_to_the_empty_think_block_the_template_drops()
    {
        // With thinking off the generation prompt ends <|Assistant|><think>\n\n</think>\n\n and the model answers after
        // it; sent back as plain history (no tool loop), the chat template renders that turn as <|Assistant|>answer,
        // without the empty think block. So the continuation's prompt is the first prompt less that block, then the
        // answer: it shares with what the first turn evaluated exactly the first prompt up to <|Assistant|>, and the
        // answer's KV (computed after the think block) cannot be reused. Thinking on keeps the whole turn (test below).
        using var client = server.CreateClient();
        var res = await client.PostAsync("/tokenize", Body(JsonSerializer.Serialize(new { content = YoutuServer.Chat.Templates.YoutuChatFormatter.ThinkingOffPrefill })));
        var prefill = JsonNode.Parse(await res.Content.ReadAsStringAsync())!["tokens"]!.AsArray().Count;
        Assert.True(prefill > 0);
        var first = await OkAsync(client, $$"""{"reasoning":{"effort":"none"},"input":{{JsonSerializer.Serialize(Unique("Say something."))}},"max_output_tokens":8,"ignore_eos":true}""");
        var second = await OkAsync(client, $$"""
            {"reasoning":{"effort":"none"},"previous_response_id":"{{first["id"]!.GetValue<string>()}}","input":"And then?","max_output_tokens":2,"ignore_eos":true}
            """);
        Assert.Equal(Usage(first, "input") - prefill, Usage(second, "cached"));
    }

    [Fact]
    public async Task Continuing_by_id_reuses_the_whole_first_turn_from_the_prefix_cache()
    {
        using var client = server.CreateClient();
        var think = await TokenIdAsync(client, "<think>");
        // Grammar-fixed text with thinking on but the think block banned: the answer is exactly the enum string, so
        // the second turn's prompt starts with the first turn's prompt and output, token for token.
        JsonNode? first = null;
        for (var seed = 1; seed <= 12 && first is null; seed++)
        {
            var r = await OkAsync(client, $$$"""
                {"input":"{{{Unique("Say hello")}}}","seed":{{{seed}}},"max_output_tokens":40,"reasoning":{"effort":"low"},"logit_bias":{"{{{think}}}":-100},
                 "text":{"format":{"type":"json_schema","name":"greeting","schema":{"type":"string","enum":["hello world, how are you"]} } } }
                """);
            if (r["status"]!.GetValue<string>() == "completed" && r["output"]!.AsArray().All(o => o!["type"]!.GetValue<string>() == "message"))
            {
                first = r;
            }
        }

        Assert.NotNull(first);
        Assert.Equal("completed", first["status"]!.GetValue<string>());
        Assert.Equal("\"hello world, how are you\"", first["output"]![0]!["content"]![0]!["text"]!.GetValue<string>());
        var second = await OkAsync(client, $$$"""
            {"previous_response_id":"{{{first["id"]!.GetValue<string>()}}}","input":"And then?","max_output_tokens":2,"ignore_eos":true,"reasoning":{"effort":"low"}}
            """);
        // Everything the first turn evaluated and generated (its last sampled token is never decoded) is reused.
        var firstTurn = Usage(first, "input") + Usage(first, "output") - 1;
        Assert.True(Usage(second, "cached") >= firstTurn, $"{first["usage"]!.ToJsonString()} then {second["usage"]!.ToJsonString()}");
    }

    [Fact]
    public async Task Namespace_tools_are_called_by_name_and_namespace_and_hosted_tools_are_skipped()
    {
        using var client = server.CreateClient();
        var (status, json, res) = await PostAsync(client, $$$"""
            {"input":"{{{Unique("Find the customer")}}}","max_output_tokens":200,"seed":4,"reasoning":{"effort":"none"},"store":false,
             "tool_choice":{"type":"function","namespace":"crm","name":"lookup"},"parallel_tool_calls":false,
             "tools":[{"type":"web_search"},{"type":"namespace","name":"crm","description":"Customer records","tools":[
               {"type":"function","name":"lookup","parameters":{"type":"object","properties":{"id":{"type":"integer","minimum":1,"maximum":9}},
                "required":["id"],"additionalProperties":false}}]},{"type":"file_search","vector_store_ids":["vs_1"]}]}
            """);
        Assert.True(status == HttpStatusCode.OK, json.ToJsonString());
        Assert.Equal("web_search,file_search", res.Headers.GetValues("x-youtu-skipped-tools").Single());
        var call = Assert.Single(json["output"]!.AsArray())!;
        Assert.Equal("function_call", call["type"]!.GetValue<string>());
        Assert.Equal("lookup", call["name"]!.GetValue<string>());
        Assert.Equal("crm", call["namespace"]!.GetValue<string>());
        var args = call["arguments"]!.GetValue<string>();
        using (var doc = JsonDocument.Parse(args))
        {
            Assert.InRange(doc.RootElement.GetProperty("id").GetInt32(), 1, 9);
        }

        // A stateless client (store: false) sends the call back with its namespace, and the result.
        var history = new JsonArray
        {
            new JsonObject { ["role"] = "user", ["content"] = "Find the customer" },
            new JsonObject { ["type"] = "function_call", ["call_id"] = call["call_id"]!.GetValue<string>(), ["namespace"] = "crm", ["name"] = "lookup", ["arguments"] = args },
            new JsonObject { ["type"] = "function_call_output", ["call_id"] = call["call_id"]!.GetValue<string>(), ["output"] = new JsonArray(new JsonObject { ["type"] = "input_text", ["text"] = "Ada" }) },
        };
        var next = await OkAsync(client, $$$"""
            {"input":{{{history.ToJsonString()}}},"max_output_tokens":3,"ignore_eos":true,"store":false,"reasoning":{"effort":"none"},
             "tools":[{"type":"namespace","name":"crm","description":"Customer records","tools":[{"type":"function","name":"lookup","parameters":{"type":"object"}}]}]}
            """);
        Assert.Equal(3, Usage(next, "output"));
        var missing = await client.GetAsync($"/v1/responses/{next["id"]!.GetValue<string>()}");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode); // store: false keeps nothing
    }

    [Fact]
    public async Task Reasoning_items_come_back_into_the_prompt_from_text_or_sealed_content()
    {
        using var client = server.CreateClient();
        JsonNode? reasoning = null;
        for (var seed = 1; seed <= 16 && reasoning is null; seed++)
        {
            var r = await OkAsync(client, $$$"""
                {"input":"{{{Unique("Think")}}}","max_output_tokens":60,"seed":{{{seed}}},"store":false,"text":{"format":{"type":"json_object"}},
                 "reasoning":{"effort":"low","summary":"auto"},"reasoning_budget":6,"include":["reasoning.encrypted_content"]}
                """);
            reasoning = r["output"]!.AsArray().FirstOrDefault(o => o!["type"]!.GetValue<string>() == "reasoning");
            if (reasoning is not null)
            {
                Assert.True(Usage(r, "reasoning") > 0);
            }
        }

        Assert.NotNull(reasoning);
        Assert.StartsWith("rs_", reasoning["id"]!.GetValue<string>(), StringComparison.Ordinal);
        var text = reasoning["content"]![0]!["text"]!.GetValue<string>();
        Assert.Equal("reasoning_text", reasoning["content"]![0]!["type"]!.GetValue<string>());
        Assert.Equal(text, reasoning["summary"]![0]!["text"]!.GetValue<string>());
        var sealedText = reasoning["encrypted_content"]!.GetValue<string>();
        Assert.DoesNotContain(text, sealedText, StringComparison.Ordinal);

        async Task<int> PromptTokens(JsonObject? item)
        {
            var input = new JsonArray { new JsonObject { ["role"] = "user", ["content"] = "Weather in Rome?" } };
            if (item is not null)
            {
                input.Add(item);
            }

            input.Add(new JsonObject { ["type"] = "function_call", ["call_id"] = "call_1", ["name"] = "get_weather", ["arguments"] = "{\"city\":\"Rome\"}" });
            input.Add(new JsonObject { ["type"] = "function_call_output", ["call_id"] = "call_1", ["output"] = "21 C" });
            var r = await OkAsync(client, $$$"""
                {"input":{{{input.ToJsonString()}}},"max_output_tokens":1,"store":false,"reasoning":{"effort":"low"},"tools":[{{{WeatherTool}}}]}
                """);
            return Usage(r, "input");
        }

        var without = await PromptTokens(null);
        var withText = await PromptTokens(new JsonObject { ["type"] = "reasoning", ["summary"] = new JsonArray(), ["content"] = new JsonArray(new JsonObject { ["type"] = "reasoning_text", ["text"] = text }) });
        var withSealed = await PromptTokens(new JsonObject { ["type"] = "reasoning", ["id"] = "rs_1", ["summary"] = new JsonArray(), ["encrypted_content"] = sealedText });
        var withForged = await PromptTokens(new JsonObject { ["type"] = "reasoning", ["summary"] = new JsonArray(), ["encrypted_content"] = "bm90IGEgc2VhbA" });
        Assert.True(withText > without, $"{withText} vs {without}");
        Assert.Equal(withText, withSealed);
        Assert.Equal(without, withForged); // a seal that does not open is ignored, never a 500
    }

    [Fact]
    public async Task Stored_responses_can_be_read_listed_and_deleted()
    {
        using var client = server.CreateClient();
        var created = await OkAsync(client, $$$"""
            {"input":[{"role":"developer","content":"Answer shortly."},{"type":"message","role":"user","content":[{"type":"input_text","text":"{{{Unique("One")}}}"},{"type":"input_text","text":"Two"}]}],
             "max_output_tokens":3,"ignore_eos":true,"reasoning":{"effort":"none"}}
            """);
        var id = created["id"]!.GetValue<string>();
        var got = JsonNode.Parse(await client.GetStringAsync($"/v1/responses/{id}"))!;
        Assert.Equal(created.ToJsonString(), got.ToJsonString());

        var list = JsonNode.Parse(await client.GetStringAsync($"/v1/responses/{id}/input_items"))!;
        Assert.Equal("list", list["object"]!.GetValue<string>());
        var data = list["data"]!.AsArray();
        Assert.Equal(2, data.Count);
        Assert.Equal("user", data[0]!["role"]!.GetValue<string>()); // newest first by default
        Assert.Equal("developer", data[1]!["role"]!.GetValue<string>());
        Assert.Equal(data[0]!["id"]!.GetValue<string>(), list["first_id"]!.GetValue<string>());
        Assert.Equal(data[1]!["id"]!.GetValue<string>(), list["last_id"]!.GetValue<string>());
        Assert.False(list["has_more"]!.GetValue<bool>());

        var page = JsonNode.Parse(await client.GetStringAsync($"/v1/responses/{id}/input_items?order=asc&limit=1"))!;
        Assert.Equal("developer", page["data"]![0]!["role"]!.GetValue<string>());
        Assert.True(page["has_more"]!.GetValue<bool>());
        var rest = JsonNode.Parse(await client.GetStringAsync($"/v1/responses/{id}/input_items?order=asc&limit=1&after={page["last_id"]!.GetValue<string>()}"))!;
        Assert.Equal("user", rest["data"]![0]!["role"]!.GetValue<string>());
        Assert.False(rest["has_more"]!.GetValue<bool>());

        var deleted = await client.DeleteAsync($"/v1/responses/{id}");
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        var body = JsonNode.Parse(await deleted.Content.ReadAsStringAsync())!;
        Assert.True(body["deleted"]!.GetValue<bool>());
        Assert.Equal(id, body["id"]!.GetValue<string>());

        var gone = await client.GetAsync($"/v1/responses/{id}");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        Assert.Equal("not_found", JsonNode.Parse(await gone.Content.ReadAsStringAsync())!["error"]!["code"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, (await client.DeleteAsync($"/v1/responses/{id}")).StatusCode);

        var (status, error, _) = await PostAsync(client, $$$"""{"previous_response_id":"{{{id}}}","input":"again"}""");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("previous_response_id", error["error"]!["param"]!.GetValue<string>());
        Assert.Equal("previous_response_not_found", error["error"]!["code"]!.GetValue<string>());
        Assert.Equal("invalid_request_error", error["error"]!["type"]!.GetValue<string>());

        var metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("youtu_state_items{", metrics, StringComparison.Ordinal);
        Assert.Contains("youtu_state_size_bytes{", metrics, StringComparison.Ordinal);
        Assert.Contains("store=\"responses\"", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Function_calls_and_outputs_without_call_id_are_accepted()
    {
        // Some agent histories carry calls without ids; the template pairs calls and results by position.
        using var client = server.CreateClient();
        var json = await OkAsync(client, """
            {"input":[{"role":"user","content":"Weather?"},{"type":"function_call","name":"get_weather","arguments":"{\"city\":\"Rome\"}"},
              {"type":"function_call_output","output":"21 C"}],"max_output_tokens":2,"ignore_eos":true,"store":false,"reasoning":{"effort":"none"}}
            """);
        Assert.Equal(2, Usage(json, "output"));
    }

    [Fact]
    public async Task The_openapi_document_describes_the_responses_routes()
    {
        using var client = server.CreateClient();
        var doc = JsonNode.Parse(await client.GetStringAsync("/openapi/v1.json"))!;
        var paths = doc["paths"]!.AsObject();
        Assert.NotNull(paths["/v1/responses"]!["post"]);
        Assert.NotNull(paths["/v1/responses/{id}"]!["get"]);
        Assert.NotNull(paths["/v1/responses/{id}"]!["delete"]);
        Assert.NotNull(paths["/v1/responses/{id}/input_items"]!["get"]);
    }

    [Theory]
    [InlineData("""{"input":"x","max_output_tokens":0}""", 400, "max_output_tokens", null)]
    [InlineData("""{"input":"x","max_output_tokens":100000}""", 400, "input", "context_length_exceeded")]
    [InlineData("""{"input":"x","temperature":5}""", 400, "temperature", null)]
    [InlineData("""{"max_output_tokens":4}""", 400, "input", null)]
    [InlineData("""{"input":[{"role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_image","image_url":"https://x/y.png"}]}]}""", 400, "input[0].content[1].type", null)]
    [InlineData("""{"input":[{"role":"tool","content":"a"}]}""", 400, "input[0].role", null)]
    [InlineData("""{"input":"x","text":{"format":{"type":"yaml"}}}""", 400, "text.format.type", null)]
    [InlineData("""{"input":"x","reasoning":{"effort":"extreme"}}""", 400, "reasoning.effort", null)]
    [InlineData("""{"input":"x","tool_choice":{"type":"function","name":"nope"},"tools":[{"type":"function","name":"yes"}]}""", 400, "tool_choice", null)]
    [InlineData("""{"input":"x","tools":[{"type":"function","name":"bad name!"}]}""", 400, "tools[0].name", null)]
    [InlineData("""{"model":"gpt-4o","input":"x"}""", 404, "model", "model_not_found")]
    [InlineData("""{"previous_response_id":"resp_unknown","input":"x"}""", 404, "previous_response_id", "previous_response_not_found")]
    public async Task Errors_are_openai_shaped_and_name_the_responses_field(string body, int status, string param, string? code)
    {
        using var client = server.CreateClient();
        var (actual, json, _) = await PostAsync(client, body);
        Assert.Equal((HttpStatusCode)status, actual);
        var error = json["error"]!;
        Assert.Equal(param, error["param"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(error["message"]!.GetValue<string>()));
        Assert.NotNull(error["type"]);
        if (code is not null)
        {
            Assert.Equal(code, error["code"]!.GetValue<string>());
        }

        if (body.Contains("input_image", StringComparison.Ordinal))
        {
            Assert.Contains("input_image", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
        }
    }
}
