using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using YoutuServer.Cli;
using YoutuServer.Cli.Bench;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Load;

/// <summary>
/// `bench sessions`: the replay against a live server on the tiny model (turn order, growing histories, the shared
/// system prompt reused, Claude Code's billing block dropped by the server), and the client's reading of llama-server's
/// stream shapes (cached counts from timings.cache_n; Anthropic usage split over message_start and message_delta).
/// </summary>
public sealed class SessionsBenchTests
{
    private static async Task<(SessionReport Report, int? SystemTokens)> ReplayAsync(Uri url, params string[] extra)
    {
        var settings = SessionSettings.Parse([
            "--url", url.ToString(), "--sessions", "3", "--turns", "3", "--system-tokens", "200", "--task-tokens", "40",
            "--tool-words", "30", "--max-tokens", "6", "--seed", "5", .. extra,
        ]);
        using var client = new StreamingClient(StreamingClient.BaseUriOf(settings.Url!), null, TestTimeouts.Seconds(120));
        var pool = new PromptPool(settings.Seed);
        await pool.InitializeAsync(client, 4096, wantTokens: false, CancellationToken.None);
        var workload = new SessionWorkload(settings, pool);
        var systemTokens = await PromptPool.CountTokensAsync(client, workload.SystemText, CancellationToken.None);
        var requests = await new SessionReplay(settings, workload, "tiny-youtu", TextWriter.Null).RunAsync(_ => Task.FromResult(client), systemTokens, CancellationToken.None);
        return (new SessionReport { Settings = settings, Target = "test", ServedModel = "tiny-youtu", Requests = requests, SystemTokens = systemTokens }, systemTokens);
    }

    [Theory]
    [InlineData("chat")]
    [InlineData("messages")]
    public async Task Sessions_run_interleaved_with_growing_histories_and_a_shared_system_prompt(string api)
    {
        await using var server = await LiveServer.StartAsync("--parallel", "2", "--ctx-size", "4096");
        string[] extra = api == "messages" ? ["--api", "messages", "--billing-block"] : [];
        var (report, systemTokens) = await ReplayAsync(server.BaseAddress, extra);
        var requests = report.Requests;

        Assert.All(requests, r => Assert.True(r.Result.Ok, $"{r.Result.Error} {r.Result.ErrorDetail}"));
        // Turn by turn: every session's turn t before any turn t+1.
        Assert.Equal([1, 1, 1, 2, 2, 2, 3, 3, 3], requests.Select(r => r.Turn));
        Assert.Equal([0, 1, 2, 0, 1, 2, 0, 1, 2], requests.Select(r => r.Session));
        Assert.NotNull(systemTokens);
        foreach (var session in requests.GroupBy(r => r.Session))
        {
            var turns = session.OrderBy(r => r.Turn).ToList();
            for (var t = 1; t < turns.Count; t++)
            {
                // The next prompt holds the previous one, its answer and a tool result.
                Assert.True(turns[t].Prompt > turns[t - 1].Prompt + turns[t - 1].Result.CompletionTokens, $"session {session.Key}: {turns[t].Prompt} after {turns[t - 1].Prompt}");
                Assert.Equal(turns[t - 1].Prompt + turns[t - 1].Result.CompletionTokens, turns[t].IdealCached);
            }

            // At most the bound: a sampled end-of-turn token may stop an answer earlier (CI saw 5 of 6 once).
            Assert.All(turns, r => Assert.InRange(r.Result.CompletionTokens, 0, 6));
        }

        // A later session's first turn reuses the shared system prompt (through Messages too: the billing block, new in
        // every request, is left out of the prompt by the server).
        Assert.All(requests.Where(r => r.Turn == 1 && r.Session > 0), r => Assert.True(r.Cached >= systemTokens!.Value - 2, $"session {r.Session + 1} cached {r.Cached} of a {systemTokens}-token system prompt"));
        Assert.All(requests, r => Assert.Equal(r.Prompt - r.Cached, r.Evaluated));

        var md = report.ToMarkdown();
        Assert.Contains("| turn | requests | prompt tokens | cached | evaluated | hit rate |", md, StringComparison.Ordinal);
        Assert.Contains("| 3 | 3/3 |", md, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(report.ToJson());
        Assert.Equal(9, json.RootElement.GetProperty("requests").GetArrayLength());
        Assert.Equal(api, json.RootElement.GetProperty("api").GetString());
        Assert.InRange(json.RootElement.GetProperty("hit_rate").GetDouble(), 0.01, 1.0);
    }

    [Fact]
    public void Options_are_checked()
    {
        Assert.Throws<CliException>(() => SessionSettings.Parse(["--url", "http://h", "--billing-block"]));
        Assert.Throws<CliException>(() => SessionSettings.Parse(["--url", "http://h", "--api", "responses"]));
        Assert.Throws<CliException>(() => SessionSettings.Parse(["--url", "http://h", "--restart-after", "1"]));
        Assert.Throws<CliException>(() => SessionSettings.Parse(["--url", "http://h", "--cache-dir", "/tmp/x"]));
        Assert.Throws<CliException>(() => SessionSettings.Parse(["--url", "http://h", "--turns", "0"]));
        var s = SessionSettings.Parse(["--url", "http://h", "--api", "messages", "--billing-block"]);
        Assert.Equal((6, 4, 950, 16, true), (s.Sessions, s.Turns, s.SystemTokens, s.MaxTokens, s.BillingBlock));
        Assert.True(double.IsNaN(s.Temperature), "each server's own sampling unless --temperature is given");
    }

    [Fact]
    public async Task Llama_server_stream_shapes_give_cached_counts_and_the_answer_text()
    {
        // llama-server's final chat chunk: usage without prompt_tokens_details in some builds, timings with cache_n.
        const string chat = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n"
            + "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n"
            + "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":500,\"completion_tokens\":2},\"timings\":{\"cache_n\":380,\"prompt_n\":120,\"prompt_ms\":900.5}}\n\n"
            + "data: [DONE]\n\n";
        // llama-server's Messages stream: prompt and cached in message_start, only output_tokens in message_delta.
        const string messages = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"cache_read_input_tokens\":300,\"input_tokens\":200,\"output_tokens\":0}}}\n\n"
            + "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
            + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi \"}}\n\n"
            + "event: ping\ndata: {\"type\":\"ping\"}\n\n"
            + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"there\"}}\n\n"
            + "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":2}}\n\n"
            + "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var app = builder.Build();
        app.MapPost("/v1/chat/completions", (HttpContext h) => Sse(h, chat));
        app.MapPost("/v1/messages", (HttpContext h) => Sse(h, messages));
        await app.StartAsync();
        using var client = new StreamingClient(new Uri(app.Urls.First() + "/"), null, TestTimeouts.Seconds(30));

        var c = await client.StreamAsync("/v1/chat/completions", "{}"u8.ToArray(), CancellationToken.None, collectText: true);
        Assert.True(c.Ok, c.Error);
        var cr = new SessionRequest(0, 1, c, 0, false);
        Assert.Equal((500, 380, 120, "Hello"), (cr.Prompt, cr.Cached, cr.Evaluated, c.Text!.ToString()));

        var m = await client.StreamAsync("/v1/messages", "{}"u8.ToArray(), CancellationToken.None, collectText: true);
        Assert.True(m.Ok, m.Error);
        Assert.True(m.Done, "message_stop ends an Anthropic stream");
        var mr = new SessionRequest(0, 1, m, 0, false);
        Assert.Equal((500, 300, 200, 2, "Hi there"), (mr.Prompt, mr.Cached, mr.Evaluated, m.CompletionTokens, m.Text!.ToString()));
        Assert.Equal(2, m.TokenChunks.Count);
    }

    private static async Task Sse(HttpContext http, string body)
    {
        http.Response.ContentType = "text/event-stream";
        await http.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(body));
    }
}
