using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using YoutuServer.Tests.Api;
using static YoutuServer.Tests.Api.HttpJson;

namespace YoutuServer.Tests.Web;

/// <summary>POST /chat on the in-process server with the tiny model: shape, validation, limits, OpenAPI.</summary>
[Collection("server")]
public sealed class SimpleChatTests(ServerFixture server)
{
    private async Task<(HttpStatusCode Status, JsonNode Json)> PostAsync(string json)
    {
        using var client = server.CreateClient();
        var res = await client.PostAsync("/chat", Body(json));
        var text = await res.Content.ReadAsStringAsync();
        Assert.Equal("application/json", res.Content.Headers.ContentType?.MediaType);
        return (res.StatusCode, JsonNode.Parse(text)!);
    }

    private static void AssertError(JsonNode json, string? param, string? code = null)
    {
        var error = json["error"]!;
        Assert.False(string.IsNullOrEmpty(error["message"]!.GetValue<string>()));
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        Assert.Equal(param, error["param"]?.GetValue<string>());
        if (code is not null)
        {
            Assert.Equal(code, error["code"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task Valid_prompt_returns_response_and_usage()
    {
        var (status, json) = await PostAsync("""{"prompt":"Say hi","max_tokens":12,"enable_thinking":false}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.NotNull(json["response"]!.GetValue<string>());
        Assert.Null(json["reasoning"]);
        var usage = json["usage"]!;
        var prompt = usage["prompt_tokens"]!.GetValue<int>();
        var completion = usage["completion_tokens"]!.GetValue<int>();
        Assert.True(prompt > 0);
        Assert.InRange(completion, 1, 12);
        Assert.Equal(prompt + completion, usage["total_tokens"]!.GetValue<int>());
        Assert.Equal(3, usage.AsObject().Count);
        Assert.Contains(json["finish_reason"]!.GetValue<string>(), new[] { "stop", "length" });
    }

    [Fact]
    public async Task Max_tokens_is_honoured()
    {
        var (status, json) = await PostAsync("""{"prompt":"Count","max_tokens":3,"enable_thinking":false}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.InRange(json["usage"]!["completion_tokens"]!.GetValue<int>(), 1, 3);
    }

    [Fact]
    public async Task Enable_thinking_reaches_the_chat_template()
    {
        // Thinking off closes an empty think block in the prompt ("<think>\n\n</think>\n\n"): more prompt tokens.
        // Omitted means the server default, which is thinking on.
        var on = await PostAsync("""{"prompt":"Same words","max_tokens":1,"enable_thinking":true}""");
        var off = await PostAsync("""{"prompt":"Same words","max_tokens":1,"enable_thinking":false}""");
        var unset = await PostAsync("""{"prompt":"Same words","max_tokens":1}""");
        Assert.Equal(HttpStatusCode.OK, on.Status);
        Assert.Equal(HttpStatusCode.OK, off.Status);
        var onTokens = on.Json["usage"]!["prompt_tokens"]!.GetValue<int>();
        Assert.True(off.Json["usage"]!["prompt_tokens"]!.GetValue<int>() > onTokens);
        Assert.Equal(onTokens, unset.Json["usage"]!["prompt_tokens"]!.GetValue<int>());
        Assert.Null(off.Json["reasoning"]);
    }

    [Fact]
    public async Task Prompt_tokens_match_the_openai_route_for_the_same_message()
    {
        using var client = server.CreateClient();
        var openai = JsonNode.Parse(await (await client.PostAsync("/v1/chat/completions", Body(
            """{"messages":[{"role":"user","content":"Hello there"}],"max_tokens":2,"enable_thinking":false}"""))).Content.ReadAsStringAsync())!;
        var (status, simple) = await PostAsync("""{"prompt":"Hello there","max_tokens":2,"enable_thinking":false}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(openai["usage"]!["prompt_tokens"]!.GetValue<int>(), simple["usage"]!["prompt_tokens"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("""{"max_tokens":5}""", "prompt", null)]
    [InlineData("""{"prompt":null}""", "prompt", null)]
    [InlineData("""{"prompt":""}""", "prompt", null)]
    [InlineData("""{"prompt":"   "}""", "prompt", null)]
    [InlineData("""{"prompt":42}""", "prompt", "invalid_type")]
    [InlineData("""{"prompt":["a"]}""", "prompt", "invalid_type")]
    [InlineData("""{"prompt":"hi","max_tokens":"ten"}""", "max_tokens", "invalid_type")]
    [InlineData("""{"prompt":"hi","max_tokens":0}""", "max_tokens", null)]
    [InlineData("""{"prompt":"hi","max_tokens":-4}""", "max_tokens", null)]
    [InlineData("""{"prompt":"hi","max_tokens":1.5}""", "max_tokens", "invalid_type")]
    [InlineData("""{"prompt":"hi","enable_thinking":"yes"}""", "enable_thinking", "invalid_type")]
    public async Task Invalid_fields_are_400_naming_the_field(string body, string param, string? code)
    {
        var (status, json) = await PostAsync(body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        AssertError(json, param, code);
    }

    [Theory]
    [InlineData("{\"prompt\":")]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("null")]
    public async Task Malformed_bodies_are_400(string body)
    {
        var (status, json) = await PostAsync(body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_request_error", json["error"]!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Wrong_content_type_is_400()
    {
        using var client = server.CreateClient();
        var res = await client.PostAsync("/chat", new StringContent("""{"prompt":"hi"}""", Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal("invalid_request_error", JsonNode.Parse(await res.Content.ReadAsStringAsync())!["error"]!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Over_long_prompt_is_context_length_exceeded()
    {
        // The fixture's context is 4096 tokens; the tiny vocabulary is byte-level, so 6000 letters are > 4096 tokens.
        var prompt = string.Concat(Enumerable.Repeat("abcdef ", 1000));
        var (status, json) = await PostAsync($$"""{"prompt":"{{prompt}}","max_tokens":8}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        AssertError(json, "prompt", "context_length_exceeded");
        Assert.Contains("maximum context length", json["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prompt_plus_max_tokens_beyond_the_context_is_context_length_exceeded()
    {
        var (status, json) = await PostAsync("""{"prompt":"hi","max_tokens":5000}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        AssertError(json, "prompt", "context_length_exceeded");
    }

    [Fact]
    public async Task Get_is_not_allowed_and_answers_json()
    {
        using var client = server.CreateClient();
        var res = await client.GetAsync("/chat");
        Assert.False(res.IsSuccessStatusCode);
        Assert.NotNull(JsonNode.Parse(await res.Content.ReadAsStringAsync())!["error"]);
    }

    [Fact]
    public async Task Openapi_documents_the_simple_chat_route()
    {
        using var client = server.CreateClient();
        var doc = JsonNode.Parse(await client.GetStringAsync("/openapi/v1.json"))!;
        var post = doc["paths"]!["/chat"]!["post"]!;
        Assert.Equal("SimpleChat", post["operationId"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(post["summary"]!.GetValue<string>()));
        Assert.NotNull(post["requestBody"]!["content"]!["application/json"]);
        Assert.NotNull(post["responses"]!["200"]!["content"]!["application/json"]);
        Assert.NotNull(post["responses"]!["400"]);
        var schemas = doc["components"]!["schemas"]!.AsObject();
        var request = schemas.First(kv => kv.Key.Contains("SimpleChatRequest", StringComparison.Ordinal)).Value!;
        Assert.NotNull(request["properties"]!["prompt"]);
        Assert.NotNull(request["properties"]!["max_tokens"]);
        Assert.NotNull(request["properties"]!["enable_thinking"]);
        var response = schemas.First(kv => kv.Key.Contains("SimpleChatResponse", StringComparison.Ordinal)).Value!;
        Assert.NotNull(response["properties"]!["response"]);
        Assert.NotNull(response["properties"]!["usage"]);
        // The page's own files are not API operations.
        Assert.Null(doc["paths"]!["/app.js"]);
    }
}
