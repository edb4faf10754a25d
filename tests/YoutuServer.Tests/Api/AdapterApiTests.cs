using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;

namespace YoutuServer.Tests.Api;

/// <summary>LoRA adapters over the API: listed in /v1/models with their parent, selected by "model", unknown ids 404.</summary>
[Collection("adapter-server")]
public sealed class AdapterApiTests(AdapterServerFixture server)
{
    private static StringContent Completion(string model, string prompt = "Once upon a time", int max = 12) => new(
        $$"""{"model":"{{model}}","prompt":"{{prompt}}","max_tokens":{{max}},"temperature":0,"ignore_eos":true}""", Encoding.UTF8, "application/json");

    [Fact]
    public async Task Models_lists_the_base_and_its_adapters_with_parent()
    {
        using var client = server.CreateClient();
        using var doc = JsonDocument.Parse(await client.GetStringAsync("/v1/models"));
        var data = doc.RootElement.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal([AdapterServerFixture.ModelId, .. AdapterServerFixture.Adapters], data.Select(m => m.GetProperty("id").GetString()));
        Assert.False(data[0].TryGetProperty("parent", out _)); // the base has none (nulls are omitted)
        Assert.All(data.Skip(1), m => Assert.Equal(AdapterServerFixture.ModelId, m.GetProperty("parent").GetString()));

        using var one = JsonDocument.Parse(await client.GetStringAsync("/v1/models/support"));
        Assert.Equal("support", one.RootElement.GetProperty("id").GetString());
        Assert.Equal(AdapterServerFixture.ModelId, one.RootElement.GetProperty("parent").GetString());
    }

    [Fact]
    public async Task An_adapter_id_wins_over_a_wildcard_alias_that_matches_it_and_the_clash_is_reported()
    {
        using var client = server.CreateClient();
        async Task<string> AnsweredBy(string model)
        {
            using var chat = await client.PostAsync("/v1/chat/completions", new StringContent(
                $$"""{"model":"{{model}}","messages":[{"role":"user","content":"hi"}],"max_tokens":2,"enable_thinking":false}""", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
            using var answer = JsonDocument.Parse(await chat.Content.ReadAsStringAsync());
            return answer.RootElement.GetProperty("model").GetString()!;
        }

        Assert.Equal("support", await AnsweredBy("support")); // the adapter, although 'su*' matches it
        Assert.Equal(AdapterServerFixture.ModelId, await AnsweredBy("sunny")); // the wildcard still routes other names

        var host = server.Services.GetRequiredService<YoutuServer.Hosting.EngineHost>();
        Assert.Equal([("su*", "support")], YoutuServer.Hosting.EngineHost.WildcardClashes(host.ServedAliases, host.ServedAdapters).ToList());
    }

    [Fact]
    public async Task A_request_picks_an_adapter_by_model_and_unknown_ids_stay_404()
    {
        using var client = server.CreateClient();
        async Task<string> Text(string model)
        {
            using var res = await client.PostAsync("/v1/completions", Completion(model));
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
            using var doc = JsonDocument.Parse(await res.Content.ReadAsStringAsync());
            return doc.RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;
        }

        var baseText = await Text(AdapterServerFixture.ModelId);
        var sql = await Text("sql");
        Assert.NotEqual(baseText, sql);
        Assert.Equal(sql, await Text("SQL")); // ids match case-insensitively, like the base model's
        Assert.Equal(baseText, await Text(AdapterServerFixture.ModelId));

        using var chat = await client.PostAsync("/v1/chat/completions", new StringContent(
            """{"model":"agent","messages":[{"role":"user","content":"hi"}],"max_tokens":4,"enable_thinking":false}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        using (var answer = JsonDocument.Parse(await chat.Content.ReadAsStringAsync()))
        {
            // The response names the model that answered: the adapter, as OpenAI clients and the gateway address it.
            Assert.Equal("agent", answer.RootElement.GetProperty("model").GetString());
        }

        using var missing = await client.PostAsync("/v1/completions", Completion("sql-v9"));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("model_not_found", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var missingCard = await client.GetAsync("/v1/models/sql-v9");
        Assert.Equal(HttpStatusCode.NotFound, missingCard.StatusCode);
    }

    [Fact]
    public async Task Responses_and_messages_from_an_adapter_name_the_adapter()
    {
        using var client = server.CreateClient();
        async Task<string> Post(string path, string body)
        {
            using var res = await client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
            var text = await res.Content.ReadAsStringAsync();
            Assert.True(res.StatusCode == HttpStatusCode.OK, text);
            return text;
        }

        // JSON: the model field of the response object and of the message.
        using (var response = JsonDocument.Parse(await Post("/v1/responses",
            """{"model":"sql","input":"hi","max_output_tokens":3,"reasoning":{"effort":"none"},"store":false}""")))
        {
            Assert.Equal("sql", response.RootElement.GetProperty("model").GetString());
        }

        using (var message = JsonDocument.Parse(await Post("/v1/messages",
            """{"model":"agent","max_tokens":3,"messages":[{"role":"user","content":"hi"}],"thinking":{"type":"disabled"}}""")))
        {
            Assert.Equal("agent", message.RootElement.GetProperty("model").GetString());
        }

        // Streams: response.created carries the response object, message_start the message.
        var events = await Post("/v1/responses", """{"model":"sql","input":"hi","max_output_tokens":3,"reasoning":{"effort":"none"},"store":false,"stream":true}""");
        var created = events.Split('\n').First(l => l.StartsWith("data: ", StringComparison.Ordinal) && l.Contains("\"response.created\"", StringComparison.Ordinal));
        using (var doc = JsonDocument.Parse(created[6..]))
        {
            Assert.Equal("sql", doc.RootElement.GetProperty("response").GetProperty("model").GetString());
        }

        events = await Post("/v1/messages", """{"model":"agent","max_tokens":3,"stream":true,"messages":[{"role":"user","content":"hi"}],"thinking":{"type":"disabled"}}""");
        var start = events.Split('\n').First(l => l.StartsWith("data: ", StringComparison.Ordinal) && l.Contains("\"message_start\"", StringComparison.Ordinal));
        using (var doc = JsonDocument.Parse(start[6..]))
        {
            Assert.Equal("agent", doc.RootElement.GetProperty("message").GetProperty("model").GetString());
        }
    }
}
