using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using YoutuServer.Generation;
using YoutuServer.Tests.Load;

namespace YoutuServer.Tests.Api;

/// <summary>
/// The prefix cache as the host scopes and reports it: with API keys on, a key never reuses (nor sees in cached_tokens)
/// another key's prompts; cache_salt scopes requests of its own, on every route; a session whose cells were given to
/// another request is restored from the RAM tier, and cached_tokens, timings.restored_n and /metrics say so.
/// </summary>
public sealed class PrefixCacheScopeTests
{
    private static readonly string Long = string.Join(' ', Enumerable.Range(0, 90).Select(i => $"word{i % 17}"));

    private static async Task<JsonNode> ChatAsync(HttpClient client, string user, string? key = null, string? salt = null, string? system = null)
    {
        var body = new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "system", ["content"] = system ?? Long }, new JsonObject { ["role"] = "user", ["content"] = user }),
            ["max_tokens"] = 2,
            ["seed"] = 1,
        };
        if (salt is not null)
        {
            body["cache_salt"] = salt;
        }

        using var req = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        if (key is not null)
        {
            req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        using var res = await client.SendAsync(req);
        var text = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!;
    }

    private static int Cached(JsonNode r) => r["usage"]!["prompt_tokens_details"]!["cached_tokens"]!.GetValue<int>();

    private static int Prompt(JsonNode r) => r["usage"]!["prompt_tokens"]!.GetValue<int>();

    [Fact]
    public async Task A_key_never_reuses_nor_sees_another_keys_prompt()
    {
        await using var server = await LiveServer.StartAsync("--parallel", "2", "--ctx-size", "2048", "--api-key", "sk-tenant-a", "--api-key", "sk-tenant-b");
        var a1 = await ChatAsync(server.Client, "Key isolation question", "sk-tenant-a");
        var a2 = await ChatAsync(server.Client, "Key isolation question", "sk-tenant-a");
        Assert.True(Cached(a2) >= Prompt(a1) - 1, $"key A reuses its own prompt ({Cached(a2)} of {Prompt(a1)})");

        // Key B sends the very same prompt, while A's cells are resident: nothing of it is reused, and cached_tokens
        // tells B nothing about what A sent.
        var b1 = await ChatAsync(server.Client, "Key isolation question", "sk-tenant-b");
        Assert.Equal(0, Cached(b1));
        var b2 = await ChatAsync(server.Client, "Key isolation question", "sk-tenant-b");
        Assert.True(Cached(b2) >= Prompt(b1) - 1, "key B reuses its own prompt");
        var a3 = await ChatAsync(server.Client, "Key isolation question", "sk-tenant-a");
        Assert.True(Cached(a3) >= Prompt(a1) - 1, "and key A still its own");
    }

    [Fact]
    public async Task Cache_salt_scopes_reuse_on_every_route()
    {
        await using var server = await LiveServer.StartAsync("--parallel", "2", "--ctx-size", "2048");
        var client = server.Client;
        var s1 = await ChatAsync(client, "Salt question", salt: "tenant-1");
        var s1Again = await ChatAsync(client, "Salt question", salt: "tenant-1");
        Assert.True(Cached(s1Again) >= Prompt(s1) - 1, "the same salt reuses");
        Assert.Equal(0, Cached(await ChatAsync(client, "Salt question", salt: "tenant-2")));
        Assert.Equal(0, Cached(await ChatAsync(client, "Salt question")));

        // Messages and Responses take the field too: same salt, the system prompt is reused; another salt, nothing.
        async Task<JsonNode> Post(string path, string json)
        {
            using var res = await client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
            var text = await res.Content.ReadAsStringAsync();
            Assert.True(res.StatusCode == HttpStatusCode.OK, text);
            return JsonNode.Parse(text)!;
        }

        var system = JsonValue.Create(Long)!.ToJsonString();
        string Messages(string salt) => $$"""{"model":"tiny-youtu","max_tokens":2,"system":{{system}},"messages":[{"role":"user","content":"Salt via Messages"}],"cache_salt":"{{salt}}"}""";
        _ = await Post("/v1/messages", Messages("m-1"));
        Assert.True((await Post("/v1/messages", Messages("m-1")))["usage"]!["cache_read_input_tokens"]!.GetValue<int>() > 50);
        Assert.Equal(0, (await Post("/v1/messages", Messages("m-2")))["usage"]!["cache_read_input_tokens"]!.GetValue<int>());
        string Responses(string salt) => $$"""{"model":"tiny-youtu","max_output_tokens":2,"instructions":{{system}},"input":"Salt via Responses","cache_salt":"{{salt}}","store":false}""";
        _ = await Post("/v1/responses", Responses("r-1"));
        Assert.True((await Post("/v1/responses", Responses("r-1")))["usage"]!["input_tokens_details"]!["cached_tokens"]!.GetValue<int>() > 50);
        Assert.Equal(0, (await Post("/v1/responses", Responses("r-2")))["usage"]!["input_tokens_details"]!["cached_tokens"]!.GetValue<int>());

        using var empty = await client.PostAsync("/v1/chat/completions", new StringContent("""{"messages":[{"role":"user","content":"x"}],"cache_salt":""}""", Encoding.UTF8, "application/json"));
        var error = JsonNode.Parse(await empty.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        Assert.Equal("cache_salt", error["param"]!.GetValue<string>());
    }

    [Fact]
    public async Task Prompt_cache_key_keeps_the_latest_prompt_of_recent_conversations_pinned()
    {
        await using var server = await LiveServer.StartAsync("--parallel", "2", "--ctx-size", "2048");
        async Task Turn(string conversation, string user)
        {
            var body = new JsonObject
            {
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = user }),
                ["max_tokens"] = 2,
                ["prompt_cache_key"] = conversation,
            };
            using var res = await server.Client.PostAsync("/v1/chat/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        }

        // The engine's stats are a periodic snapshot: the host's own count is read right after each turn.
        var pins = server.Services.GetRequiredService<ConversationPins>();
        Assert.Equal(0, pins.Count);
        await Turn("conv-1", "first conversation, turn one");
        Assert.Equal(1, pins.Count);
        await Turn("conv-1", "first conversation, turn one and two");
        Assert.Equal(1, pins.Count); // the new turn replaced the conversation's pin
        await Turn("conv-2", "second conversation");
        Assert.Equal(2, pins.Count);

        // Bounded: at most 8 conversations (2 × 2 slots, at least 8) stay pinned, the least recently used released.
        for (var i = 3; i <= 12; i++)
        {
            await Turn($"conv-{i}", $"conversation {i}");
        }

        Assert.Equal(8, pins.Count);
    }

    [Fact]
    public async Task A_session_whose_cells_were_taken_is_restored_from_ram_and_reported()
    {
        // One sequence: session B's turn takes session A's cells; A's next turn finds its state in the RAM tier.
        // Its own model name: the tests' other in-process hosts report the same instruments, and series with the same
        // labels are exported once (whichever host's callback came last), so this host's series are found by name.
        var alias = $"tiny-ram-tier-{Guid.NewGuid():N}";
        await using var server = await LiveServer.StartAsync("--parallel", "1", "--ctx-size", "2048", "--cache-ram", "64", "--alias", alias);
        var client = server.Client;
        var a1 = await ChatAsync(client, "Session A first turn");
        // Another system prompt: nothing of A's prefix stays resident.
        _ = await ChatAsync(client, "Session B", system: string.Join(' ', Enumerable.Range(0, 90).Select(i => $"other{i % 13}")));
        using var res = await client.PostAsync("/v1/chat/completions", new StringContent(new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "system", ["content"] = Long }, new JsonObject { ["role"] = "user", ["content"] = "Session A first turn" }),
            ["max_tokens"] = 2,
            ["seed"] = 1,
            ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
        }.ToJsonString(), Encoding.UTF8, "application/json"));
        var sse = await res.Content.ReadAsStringAsync();
        var last = sse.Split("\n").Where(l => l.StartsWith("data: {", StringComparison.Ordinal)).Select(l => JsonNode.Parse(l[6..])!).Last(n => n["usage"] is not null);
        var cached = last["usage"]!["prompt_tokens_details"]!["cached_tokens"]!.GetValue<int>();
        var timings = last["timings"]!;
        Assert.True(cached >= Prompt(a1) - 1, $"session A's prompt is reused ({cached} of {Prompt(a1)}): {sse}");
        Assert.Equal(cached, timings["cache_n"]!.GetValue<int>());
        var restored = timings["restored_n"]!.GetValue<int>();
        Assert.True(restored > Long.Length / 10 && restored <= cached, $"restored_n {restored} of cache_n {cached}");
        Assert.True(timings["restore_ms"]!.GetValue<double>() > 0);

        var metrics = await client.GetStringAsync("/metrics");
        var mine = metrics.Split('\n').Where(l => l.Contains($"model=\"{alias}\"", StringComparison.Ordinal)).ToList();
        var ram = mine.Where(l => l.StartsWith("youtu_prefix_cache_reused_tokens_total{", StringComparison.Ordinal) && l.Contains("tier=\"ram\"", StringComparison.Ordinal))
            .Select(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(-1).Max();
        Assert.True(ram >= restored, metrics);
        Assert.Contains(mine, l => l.StartsWith("youtu_prefix_cache_size_bytes{", StringComparison.Ordinal));
        Assert.Contains(mine, l => l.StartsWith("youtu_prefix_cache_restore_duration_seconds_bucket{", StringComparison.Ordinal));
    }
}
