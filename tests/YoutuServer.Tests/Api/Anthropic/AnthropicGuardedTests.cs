using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using YoutuServer.TestSupport;
using static YoutuServer.Tests.Api.Anthropic.AnthropicWire;

namespace YoutuServer.Tests.Api.Anthropic;

/// <summary>
/// The tiny model behind every guard, for the Messages API: API keys (each test its own key, so rate buckets never
/// meet), a 2 rpm rate limit, a 16 KiB body limit, one sequence and a one-request queue (a full queue is 529), pings
/// every 50 ms, and client model names routed by --model-alias NAME=ID.
/// </summary>
public sealed class AnthropicGuardedFixture : TinyServerFactory
{
    public const string ModelId = "anthropic-guarded";
    public const string KeyAuth = "sk-anthropic-auth";
    public const string KeyRate = "sk-anthropic-rate";
    public const string KeyBody = "sk-anthropic-body";
    public const string KeyQueue = "sk-anthropic-queue";
    public const string KeyAlias = "sk-anthropic-alias";

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        UseTinyModel(builder, TinyModelFiles.Get(seed: 42), ModelId, parallel: 1, ctxSize: 2048, threads: 2);
        UseList(builder, "ModelAliasMap", "claude-*=" + ModelId, "my-model=" + ModelId);
        builder.UseSetting("Youtu:QueueSize", "1");
        builder.UseSetting("Youtu:StreamPingSeconds", "0.05");
        builder.UseSetting("Youtu:RateLimitPerMinute", "4");
        builder.UseSetting("Youtu:MaxRequestBodyBytes", "16384");
        UseList(builder, "ApiKeys", KeyAuth, KeyRate, KeyBody, KeyQueue, KeyAlias);
    }
}

[CollectionDefinition("anthropic-guarded")]
public sealed class AnthropicGuardedCollection : ICollectionFixture<AnthropicGuardedFixture>;

[Collection("anthropic-guarded")]
public sealed class AnthropicGuardedTests(AnthropicGuardedFixture server)
{
    private const string Small = """{"model":"claude-sonnet-4-5-20250929","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}""";

    private static async Task<JsonNode> ErrorOf(HttpResponseMessage res, int status, string type)
    {
        var text = await res.Content.ReadAsStringAsync();
        Assert.True(status == (int)res.StatusCode, text);
        var json = JsonNode.Parse(text)!;
        Assert.Equal("error", json["type"]!.GetValue<string>());
        Assert.Equal(type, json["error"]!["type"]!.GetValue<string>());
        return json;
    }

    [Fact]
    public async Task X_api_key_is_enforced_with_authentication_error()
    {
        using var client = server.CreateClient();
        await ErrorOf(await client.SendAsync(Post("/v1/messages", Small)), 401, "authentication_error");
        await ErrorOf(await client.SendAsync(Post("/v1/messages/count_tokens", Small, "sk-wrong")), 401, "authentication_error");
        using var ok = await client.SendAsync(Post("/v1/messages/count_tokens", Small, AnthropicGuardedFixture.KeyAuth));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);

        var bearer = Post("/v1/messages/count_tokens", Small);
        bearer.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AnthropicGuardedFixture.KeyAuth);
        using var viaBearer = await client.SendAsync(bearer);
        Assert.Equal(HttpStatusCode.OK, viaBearer.StatusCode);
    }

    [Fact]
    public async Task Rate_limit_is_429_rate_limit_error_with_retry_after()
    {
        using var client = server.CreateClient();
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 10 && limited is null; i++)
        {
            var res = await client.SendAsync(Post("/v1/messages/count_tokens", Small, AnthropicGuardedFixture.KeyRate));
            if (res.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited = res;
            }
            else
            {
                res.Dispose();
            }
        }

        Assert.NotNull(limited);
        using (limited)
        {
            await ErrorOf(limited!, 429, "rate_limit_error");
            Assert.NotNull(limited!.Headers.RetryAfter);
        }
    }

    [Fact]
    public async Task Body_over_the_limit_is_413_request_too_large()
    {
        using var client = server.CreateClient();
        var big = Small.Replace("\"hi\"", "\"" + new string('x', 20_000) + "\"", StringComparison.Ordinal);
        await ErrorOf(await client.SendAsync(Post("/v1/messages", big, AnthropicGuardedFixture.KeyBody)), 413, "request_too_large");
    }

    [Fact]
    public async Task Client_model_names_route_through_the_alias_map_and_others_get_404_saying_how()
    {
        using var client = server.CreateClient();
        foreach (var name in new[] { "claude-haiku-4-5", "MY-MODEL", ModelIdOf() })
        {
            using var ok = await client.SendAsync(Post("/v1/messages/count_tokens", Small.Replace("claude-sonnet-4-5-20250929", name, StringComparison.Ordinal), AnthropicGuardedFixture.KeyAlias));
            Assert.True(ok.StatusCode == HttpStatusCode.OK, name + ": " + await ok.Content.ReadAsStringAsync());
        }

        var json = await ErrorOf(await client.SendAsync(Post("/v1/messages", Small.Replace("claude-sonnet-4-5-20250929", "gpt-4o", StringComparison.Ordinal), AnthropicGuardedFixture.KeyAlias)), 404, "not_found_error");
        Assert.Contains("--model-alias 'gpt-4o=" + AnthropicGuardedFixture.ModelId + "'", json["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    private static string ModelIdOf() => AnthropicGuardedFixture.ModelId;

    [Fact]
    public async Task A_queued_stream_pings_a_full_queue_is_529_overloaded_and_the_stream_still_ends_with_message_stop()
    {
        using var client = server.CreateClient();
        using var cts = new CancellationTokenSource(TestTimeouts.Seconds(300));

        // 1. A chat stream that never ends by itself takes the only sequence.
        var blocker = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = Json("""{"messages":[{"role":"user","content":"block"}],"max_tokens":1500,"ignore_eos":true,"stream":true}"""),
        };
        blocker.Headers.Add("x-api-key", AnthropicGuardedFixture.KeyQueue);
        using var blockerCts = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
        var blockerRes = await client.SendAsync(blocker, HttpCompletionOption.ResponseHeadersRead, blockerCts.Token);
        await WaitForAsync(client, "\"active_sequences\":1", cts.Token);

        // 2. A Messages stream waits in the queue: it gets message_start at once, then pings.
        var queued = Post("/v1/messages", """{"model":"claude-sonnet-4-5","max_tokens":3,"stream":true,"messages":[{"role":"user","content":"queued"}]}""", AnthropicGuardedFixture.KeyQueue);
        using var queuedRes = await client.SendAsync(queued, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, queuedRes.StatusCode);
        using var reader = new StreamReader(await queuedRes.Content.ReadAsStreamAsync(cts.Token), Encoding.UTF8);
        var head = await ReadUntilAsync(reader, e => e == "ping", cts.Token);
        Assert.Equal("message_start", head[0].Event);
        Assert.Equal("ping", head[^1].Event);

        // 3. The queue is full: Anthropic's 529 overloaded_error, with Retry-After.
        using (var full = await client.SendAsync(Post("/v1/messages", """{"model":"claude-sonnet-4-5","max_tokens":2,"messages":[{"role":"user","content":"x"}]}""", AnthropicGuardedFixture.KeyQueue), cts.Token))
        {
            await ErrorOf(full, 529, "overloaded_error");
            Assert.NotNull(full.Headers.RetryAfter);
        }

        // 4. The blocker goes away; the queued stream runs and ends properly.
        await blockerCts.CancelAsync();
        blockerRes.Dispose();
        var rest = await ReadUntilAsync(reader, e => e == "message_stop", cts.Token);
        Assert.Equal("message_stop", rest[^1].Event);
        Assert.Equal("message_delta", rest.Last(e => e.Event != "ping" && e.Event != "message_stop").Event);
    }

    private static async Task WaitForAsync(HttpClient client, string needle, CancellationToken ct)
    {
        while (true)
        {
            var health = await client.GetStringAsync("/health/ready", ct);
            if (health.Contains(needle, StringComparison.Ordinal))
            {
                return;
            }

            await Task.Delay(20, ct);
        }
    }
}
