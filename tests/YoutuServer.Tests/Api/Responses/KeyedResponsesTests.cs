using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Api.Responses;

/// <summary>A server with API keys and a store of three responses.</summary>
public sealed class KeyedResponsesFixture : TinyServerFactory
{
    public const string KeyA = "sk-responses-alpha-0123";
    public const string KeyB = "sk-responses-beta-4567";

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        UseTinyModel(builder, TinyModelFiles.Get(seed: 42), "responses-keyed", parallel: 2, ctxSize: 2048, threads: 2);
        UseList(builder, "ApiKeys", KeyA, KeyB);
        builder.UseSetting("Youtu:ResponsesStoreItems", "3");
        // The whole bound for each key (with keys on the default share is a quarter: one response of three).
        builder.UseSetting("Youtu:StateTenantShare", "1");
    }

    public HttpClient Client(string key)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }
}

/// <summary>Stored responses over HTTP with keys on: isolation between keys, eviction beyond the configured size.</summary>
public sealed class KeyedResponsesTests(KeyedResponsesFixture server) : IClassFixture<KeyedResponsesFixture>
{
    private static async Task<string> CreateAsync(HttpClient client)
    {
        var res = await client.PostAsync("/v1/responses", ResponsesWire.Body($$$"""
            {"input":"{{{ResponsesWire.Unique("Hi")}}}","max_output_tokens":2,"ignore_eos":true,"reasoning":{"effort":"none"}}
            """));
        var text = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!["id"]!.GetValue<string>();
    }

    [Fact]
    public async Task A_stored_response_is_visible_only_to_the_key_that_made_it()
    {
        using var a = server.Client(KeyedResponsesFixture.KeyA);
        using var b = server.Client(KeyedResponsesFixture.KeyB);
        var id = await CreateAsync(a);
        Assert.Equal(HttpStatusCode.NotFound, (await b.GetAsync($"/v1/responses/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await b.GetAsync($"/v1/responses/{id}/input_items")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await b.DeleteAsync($"/v1/responses/{id}")).StatusCode);
        var cont = await b.PostAsync("/v1/responses", ResponsesWire.Body($$$"""{"previous_response_id":"{{{id}}}","input":"x","max_output_tokens":1}"""));
        Assert.Equal(HttpStatusCode.NotFound, cont.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await a.GetAsync($"/v1/responses/{id}")).StatusCode);
        using var anonymous = server.CreateClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"/v1/responses/{id}")).StatusCode);
    }

    [Fact]
    public async Task Beyond_the_configured_count_the_oldest_response_is_evicted()
    {
        using var a = server.Client(KeyedResponsesFixture.KeyA);
        var ids = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            ids.Add(await CreateAsync(a));
        }

        Assert.Equal(HttpStatusCode.NotFound, (await a.GetAsync($"/v1/responses/{ids[0]}")).StatusCode);
        foreach (var id in ids.Skip(1))
        {
            Assert.Equal(HttpStatusCode.OK, (await a.GetAsync($"/v1/responses/{id}")).StatusCode);
        }
    }
}
