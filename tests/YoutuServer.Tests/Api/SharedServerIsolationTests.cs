using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using YoutuServer.Hosting;

namespace YoutuServer.Tests.Api;

/// <summary>What the shared test server promises each test: a cold engine per client, and a fixed seed for unseeded requests.</summary>
[Collection("server")]
public sealed class SharedServerIsolationTests(ServerFixture server)
{
    private static StringContent Body(string extra) => new(
        $$"""{"model":"{{ServerFixture.ModelId}}","messages":[{"role":"user","content":"isolation check, said twice"}],"max_tokens":6,"ignore_eos":true,"temperature":1,"enable_thinking":false{{extra}}}""",
        Encoding.UTF8, "application/json");

    private static async Task<(string Content, int Cached)> AskAsync(HttpClient client, string extra = "")
    {
        using var res = await client.PostAsync("/v1/chat/completions", Body(extra));
        var text = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.OK, text);
        var json = JsonNode.Parse(text)!;
        return (json["choices"]![0]!["message"]!["content"]!.GetValue<string>(), json["usage"]!["prompt_tokens_details"]!["cached_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_new_client_finds_a_cold_engine()
    {
        using var first = server.CreateClient();
        var a = await AskAsync(first, ",\"seed\":9");
        var b = await AskAsync(first, ",\"seed\":9");
        Assert.True(b.Cached > 0, "the same client's second request reuses the prompt");
        Assert.Equal(a.Content, b.Content);

        using var next = server.CreateClient();
        var c = await AskAsync(next, ",\"seed\":9");
        Assert.Equal(0, c.Cached);
        Assert.Equal(a.Content, c.Content);
    }

    [Fact]
    public async Task Requests_without_a_seed_use_the_servers_seed()
    {
        using var client = server.CreateClient();
        var a = await AskAsync(client);
        var b = await AskAsync(client);
        var seeded = await AskAsync(client, $",\"seed\":{ColdEngine.Seed}");
        Assert.Equal(a.Content, b.Content);
        Assert.Equal(a.Content, seeded.Content);
    }

    [Fact]
    public void The_seed_option_maps_onto_the_server_setting()
    {
        var values = YoutuServer.Cli.ServerApp.ParseServeArgs(["--seed", "5"]);
        Assert.Equal("5", values["Youtu:Seed"]);
        var options = new ServerOptions { Seed = 5 };
        Assert.Equal(5u, options.ResolveSeed(null));
        Assert.Equal(7u, options.ResolveSeed(7));
        Assert.Equal(uint.MaxValue, options.ResolveSeed(-1));
    }
}
