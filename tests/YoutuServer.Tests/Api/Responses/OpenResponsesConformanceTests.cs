extern alias JsonSchemaNet;

using System.Text.Json;
using System.Text.Json.Nodes;
using JsonSchemaNet::Json.Schema;
using YoutuServer.Tests.Operations;
using static YoutuServer.Tests.Api.Responses.ResponsesWire;

namespace YoutuServer.Tests.Api.Responses;

/// <summary>
/// Our JSON and SSE responses validate against the Open Responses specification's response and streaming-event
/// schemas (Conformance/open-responses.schema.json, checked with JsonSchema.Net), and echo what the request set
/// (issue 22 item 2).
/// </summary>
[Collection("server")]
public sealed class OpenResponsesConformanceTests(ServerFixture server)
{
    private const string SchemaId = "https://youtu-server.local/tests/open-responses.schema.json";

    private static readonly Lazy<(JsonSchema Response, JsonSchema Event)> Schemas = new(() =>
    {
        var options = new BuildOptions { SchemaRegistry = new SchemaRegistry() };
        JsonSchema.FromFile(RepoFiles.PathOf("tests/YoutuServer.Tests/Api/Responses/Conformance/open-responses.schema.json"), options);
        return (JsonSchema.FromText($$"""{"$ref":"{{SchemaId}}#/$defs/response"}""", options),
            JsonSchema.FromText($$"""{"$ref":"{{SchemaId}}#/$defs/event"}""", options));
    });

    private static void AssertValid(JsonSchema schema, JsonNode instance, string what)
    {
        using var doc = JsonDocument.Parse(instance.ToJsonString());
        var result = schema.Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (!result.IsValid)
        {
            var errors = (result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
                .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation} ({d.EvaluationPath}): {e.Key}: {e.Value}"));
            Assert.Fail($"{what} does not match the Open Responses schema:\n{string.Join("\n", errors)}\n{instance.ToJsonString()}");
        }
    }

    [Fact]
    public void The_schema_rejects_what_the_specification_requires()
    {
        // A response without the fields this issue adds fails: the test can fail.
        var old = JsonNode.Parse("""
            {"id":"resp_1","object":"response","created_at":1,"status":"completed","error":null,"incomplete_details":null,
             "instructions":null,"max_output_tokens":null,"model":"m","output":[],"parallel_tool_calls":true,"previous_response_id":null,
             "reasoning":{"effort":null,"summary":null},"store":true,"temperature":1,"text":{"format":{"type":"text"}},"tool_choice":"auto",
             "tools":[],"top_p":1,"truncation":"disabled","usage":null,"user":null,"metadata":{},"background":false,"prompt_cache_key":null}
            """)!;
        using var doc = JsonDocument.Parse(old.ToJsonString());
        Assert.False(Schemas.Value.Response.Evaluate(doc.RootElement).IsValid);
        var withFields = old.DeepClone().AsObject();
        foreach (var (k, v) in new (string, JsonNode?)[] { ("completed_at", 2), ("presence_penalty", 0), ("frequency_penalty", 0), ("top_logprobs", 0), ("max_tool_calls", null), ("service_tier", "default"), ("safety_identifier", null) })
        {
            withFields[k] = v;
        }

        AssertValid(Schemas.Value.Response, withFields, "the specification's example shape");
    }

    [Fact]
    public async Task Json_response_with_a_forced_call_and_reasoning_conforms_and_echoes_the_request()
    {
        using var client = server.CreateClient();
        client.Timeout = TimeSpan.FromMinutes(10); // a loaded machine may need minutes for a few hundred tokens; outcomes are asserted, not time
        var body = """
            {"model":"tiny-youtu","input":"INPUT","reasoning":{"effort":"low"},"max_output_tokens":120,"tool_choice":"required",
             "presence_penalty":0.5,"frequency_penalty":0.25,"max_tool_calls":3,"service_tier":"flex","safety_identifier":"user-7",
             "tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string","enum":["Paris","Rome"]}},
               "required":["city"],"additionalProperties":false}}]}
            """.Replace("INPUT", Unique("Weather?"), StringComparison.Ordinal);
        var r = await OkAsync(client, body);
        AssertValid(Schemas.Value.Response, r, "the response");
        Assert.Equal("completed", r["status"]!.GetValue<string>());
        Assert.True(r["completed_at"]!.GetValue<long>() >= r["created_at"]!.GetValue<long>());
        Assert.Equal(0.5, r["presence_penalty"]!.GetValue<double>());
        Assert.Equal(0.25, r["frequency_penalty"]!.GetValue<double>());
        Assert.Equal(0, r["top_logprobs"]!.GetValue<int>());
        Assert.Equal(3, r["max_tool_calls"]!.GetValue<int>());
        Assert.Equal("default", r["service_tier"]!.GetValue<string>()); // the tier that served it: this server has one
        Assert.Equal("user-7", r["safety_identifier"]!.GetValue<string>());
        var tool = r["tools"]![0]!;
        Assert.True(tool["strict"]!.GetValue<bool>());
        Assert.Null(tool["description"]);
        Assert.True(tool.AsObject().ContainsKey("description"));
    }

    [Fact]
    public async Task Defaults_are_echoed_when_the_request_sets_nothing()
    {
        using var client = server.CreateClient();
        client.Timeout = TimeSpan.FromMinutes(10); // a loaded machine may need minutes for a few hundred tokens; outcomes are asserted, not time
        var r = await OkAsync(client, $$"""{"model":"tiny-youtu","input":{{JsonSerializer.Serialize(Unique("Hi"))}},"max_output_tokens":4}""");
        AssertValid(Schemas.Value.Response, r, "the response");
        Assert.Equal(0, r["presence_penalty"]!.GetValue<double>());
        Assert.Equal(0, r["frequency_penalty"]!.GetValue<double>());
        Assert.Null(r["max_tool_calls"]);
        Assert.Null(r["safety_identifier"]);
        Assert.Equal("default", r["service_tier"]!.GetValue<string>());
        // Cut by max_output_tokens: incomplete, so not completed.
        if (r["status"]!.GetValue<string>() == "incomplete")
        {
            Assert.Null(r["completed_at"]);
        }
    }

    [Theory]
    [InlineData("""{"reasoning":{"effort":"low"},"max_output_tokens":40}""")]
    [InlineData("""{"reasoning":{"effort":"low","summary":"auto"},"max_output_tokens":120,"tool_choice":"required","tools":[TOOL]}""")]
    [InlineData("""{"reasoning":{"effort":"none"},"max_output_tokens":60,"text":{"format":{"type":"json_schema","name":"a","strict":true,"schema":{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"],"additionalProperties":false}}}}""")]
    public async Task Every_streaming_event_conforms(string extra)
    {
        using var client = server.CreateClient();
        client.Timeout = TimeSpan.FromMinutes(10); // a loaded machine may need minutes for a few hundred tokens; outcomes are asserted, not time
        var body = JsonNode.Parse(extra.Replace("TOOL", WeatherTool, StringComparison.Ordinal))!.AsObject();
        body["model"] = "tiny-youtu";
        body["input"] = Unique("Stream " + extra.Length);
        body["stream"] = true;
        var events = await StreamAsync(client, body.ToJsonString());
        Assert.NotEmpty(events);
        var seq = -1;
        foreach (var (name, data) in events)
        {
            Assert.Equal(name, data["type"]!.GetValue<string>());
            AssertValid(Schemas.Value.Event, data, $"event {name}");
            var n = data["sequence_number"]!.GetValue<int>();
            Assert.True(n > seq, $"sequence numbers must increase: {n} after {seq}");
            seq = n;
        }

        Assert.Contains(events[^1].Event, new[] { "response.completed", "response.incomplete" });
    }
}
