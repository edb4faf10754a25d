using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using YoutuServer.TestSupport;
using YoutuServer.Tests.Operations;
using static YoutuServer.Tests.Api.Responses.ResponsesWire;

namespace YoutuServer.Tests.Api.Responses;

/// <summary>
/// Our JSON and SSE responses, compaction results and error bodies validate against the Open Responses specification's
/// own OpenAPI document (Conformance/openapi.json, through <see cref="OpenResponsesSpec"/>), and echo what the request
/// set (issue 22). The requests these tests send validate against the document's request schemas too. The scenarios
/// follow the specification's compliance tool (basic, system prompt, multi-turn, tool calling, streaming) and add
/// reasoning, forced calls, continuations, compaction and errors.
/// </summary>
public sealed class OpenResponsesConformanceTests(OpenResponsesServerFixture server) : IClassFixture<OpenResponsesServerFixture>
{
    private const string Model = OpenResponsesServerFixture.ModelId;

    private HttpClient Client()
    {
        var client = server.CreateClient();
        client.Timeout = TimeSpan.FromMinutes(10); // a loaded machine may need minutes for a few hundred tokens; outcomes are asserted, not time
        return client;
    }

    private static async Task<JsonNode> ConformingAsync(HttpClient client, string body)
    {
        OpenResponsesSpec.AssertValid("CreateResponseBody", JsonNode.Parse(body)!, "the request");
        var r = await OkAsync(client, body);
        OpenResponsesSpec.AssertValid("ResponseResource", r, "the response");
        return r;
    }

    [Fact]
    public void The_vendored_document_is_the_specifications_and_its_known_erratum_is_still_there()
    {
        var doc = OpenResponsesSpec.Document;
        Assert.Equal("3.1.0", doc["openapi"]!.GetValue<string>());
        Assert.Equal("Open Responses", doc["info"]!["title"]!.GetValue<string>());
        Assert.Equal("2026-04-24", doc["info"]!["version"]!.GetValue<string>());
        // The override of JsonSchemaResponseFormat.schema (README) is needed only while the published document has it.
        Assert.True(JsonNode.DeepEquals(OpenResponsesSpec.ErratumPublished, doc["components"]!["schemas"]!["JsonSchemaResponseFormat"]!["properties"]!["schema"]),
            "the published document no longer types JsonSchemaResponseFormat.schema as null: drop the override in OpenResponsesSpec");
        Assert.Equal(24, doc["paths"]!["/responses"]!["post"]!["responses"]!["200"]!["content"]!["text/event-stream"]!["schema"]!["oneOf"]!.AsArray().Count);
    }

    [Fact]
    public void The_specifications_schemas_reject_what_it_requires()
    {
        // A response without fields the specification requires fails: these tests can fail.
        var old = JsonNode.Parse("""
            {"id":"resp_1","object":"response","created_at":1,"status":"completed","error":null,"incomplete_details":null,
             "instructions":null,"max_output_tokens":null,"model":"m","output":[],"parallel_tool_calls":true,"previous_response_id":null,
             "reasoning":{"effort":null,"summary":null},"store":true,"temperature":1,"text":{"format":{"type":"text"}},"tool_choice":"auto",
             "tools":[],"top_p":1,"truncation":"disabled","usage":null,"user":null,"metadata":{},"background":false,"prompt_cache_key":null}
            """)!;
        Assert.NotEmpty(OpenResponsesSpec.Errors("ResponseResource", old));
        var complete = old.DeepClone().AsObject();
        foreach (var (k, v) in new (string, JsonNode?)[] { ("completed_at", 2), ("presence_penalty", 0), ("frequency_penalty", 0), ("top_logprobs", 0), ("max_tool_calls", null), ("service_tier", "default"), ("safety_identifier", null) })
        {
            complete[k] = v;
        }

        OpenResponsesSpec.AssertValid("ResponseResource", complete, "the specification's example shape");
        // A function tool echoed without strict, a message without status, an unknown event type: each fails.
        var tool = JsonNode.Parse("""{"type":"function","name":"f","description":null,"parameters":{}}""")!;
        Assert.NotEmpty(OpenResponsesSpec.Errors("Tool", tool));
        var message = JsonNode.Parse("""{"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":"hi","annotations":[]}]}""")!;
        Assert.NotEmpty(OpenResponsesSpec.Errors("ItemField", message));
        Assert.NotEmpty(OpenResponsesSpec.Errors(OpenResponsesSpec.StreamingEvent, JsonNode.Parse("""{"type":"response.bogus","sequence_number":1}""")!));
        Assert.Null(OpenResponsesSpec.StreamingEventSchemaOf("response.bogus"));
    }

    [Fact]
    public async Task Plain_text_system_prompt_and_multi_turn_responses_conform_with_the_defaults_echoed()
    {
        using var client = Client();
        var input = JsonSerializer.Serialize(Unique("Say hello in exactly 3 words."));
        var basic = await ConformingAsync(client, $$"""{"model":"{{Model}}","input":[{"type":"message","role":"user","content":{{input}}}],"max_output_tokens":16}""");
        Assert.Equal(0, basic["presence_penalty"]!.GetValue<double>());
        Assert.Equal(0, basic["frequency_penalty"]!.GetValue<double>());
        Assert.Equal(0, basic["top_logprobs"]!.GetValue<int>());
        Assert.Null(basic["max_tool_calls"]);
        Assert.Null(basic["safety_identifier"]);
        Assert.Null(basic["previous_response_id"]);
        Assert.Equal("default", basic["service_tier"]!.GetValue<string>());
        Assert.Equal(16, basic["max_output_tokens"]!.GetValue<int>());
        Assert.Contains(basic["output"]!.AsArray(), i => i!["type"]!.GetValue<string>() == "message");
        if (basic["status"]!.GetValue<string>() == "incomplete")
        {
            Assert.Null(basic["completed_at"]);
        }
        else
        {
            Assert.True(basic["completed_at"]!.GetValue<long>() >= basic["created_at"]!.GetValue<long>());
        }

        var system = JsonSerializer.Serialize(Unique("You are a pirate. Always respond in pirate speak."));
        await ConformingAsync(client, $$"""
            {"model":"{{Model}}","max_output_tokens":16,"input":[{"type":"message","role":"system","content":{{system}}},{"type":"message","role":"user","content":"Say hello."}]}
            """);
        var alice = JsonSerializer.Serialize(Unique("My name is Alice."));
        await ConformingAsync(client, $$"""
            {"model":"{{Model}}","max_output_tokens":16,"input":[{"type":"message","role":"user","content":{{alice}}},
             {"type":"message","role":"assistant","content":"Hello Alice! Nice to meet you. How can I help you today?"},
             {"type":"message","role":"user","content":"What is my name?"}]}
            """);
    }

    [Fact]
    public async Task A_forced_function_call_with_reasoning_conforms_and_echoes_every_request_value()
    {
        using var client = Client();
        var body = $$"""
            {"model":"{{Model}}","input":{{JsonSerializer.Serialize(Unique("What's the weather like in Paris?"))}},"instructions":"Be brief.",
             "reasoning":{"effort":"low","summary":"auto"},"max_output_tokens":120,"tool_choice":"required","parallel_tool_calls":false,
             "temperature":0.7,"top_p":0.9,"presence_penalty":0.5,"frequency_penalty":0.25,"max_tool_calls":3,"service_tier":"flex",
             "safety_identifier":"user-7","prompt_cache_key":"conformance-key","metadata":{"suite":"conformance"},"store":false,"truncation":"disabled",
             "tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string","enum":["Paris","Rome"]} },
               "required":["city"],"additionalProperties":false} },
              {"type":"function","name":"get_time","description":"Time of a city","strict":false,"parameters":{"type":"object","properties":{"city":{"type":"string"} } } }]}
            """;
        var r = await ConformingAsync(client, body);
        Assert.Equal("completed", r["status"]!.GetValue<string>());
        Assert.True(r["completed_at"]!.GetValue<long>() >= r["created_at"]!.GetValue<long>());
        Assert.Contains(r["output"]!.AsArray(), i => i!["type"]!.GetValue<string>() == "function_call");
        Assert.Equal("Be brief.", r["instructions"]!.GetValue<string>());
        Assert.Equal("low", r["reasoning"]!["effort"]!.GetValue<string>());
        Assert.Equal("required", r["tool_choice"]!.GetValue<string>());
        Assert.False(r["parallel_tool_calls"]!.GetValue<bool>());
        Assert.Equal(0.7, r["temperature"]!.GetValue<double>(), 6);
        Assert.Equal(0.9, r["top_p"]!.GetValue<double>(), 6);
        Assert.Equal(0.5, r["presence_penalty"]!.GetValue<double>());
        Assert.Equal(0.25, r["frequency_penalty"]!.GetValue<double>());
        Assert.Equal(0, r["top_logprobs"]!.GetValue<int>());
        Assert.Equal(3, r["max_tool_calls"]!.GetValue<int>());
        Assert.Equal(120, r["max_output_tokens"]!.GetValue<int>());
        Assert.Equal("default", r["service_tier"]!.GetValue<string>()); // the tier that served it: this server has one
        Assert.Equal("user-7", r["safety_identifier"]!.GetValue<string>());
        Assert.Equal("conformance-key", r["prompt_cache_key"]!.GetValue<string>());
        Assert.Equal("conformance", r["metadata"]!["suite"]!.GetValue<string>());
        Assert.False(r["store"]!.GetValue<bool>());
        Assert.False(r["background"]!.GetValue<bool>());
        Assert.Equal("disabled", r["truncation"]!.GetValue<string>());
        var tools = r["tools"]!.AsArray();
        Assert.Equal(2, tools.Count);
        Assert.True(tools[0]!["strict"]!.GetValue<bool>()); // the spec's default
        Assert.Null(tools[0]!["description"]);
        Assert.True(tools[0]!.AsObject().ContainsKey("description"));
        Assert.False(tools[1]!["strict"]!.GetValue<bool>());
        Assert.Equal("Time of a city", tools[1]!["description"]!.GetValue<string>());
    }

    [Fact]
    public async Task An_allowed_tools_choice_is_echoed_with_the_mode_that_applied()
    {
        using var client = Client();
        var body = $$"""
            {"model":"{{Model}}","input":{{JsonSerializer.Serialize(Unique("Weather?"))}},"max_output_tokens":16,"reasoning":{"effort":"none"},"tools":[{{WeatherTool}}],
             "tool_choice":{"type":"allowed_tools","tools":[{"type":"function","name":"get_weather"}]} }
            """;
        var r = await ConformingAsync(client, body);
        Assert.Equal("allowed_tools", r["tool_choice"]!["type"]!.GetValue<string>());
        Assert.Equal("auto", r["tool_choice"]!["mode"]!.GetValue<string>());
        Assert.Equal("get_weather", r["tool_choice"]!["tools"]![0]!["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_stored_response_and_its_continuation_conform_as_created_and_as_retrieved()
    {
        using var client = Client();
        var first = await ConformingAsync(client, $$"""{"model":"{{Model}}","input":{{JsonSerializer.Serialize(Unique("Remember the number 7."))}},"reasoning":{"effort":"none"},"store":true,"max_output_tokens":16}""");
        Assert.True(first["store"]!.GetValue<bool>());
        var id = first["id"]!.GetValue<string>();
        var second = await ConformingAsync(client, $$"""{"model":"{{Model}}","input":"Which number?","reasoning":{"effort":"none"},"previous_response_id":"{{id}}","store":true,"max_output_tokens":16}""");
        Assert.Equal(id, second["previous_response_id"]!.GetValue<string>());
        var retrieved = JsonNode.Parse(await client.GetStringAsync($"/v1/responses/{second["id"]}"))!;
        OpenResponsesSpec.AssertValid("ResponseResource", retrieved, "the retrieved response");
        Assert.Equal(id, retrieved["previous_response_id"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("""{"max_output_tokens":24}""")]
    [InlineData("""{"reasoning":{"effort":"low"},"max_output_tokens":40}""")]
    [InlineData("""{"reasoning":{"effort":"low","summary":"auto"},"max_output_tokens":120,"tool_choice":"required","tools":[TOOL]}""")]
    [InlineData("""{"reasoning":{"effort":"none"},"max_output_tokens":60,"text":{"format":{"type":"json_schema","name":"a","schema":{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"],"additionalProperties":false}}}}""")]
    public async Task Every_streaming_event_conforms(string extra)
    {
        using var client = Client();
        var body = JsonNode.Parse(extra.Replace("TOOL", WeatherTool, StringComparison.Ordinal))!.AsObject();
        body["model"] = Model;
        body["input"] = Unique("Stream " + extra.Length);
        body["stream"] = true;
        OpenResponsesSpec.AssertValid("CreateResponseBody", body, "the request");
        var events = await StreamAsync(client, body.ToJsonString());
        Assert.NotEmpty(events);
        var seq = -1;
        foreach (var (name, data) in events)
        {
            Assert.Equal(name, data["type"]!.GetValue<string>());
            OpenResponsesSpec.AssertValidEvent(data);
            var n = data["sequence_number"]!.GetValue<int>();
            Assert.True(n > seq, $"sequence numbers must increase: {n} after {seq}");
            seq = n;
        }

        Assert.Equal("response.created", events[0].Event);
        Assert.Contains(events[^1].Event, new[] { "response.completed", "response.incomplete" });
        if (extra.Contains("json_schema", StringComparison.Ordinal))
        {
            // Echoed with what the specification requires of it that the request left out.
            var format = events[^1].Data["response"]!["text"]!["format"]!;
            Assert.Equal("a", format["name"]!.GetValue<string>());
            Assert.True(format.AsObject().ContainsKey("description"));
            Assert.Null(format["description"]);
            Assert.True(format["strict"]!.GetValue<bool>());
            Assert.Equal("object", format["schema"]!["type"]!.GetValue<string>());
        }

        if (extra.Contains("TOOL", StringComparison.Ordinal))
        {
            // What the specification's compliance tool checks of a streamed tool call.
            var types = events.Select(e => e.Event).ToList();
            Assert.Contains(events, e => e.Event == "response.output_item.added" && e.Data["item"]?["type"]?.GetValue<string>() == "function_call");
            Assert.Contains("response.function_call_arguments.delta", types);
            Assert.Contains("response.function_call_arguments.done", types);
            Assert.Contains(events, e => e.Event == "response.output_item.done" && e.Data["item"]?["type"]?.GetValue<string>() == "function_call");
        }
    }

    [Fact]
    public async Task The_compact_endpoints_result_conforms()
    {
        using var client = Client();
        var first = JsonSerializer.Serialize(Unique("Plan a trip to Paris."));
        var body = $$"""
            {"model":"{{Model}}","instructions":"You are a travel agent.","input":[
              {"type":"message","role":"user","content":{{first}} },
              {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Day one: the Louvre. Day two: Montmartre."}]},
              {"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},
              {"type":"function_call_output","call_id":"call_1","output":"Sunny, 21 C."},
              {"type":"message","role":"user","content":"Book the museum for Tuesday."}]}
            """;
        OpenResponsesSpec.AssertValid("CompactResponseMethodPublicBody", JsonNode.Parse(body)!, "the request");
        var res = await client.PostAsync("/v1/responses/compact", Body(body));
        var compacted = JsonNode.Parse(await res.Content.ReadAsStringAsync())!;
        Assert.True(res.StatusCode == HttpStatusCode.OK, compacted.ToJsonString());
        OpenResponsesSpec.AssertValid("CompactResource", compacted, "the compaction");
        Assert.Contains(compacted["output"]!.AsArray(), i => i!["type"]!.GetValue<string>() == "compaction");
    }

    [Fact]
    public async Task Error_bodies_carry_the_specifications_error_payload()
    {
        // The document gives no schema for an HTTP error body; its error payload (ErrorPayload, what an error event
        // carries) is what a client of it knows, so our bodies' "error" object must be one.
        using var client = Client();
        foreach (var (path, body, status) in new[]
        {
            ("/v1/responses", $$"""{"model":"{{Model}}","input":"Hi","temperature":7}""", HttpStatusCode.BadRequest),
            ("/v1/responses", $$"""{"model":"{{Model}}","input":"Hi","previous_response_id":"resp_does_not_exist"}""", HttpStatusCode.NotFound),
            ("/v1/responses", """{"model":"no-such-model","input":"Hi"}""", HttpStatusCode.NotFound),
            ("/v1/responses/compact", """{"input":"Hello"}""", HttpStatusCode.BadRequest),
        })
        {
            var res = await client.PostAsync(path, Body(body));
            var json = JsonNode.Parse(await res.Content.ReadAsStringAsync())!;
            Assert.True(res.StatusCode == status, $"{path} {body}: {(int)res.StatusCode} {json.ToJsonString()}");
            OpenResponsesSpec.AssertValid("ErrorPayload", json["error"]!, $"the error of {path} {body}");
        }
    }
}

/// <summary>
/// The tiny-model server as a client of the Open Responses specification wants it: its reasoning events under the
/// specification's names (<c>--responses-reasoning-events open-responses</c>; the default keeps OpenAI's names).
/// </summary>
public sealed class OpenResponsesServerFixture : TinyServerFactory
{
    // Its own alias: the engine gauges of every in-process host share one static meter, keyed by model.
    public const string ModelId = "tiny-youtu-open-responses";

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        UseTinyModel(builder, TinyModelFiles.Get(seed: 42), ModelId, parallel: 4, ctxSize: 4096, threads: 2);
        builder.UseSetting("Youtu:ResponsesReasoningEvents", "open-responses");
    }
}
