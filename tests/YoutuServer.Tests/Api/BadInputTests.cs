using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace YoutuServer.Tests.Api;

[Collection("server")]
public sealed class BadInputTests(ServerFixture server)
{
    private const string U = "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]";

    // body, expected status, expected param (null = no param), expected code (null = any)
    public static TheoryData<string, int, string?, string?> Cases => new()
    {
        { "{", 400, null, "invalid_json" },
        { "[]", 400, null, null },
        { "null", 400, null, null },
        { "{}", 400, "messages", null },
        { "{\"messages\":[]}", 400, "messages", null },
        { "{\"messages\":\"hi\"}", 400, "messages", null },
        { "{\"messages\":[{\"content\":\"x\"}]}", 400, "messages[0].role", null },
        { "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", 400, "messages[0].role", null },
        { "{\"messages\":[{\"role\":\"user\"}]}", 400, "messages[0].content", null },
        { "{\"messages\":[{\"role\":\"user\",\"content\":42}]}", 400, "messages[0].content", null },
        { "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://x\"}}]}]}", 400, "messages[0].content[0].type", null },
        { "{\"messages\":[{\"role\":\"user\",\"content\":[]}]}", 400, "messages[0].content", null },
        { "{" + U + ",\"temperature\":\"hot\"}", 400, "temperature", null },
        { "{" + U + ",\"temperature\":3}", 400, "temperature", null },
        { "{" + U + ",\"temperature\":-1}", 400, "temperature", null },
        { "{" + U + ",\"top_p\":0}", 400, "top_p", null },
        { "{" + U + ",\"top_p\":1.5}", 400, "top_p", null },
        { "{" + U + ",\"top_k\":-2}", 400, "top_k", null },
        { "{" + U + ",\"min_p\":2}", 400, "min_p", null },
        { "{" + U + ",\"presence_penalty\":5}", 400, "presence_penalty", null },
        { "{" + U + ",\"frequency_penalty\":-5}", 400, "frequency_penalty", null },
        { "{" + U + ",\"repetition_penalty\":0}", 400, "repetition_penalty", null },
        { "{" + U + ",\"max_tokens\":0}", 400, "max_tokens", null },
        { "{" + U + ",\"max_tokens\":-5}", 400, "max_tokens", null },
        { "{" + U + ",\"max_tokens\":1e400}", 400, "max_tokens", null },
        { "{" + U + ",\"max_tokens\":99999999}", 400, "messages", "context_length_exceeded" },
        { "{" + U + ",\"max_completion_tokens\":0}", 400, "max_completion_tokens", null },
        { "{" + U + ",\"n\":0}", 400, "n", null },
        { "{" + U + ",\"n\":100}", 400, "n", null },
        { "{" + U + ",\"stop\":5}", 400, "stop", null },
        { "{" + U + ",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "stop", null },
        { "{" + U + ",\"stop\":\"\"}", 400, "stop", null },
        { "{" + U + ",\"logit_bias\":{\"abc\":1}}", 400, "logit_bias", null },
        { "{" + U + ",\"logit_bias\":{\"1\":500}}", 400, "logit_bias", null },
        { "{" + U + ",\"logit_bias\":{\"99999999\":1}}", 400, "logit_bias", null },
        { "{" + U + ",\"top_logprobs\":5}", 400, "top_logprobs", null },
        { "{" + U + ",\"logprobs\":true,\"top_logprobs\":21}", 400, "top_logprobs", null },
        { "{" + U + ",\"tool_choice\":\"sometimes\"}", 400, "tool_choice", null },
        { "{" + U + ",\"tool_choice\":\"required\"}", 400, "tool_choice", null },
        { "{" + U + ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}}}", 400, "tool_choice", null },
        { "{" + U + ",\"tools\":[{\"type\":\"retrieval\"}]}", 400, "tools[0].type", null },
        { "{" + U + ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"bad name!\"}}]}", 400, "tools[0].function.name", null },
        { "{" + U + ",\"response_format\":{\"type\":\"xml\"}}", 400, "response_format.type", null },
        { "{" + U + ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"not\":{\"type\":\"string\"}}}}}", 400, "response_format", null },
        { "{" + U + ",\"chat_template_kwargs\":{\"enable_thinking\":\"yes\"}}", 400, "chat_template_kwargs.enable_thinking", null },
        { "{" + U + ",\"reasoning_effort\":\"extreme\"}", 400, "reasoning_effort", null },
        { "{" + U + ",\"min_tokens\":-1,\"max_tokens\":5}", 400, "min_tokens", null },
        { "{" + U + ",\"model\":\"gpt-4o\"}", 404, "model", "model_not_found" },
        { "{" + U + ",\"stream\":\"yes\"}", 400, "stream", null },
        { "{\"messages\":[" + string.Concat(Enumerable.Repeat("[", 100)) + string.Concat(Enumerable.Repeat("]", 100)) + "]}", 400, null, null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_chat_requests_get_openai_errors(string body, int status, string? param, string? code)
    {
        using var client = server.CreateClient();
        var res = await client.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await res.Content.ReadAsStringAsync();
        Assert.True(status == (int)res.StatusCode, $"expected {status}, got {(int)res.StatusCode}: {text}");
        var error = JsonNode.Parse(text)!["error"]!;
        Assert.False(string.IsNullOrWhiteSpace(error["message"]!.GetValue<string>()));
        Assert.Equal(status == 404 ? "invalid_request_error" : "invalid_request_error", error["type"]!.GetValue<string>());
        if (param is not null)
        {
            Assert.Equal(param, error["param"]?.GetValue<string>());
        }

        if (code is not null)
        {
            Assert.Equal(code, error["code"]?.GetValue<string>());
        }
    }

    [Fact]
    public async Task Invalid_utf8_body_is_a_400()
    {
        using var client = server.CreateClient();
        var bytes = Encoding.UTF8.GetBytes("{\"messages\":[{\"role\":\"user\",\"content\":\"X\"}]}");
        bytes[Array.IndexOf(bytes, (byte)'X')] = 0xC3; // a lone lead byte
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var res = await client.PostAsync("/v1/chat/completions", content);
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
    }

    [Fact]
    public async Task Context_length_error_names_both_numbers()
    {
        using var client = server.CreateClient();
        var res = await client.PostAsync("/v1/chat/completions", new StringContent("{" + U + ",\"max_tokens\":5000}", Encoding.UTF8, "application/json"));
        var msg = JsonNode.Parse(await res.Content.ReadAsStringAsync())!["error"]!["message"]!.GetValue<string>();
        Assert.Contains("4096", msg, StringComparison.Ordinal);
        Assert.Contains("5000 in the completion", msg, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_60k_letter_word_is_refused_and_the_server_lives_on()
    {
        // One 'word' of 60,000 letters used to overflow llama.cpp's regex stack and kill the whole process.
        using var client = server.CreateClient();
        var word = new string('m', 60_000);
        var res = await client.PostAsync("/v1/chat/completions", new StringContent("{\"messages\":[{\"role\":\"user\",\"content\":\"" + word + "\"}],\"max_tokens\":4}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal("context_length_exceeded", JsonNode.Parse(await res.Content.ReadAsStringAsync())!["error"]!["code"]!.GetValue<string>());
        var tok = await client.PostAsync("/tokenize", new StringContent("{\"content\":\"" + word + "\"}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, tok.StatusCode);
        Assert.Equal(60_000, JsonNode.Parse(await tok.Content.ReadAsStringAsync())!["tokens"]!.AsArray().Count); // one byte token per letter
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health")).StatusCode);
    }

    [Fact]
    public async Task Twenty_thousand_messages_are_refused_as_too_long_with_the_prompt_size()
    {
        // 20,000 role markers cannot fit 4,096 tokens: refused before tokenizing (which took 10-20 s, since llama.cpp
        // compiles its pre-tokenizer regex for every stretch between markers).
        var messages = string.Join(",", Enumerable.Range(0, 20_000).Select(i => $$"""{"role":"{{(i % 2 == 0 ? "user" : "assistant")}}","content":"m{{i}}"}"""));
        using var client = server.CreateClient();
        var res = await client.PostAsync("/v1/chat/completions", new StringContent($$"""{"messages":[{{messages}}],"max_tokens":4}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        var error = JsonNode.Parse(await res.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal("context_length_exceeded", error["code"]!.GetValue<string>());
        Assert.Contains("4096", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/v1/chat/completions")]
    [InlineData("/v1/completions")]
    [InlineData("/tokenize")]
    public async Task Wrong_content_type_is_a_400_not_a_404(string path)
    {
        using var client = server.CreateClient();
        var res = await client.PostAsync(path, new StringContent("{" + U + "}", Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.NotNull(JsonNode.Parse(await res.Content.ReadAsStringAsync())!["error"]);
    }

    [Fact]
    public async Task Unknown_fields_are_ignored()
    {
        using var client = server.CreateClient();
        var res = await client.PostAsync("/v1/chat/completions", new StringContent("{" + U + ",\"max_tokens\":2,\"frobnicate\":{\"a\":[1,2]},\"store\":true,\"metadata\":{}}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
    }
}
