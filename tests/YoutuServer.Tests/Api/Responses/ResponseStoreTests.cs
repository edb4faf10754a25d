using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using YoutuServer.Api.OpenAI.Responses;
using YoutuServer.Chat.Messages;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Api.Responses;

/// <summary>The bounded LRU store on its own: count and byte bounds, recency, key isolation.</summary>
public sealed class ResponseStoreTests
{
    private static StoredResponse Item(string id, int size = 1000, string? key = null) => new()
    {
        Id = id,
        Json = new byte[10],
        InputItems = [],
        Conversation = [new ChatMessage("user", "hi")],
        KeyId = key,
        Bytes = size,
    };

    [Fact]
    public void Count_bound_evicts_the_least_recently_used()
    {
        using var store = new ResponseStore(maxItems: 3, maxBytes: 1_000_000);
        Assert.True(store.Add(Item("a")));
        Assert.True(store.Add(Item("b")));
        Assert.True(store.Add(Item("c")));
        Assert.NotNull(store.Get("a", null)); // a is now the most recent; b the least
        Assert.True(store.Add(Item("d")));
        Assert.Null(store.Get("b", null));
        Assert.NotNull(store.Get("a", null));
        Assert.NotNull(store.Get("c", null));
        Assert.NotNull(store.Get("d", null));
        Assert.Equal(3, store.Count);
        Assert.Equal(1, store.Evictions);
    }

    [Fact]
    public void Byte_bound_evicts_until_the_new_one_fits_and_refuses_one_too_big()
    {
        using var store = new ResponseStore(maxItems: 100, maxBytes: 2500);
        store.Add(Item("a"));
        store.Add(Item("b"));
        Assert.Equal(2000, store.Bytes);
        store.Add(Item("c", 1400)); // 3400 > 2500: the least recent (a) goes, then it fits
        Assert.Null(store.Get("a", null));
        Assert.NotNull(store.Get("b", null));
        Assert.Equal(2400, store.Bytes);
        store.Add(Item("d", 2000)); // c (least recent now) and b go
        Assert.Null(store.Get("b", null));
        Assert.Null(store.Get("c", null));
        Assert.Equal(2000, store.Bytes);
        Assert.False(store.Add(Item("huge", 3000)));
        Assert.NotNull(store.Get("d", null));
        Assert.True(store.Remove("d", null));
        Assert.Equal(0, store.Bytes);
        Assert.Equal(0, store.Count);
    }

    [Fact]
    public void Only_the_key_that_stored_a_response_sees_or_deletes_it()
    {
        using var store = new ResponseStore(maxItems: 10, maxBytes: 1_000_000);
        store.Add(Item("a", key: "key:aaaa"));
        Assert.Null(store.Get("a", "key:bbbb"));
        Assert.Null(store.Get("a", null));
        Assert.False(store.Remove("a", "key:bbbb"));
        Assert.NotNull(store.Get("a", "key:aaaa"));
        Assert.True(store.Remove("a", "key:aaaa"));
    }
}

/// <summary>A server with API keys and a store of three responses.</summary>
public sealed class KeyedResponsesFixture : WebApplicationFactory<Program>
{
    public const string KeyA = "sk-responses-alpha-0123";
    public const string KeyB = "sk-responses-beta-4567";

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("Youtu:Model", TinyModelFiles.Get(seed: 42));
        builder.UseSetting("Youtu:Seed", YoutuServer.Tests.Api.ColdEngine.Seed);
        builder.UseSetting("Youtu:ModelAlias", "responses-keyed");
        builder.UseSetting("Youtu:Parallel", "2");
        builder.UseSetting("Youtu:CtxSize", "2048");
        builder.UseSetting("Youtu:Threads", "2");
        builder.UseSetting("Youtu:ApiKeys:0", KeyA);
        builder.UseSetting("Youtu:ApiKeys:1", KeyB);
        builder.UseSetting("Youtu:ResponsesStoreItems", "3");
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
