using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;
using YoutuServer.Hosting;
using YoutuServer.Tests.Load;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Fuzz;

/// <summary>
/// More than a thousand generated hostile bodies (fixed seed) against both generation routes: every answer is a 4xx
/// with an OpenAI error body, or — when the mutation happens to be valid — a 200 with a well-formed JSON body or a
/// well-terminated SSE stream; never a 5xx, never a hang; afterwards the server is healthy, serves a normal
/// request and holds no sequence.
/// </summary>
public sealed class RequestFuzzTests(FuzzServerFixture server, ITestOutputHelper output) : IClassFixture<FuzzServerFixture>
{
    private const int Seed = 20251124;
    private static readonly TimeSpan PerRequest = TestTimeouts.Seconds(30);

    [Fact]
    public void The_corpus_is_deterministic_and_large_enough()
    {
        var a = FuzzCorpus.Generate(Seed, 120, 80);
        var b = FuzzCorpus.Generate(Seed, 120, 80);
        Assert.Equal(200, a.Count);
        Assert.True(a.Zip(b).All(p => p.First.Body.AsSpan().SequenceEqual(p.Second.Body)));
        Assert.True(a.Select(c => c.Description).Distinct().Count() > 100, "mutations should be varied");
    }

    [Fact]
    public async Task Hostile_bodies_get_openai_4xx_errors_never_a_5xx_and_the_server_survives()
    {
        var cases = FuzzCorpus.Generate(Seed, 650, 450);
        if (Environment.GetEnvironmentVariable("YOUTU_FUZZ_DUMP") is { Length: > 0 } dump)
        {
            // Debugging aid: write the corpus out (one file per case) to replay it against a real server.
            Directory.CreateDirectory(dump);
            foreach (var c in cases)
            {
                await File.WriteAllBytesAsync(Path.Combine(dump, $"{c.Id:D4}.body"), c.Body);
                await File.WriteAllTextAsync(Path.Combine(dump, $"{c.Id:D4}.meta"), $"{c.Path}\n{c.ContentType}\n{c.Description}\n");
            }

            return;
        }

        using var client = server.CreateClient();
        client.Timeout = Timeout.InfiniteTimeSpan;
        var failures = new ConcurrentBag<string>();
        var statuses = new ConcurrentDictionary<int, int>();
        var slowest = new ConcurrentBag<(double Ms, string What)>();
        var sw = Stopwatch.StartNew();

        await Parallel.ForEachAsync(cases, new ParallelOptions { MaxDegreeOfParallelism = 6 }, async (c, _) =>
        {
            var started = Stopwatch.GetTimestamp();
            var (status, problem) = await SendAsync(client, c);
            slowest.Add((Stopwatch.GetElapsedTime(started).TotalMilliseconds, $"#{c.Id} {c.Path} {c.Description}"));
            statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
            if (problem is not null)
            {
                failures.Add($"#{c.Id} {c.Path} [{c.Description}] → {status}: {problem}");
            }
        });

        output.WriteLine($"{cases.Count} requests in {sw.Elapsed.TotalSeconds:F1} s; statuses: {string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}"))}");
        foreach (var (ms, what) in slowest.OrderByDescending(s => s.Ms).Take(5))
        {
            output.WriteLine($"slow: {ms:F0} ms {what}");
        }

        Assert.True(failures.IsEmpty, $"{failures.Count} bad answers:\n" + string.Join("\n", failures.Take(25)));
        Assert.True(statuses.Where(s => s.Key is >= 400 and < 500).Sum(s => s.Value) > cases.Count / 2, "most hostile bodies must be refused");
        Assert.True(statuses.GetValueOrDefault(200) > 0, "some mutations stay valid and must be served");

        // Alive and clean afterwards.
        var ready = await client.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var ok = await client.PostAsync("/v1/chat/completions", new StringContent(
            $$"""{"model":"{{FuzzServerFixture.ModelId}}","messages":[{"role":"user","content":"still there?"}],"max_tokens":3,"ignore_eos":true}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var engine = server.Services.GetRequiredService<EngineHost>().Engine;
        var deadline = Stopwatch.StartNew();
        while ((engine.Stats.ActiveSequences > 0 || engine.Stats.QueueDepth > 0) && deadline.Elapsed < TestTimeouts.Seconds(5))
        {
            await Task.Delay(10);
        }

        Assert.Equal(0, engine.Stats.ActiveSequences);
        Assert.Equal(0, engine.Stats.QueueDepth);
    }

    /// <summary>Sends one case; returns the status and a description of what is wrong with the answer (null: fine).</summary>
    private static async Task<(int Status, string? Problem)> SendAsync(HttpClient client, FuzzCase c)
    {
        using var cts = new CancellationTokenSource(PerRequest);
        using var req = new HttpRequestMessage(HttpMethod.Post, c.Path) { Content = new ByteArrayContent(c.Body) };
        if (c.ContentType is not null)
        {
            req.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(c.ContentType);
        }

        try
        {
            using var res = await client.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            var status = (int)res.StatusCode;
            if (status >= 500)
            {
                return (status, "5xx: " + Short(await res.Content.ReadAsStringAsync(cts.Token)));
            }

            if (status >= 400)
            {
                return (status, ErrorBodyProblem(await res.Content.ReadAsStringAsync(cts.Token)));
            }

            if (status != 200)
            {
                return (status, "unexpected status");
            }

            if (res.Content.Headers.ContentType?.MediaType == "text/event-stream")
            {
                var check = await SseStream.ReadAsync(await res.Content.ReadAsStreamAsync(cts.Token), cts.Token);
                if (check.Problems.Count > 0)
                {
                    return (status, "stream: " + string.Join("; ", check.Problems.Take(3)));
                }

                if (!check.WellTerminated)
                {
                    return (status, "stream ended without [DONE] or a well-formed error event");
                }

                return (status, check.ErrorEvent ? "generation error event: " + check.ErrorCode : null);
            }

            var text = await res.Content.ReadAsStringAsync(cts.Token);
            try
            {
                using var doc = JsonDocument.Parse(text);
                var root = doc.RootElement;
                return root.ValueKind == JsonValueKind.Object
                    && root.TryGetProperty("choices", out var ch) && ch.ValueKind == JsonValueKind.Array && ch.GetArrayLength() > 0
                    && root.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object
                    && root.TryGetProperty("object", out var o) && o.GetString() is "chat.completion" or "text_completion"
                    ? (status, null)
                    : (status, "200 without a well-formed completion: " + Short(text));
            }
            catch (JsonException)
            {
                return (status, "200 with a body that is not JSON: " + Short(text));
            }
        }
        catch (OperationCanceledException)
        {
            return (0, $"no complete answer within {PerRequest.TotalSeconds} s (hang)");
        }
    }

    private static string? ErrorBodyProblem(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("error", out var e) || e.ValueKind != JsonValueKind.Object)
            {
                return "4xx without an OpenAI error object: " + Short(text);
            }

            if (!e.TryGetProperty("message", out var m) || m.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(m.GetString()))
            {
                return "error without a message";
            }

            if (!e.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String)
            {
                return "error without a type";
            }

            foreach (var k in new[] { "param", "code" })
            {
                if (e.TryGetProperty(k, out var v) && v.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                {
                    return $"error.{k} is neither a string nor null";
                }
            }

            return null;
        }
        catch (JsonException)
        {
            return "4xx whose body is not JSON: " + Short(text);
        }
    }

    private static string Short(string s) => s.Length > 300 ? s[..300] + "…" : s;
}
