using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static YoutuServer.Tests.Api.HttpJson;

namespace YoutuServer.Tests.Api;

[Collection("server")]
public sealed class ChatCompletionsTests(ServerFixture server)
{
    private static string Chat(string extra = "", string content = "Hi") =>
        $$"""{"model":"{{ServerFixture.ModelId}}","messages":[{"role":"user","content":"{{content}}"}],"max_tokens":8,"seed":1,"enable_thinking":false{{extra}}}""";

    [Fact]
    public async Task Non_streaming_response_has_the_openai_shape()
    {
        using var client = server.CreateClient();
        var res = await client.PostAsync("/v1/chat/completions", Body(Chat(",\"ignore_eos\":true")));
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        var json = JsonNode.Parse(await res.Content.ReadAsStringAsync())!;
        Assert.StartsWith("chatcmpl-", json["id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("chat.completion", json["object"]!.GetValue<string>());
        Assert.Equal(ServerFixture.ModelId, json["model"]!.GetValue<string>());
        Assert.NotNull(json["system_fingerprint"]);
        var choice = json["choices"]![0]!;
        Assert.Equal("assistant", choice["message"]!["role"]!.GetValue<string>());
        Assert.Equal("length", choice["finish_reason"]!.GetValue<string>());
        var usage = json["usage"]!;
        Assert.Equal(8, usage["completion_tokens"]!.GetValue<int>());
        Assert.True(usage["prompt_tokens"]!.GetValue<int>() > 0);
        Assert.Equal(usage["prompt_tokens"]!.GetValue<int>() + 8, usage["total_tokens"]!.GetValue<int>());
        Assert.NotNull(usage["prompt_tokens_details"]!["cached_tokens"]);
        Assert.Null(choice["message"]!["reasoning_content"]);

        // llama-server-style timings: where the request's time went.
        var timings = json["timings"]!;
        Assert.Equal(usage["prompt_tokens"]!.GetValue<int>(), timings["prompt_n"]!.GetValue<int>() + timings["cache_n"]!.GetValue<int>());
        Assert.Equal(usage["prompt_tokens_details"]!["cached_tokens"]!.GetValue<int>(), timings["cache_n"]!.GetValue<int>());
        Assert.Equal(8, timings["predicted_n"]!.GetValue<int>());
        Assert.True(timings["prompt_ms"]!.GetValue<double>() > 0);
        Assert.True(timings["predicted_ms"]!.GetValue<double>() > 0);
        Assert.True(timings["queue_ms"]!.GetValue<double>() >= 0);
    }

    [Fact]
    public async Task Streaming_sends_role_first_then_finish_then_usage_then_done()
    {
        using var client = server.CreateClient();
        var res = await client.PostAsync("/v1/chat/completions", Body(Chat(",\"ignore_eos\":true,\"stream\":true,\"stream_options\":{\"include_usage\":true}")));
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        Assert.Equal("text/event-stream", res.Content.Headers.ContentType!.MediaType);
        var lines = (await res.Content.ReadAsStringAsync()).Split('\n');
        Assert.DoesNotContain(lines, l => l.StartsWith("event:", StringComparison.Ordinal));
        var data = lines.Where(l => l.StartsWith("data: ", StringComparison.Ordinal)).Select(l => l[6..]).ToList();
        Assert.Equal("[DONE]", data[^1]);
        var chunks = data[..^1].Select(d => JsonNode.Parse(d)!).ToList();
        Assert.Equal("assistant", chunks[0]["choices"]![0]!["delta"]!["role"]!.GetValue<string>());
        Assert.Single(chunks.Select(c => c["id"]!.GetValue<string>()).Distinct());
        var finish = chunks.Where(c => c["choices"]!.AsArray().Count > 0 && c["choices"]![0]!["finish_reason"] is not null).ToList();
        Assert.Single(finish);
        Assert.Equal("length", finish[0]["choices"]![0]!["finish_reason"]!.GetValue<string>());
        var last = chunks[^1];
        Assert.Empty(last["choices"]!.AsArray());
        Assert.Equal(8, last["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal(8, last["timings"]!["predicted_n"]!.GetValue<int>());
        Assert.True(last["timings"]!["prompt_ms"]!.GetValue<double>() > 0);
        Assert.All(chunks[..^1], c => Assert.Null(c["timings"]));
    }

    [Fact]
    public async Task Streaming_without_include_usage_sends_no_usage_chunk()
    {
        using var client = server.CreateClient();
        var res = await client.PostAsync("/v1/chat/completions", Body(Chat(",\"stream\":true")));
        var text = await res.Content.ReadAsStringAsync();
        Assert.DoesNotContain("\"usage\"", text, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Same_seed_is_reproducible_and_streaming_matches_non_streaming()
    {
        using var client = server.CreateClient();
        var body = Chat(",\"ignore_eos\":true,\"temperature\":1.0", content: "Tell me something");
        var a = JsonNode.Parse(await (await client.PostAsync("/v1/chat/completions", Body(body))).Content.ReadAsStringAsync())!;
        var b = JsonNode.Parse(await (await client.PostAsync("/v1/chat/completions", Body(body))).Content.ReadAsStringAsync())!;
        var textA = a["choices"]![0]!["message"]!["content"]!.GetValue<string>();
        Assert.Equal(textA, b["choices"]![0]!["message"]!["content"]!.GetValue<string>());

        var stream = await (await client.PostAsync("/v1/chat/completions", Body(body.TrimEnd('}') + ",\"stream\":true}"))).Content.ReadAsStringAsync();
        var assembled = new StringBuilder();
        foreach (var line in stream.Split('\n').Where(l => l.StartsWith("data: {", StringComparison.Ordinal)))
        {
            var node = JsonNode.Parse(line[6..])!;
            if (node["choices"]!.AsArray().Count > 0 && node["choices"]![0]!["delta"]!["content"] is { } c)
            {
                assembled.Append(c.GetValue<string>());
            }
        }

        Assert.Equal(textA, assembled.ToString());
    }

    [Fact]
    public async Task Named_tool_choice_returns_a_schema_valid_call()
    {
        using var client = server.CreateClient();
        const string body = """
            {"messages":[{"role":"user","content":"Weather?"}],"max_tokens":400,"seed":3,"enable_thinking":false,
             "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object",
               "properties":{"city":{"type":"string","enum":["Paris","Lyon"]},"unit":{"type":"string","enum":["c","f"]}},
               "required":["city","unit"],"additionalProperties":false}}}],
             "tool_choice":{"type":"function","function":{"name":"get_weather"}}}
            """;
        var res = await client.PostAsync("/v1/chat/completions", Body(body));
        var text = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.OK, text);
        var choice = JsonNode.Parse(text)!["choices"]![0]!;
        Assert.Equal("tool_calls", choice["finish_reason"]!.GetValue<string>());
        var call = choice["message"]!["tool_calls"]![0]!;
        Assert.StartsWith("call_", call["id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("function", call["type"]!.GetValue<string>());
        Assert.Equal("get_weather", call["function"]!["name"]!.GetValue<string>());
        using var args = JsonDocument.Parse(call["function"]!["arguments"]!.GetValue<string>());
        Assert.Contains(args.RootElement.GetProperty("city").GetString(), new[] { "Paris", "Lyon" });
        Assert.Contains(args.RootElement.GetProperty("unit").GetString(), new[] { "c", "f" });
    }

    [Fact]
    public async Task Json_schema_response_format_is_enforced()
    {
        using var client = server.CreateClient();
        const string body = """
            {"messages":[{"role":"user","content":"Answer"}],"max_tokens":400,"seed":5,"enable_thinking":false,
             "response_format":{"type":"json_schema","json_schema":{"name":"a","strict":true,"schema":{"type":"object",
               "properties":{"ok":{"type":"boolean"},"n":{"type":"integer","minimum":0,"maximum":9}},"required":["ok","n"],"additionalProperties":false}}}}
            """;
        var res = await client.PostAsync("/v1/chat/completions", Body(body));
        var text = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.OK, text);
        var content = JsonNode.Parse(text)!["choices"]![0]!["message"]!["content"]!.GetValue<string>();
        using var doc = JsonDocument.Parse(content);
        Assert.True(doc.RootElement.GetProperty("ok").ValueKind is JsonValueKind.True or JsonValueKind.False);
        Assert.InRange(doc.RootElement.GetProperty("n").GetInt32(), 0, 9);
    }

    [Fact]
    public async Task Logprob_bytes_rebuild_multi_byte_text_split_across_tokens()
    {
        // The tiny vocabulary is byte-level, so each of 日本 arrives as three one-byte tokens: every entry's bytes
        // must be that token's own byte (not U+FFFD's EF BF BD), and together they must spell the content.
        using var client = server.CreateClient();
        const string body = """
            {"messages":[{"role":"user","content":"Say it"}],"max_tokens":40,"seed":3,"enable_thinking":false,
             "logprobs":true,"top_logprobs":2,
             "response_format":{"type":"json_schema","json_schema":{"name":"w","strict":true,"schema":{"type":"string","enum":["日本"]}}}}
            """;
        var res = await client.PostAsync("/v1/chat/completions", Body(body));
        var text = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.OK, text);
        var choice = JsonNode.Parse(text)!["choices"]![0]!;
        var content = choice["message"]!["content"]!.GetValue<string>();
        Assert.Equal("\"日本\"", content);
        var entries = choice["logprobs"]!["content"]!.AsArray();
        var bytes = entries.SelectMany(e => e!["bytes"]!.AsArray().Select(b => (byte)b!.GetValue<int>())).ToArray();
        Assert.Equal(Encoding.UTF8.GetBytes(content), bytes);
        Assert.Contains(entries, e => e!["bytes"]!.AsArray().Count == 1 && e["bytes"]![0]!.GetValue<int>() >= 0x80);
        foreach (var e in entries)
        {
            Assert.Equal(2, e!["top_logprobs"]!.AsArray().Count);
            Assert.All(e["top_logprobs"]!.AsArray(), t => Assert.NotEmpty(t!["bytes"]!.AsArray()));
        }
    }

    [Fact]
    public async Task Apply_template_returns_the_exact_youtu_prompt()
    {
        using var client = server.CreateClient();
        var res = await client.PostAsync("/apply-template", Body("""{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"enable_thinking":false}"""));
        var prompt = JsonNode.Parse(await res.Content.ReadAsStringAsync())!["prompt"]!.GetValue<string>();
        Assert.Equal("<|begin_of_text|>Be brief.<|User|>Hi<|Assistant|><think>\n\n</think>\n\n", prompt);
    }

    [Fact]
    public async Task Models_lists_the_served_model()
    {
        using var client = server.CreateClient();
        var list = await client.GetFromJsonAsync<JsonNode>("/v1/models");
        Assert.Equal("list", list!["object"]!.GetValue<string>());
        Assert.Equal(ServerFixture.ModelId, list["data"]![0]!["id"]!.GetValue<string>());
        var one = await client.GetAsync($"/v1/models/{ServerFixture.ModelId}");
        Assert.Equal(HttpStatusCode.OK, one.StatusCode);
        var missing = await client.GetAsync("/v1/models/gpt-4o");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Health_is_ready_with_the_model_loaded()
    {
        using var client = server.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready")).StatusCode);
    }
}
