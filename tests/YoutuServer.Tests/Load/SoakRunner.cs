using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Load;

public sealed record SoakOptions
{
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(20);
    public int Clients { get; init; } = 64;
    public int Seed { get; init; } = 7;
    /// <summary>Largest allowed RSS growth between the end of the warm-up and the end of the run (0.05 = 5%).</summary>
    public double MaxRssGrowth { get; init; } = 0.05;
    public TimeSpan OverflowPhase { get; init; } = TimeSpan.FromSeconds(3);
}

/// <summary>What a soak run saw; failures are collected, never thrown, so one run reports everything.</summary>
public sealed class SoakReport
{
    private readonly ConcurrentDictionary<string, int> counts = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> failures = new();

    public IReadOnlyCollection<string> Failures => failures;
    public long RssWarm { get; set; }
    public long RssEnd { get; set; }
    public long RssMax { get; set; }
    public double RssGrowth => RssWarm == 0 ? 0 : (RssEnd - RssWarm) / (double)RssWarm;
    public double? KvCellsAtEnd { get; set; }
    public TimeSpan Elapsed { get; set; }

    public void Count(string what, int by = 1) => counts.AddOrUpdate(what, by, (_, n) => n + by);

    public int this[string what] => counts.GetValueOrDefault(what);

    public void Fail(string what)
    {
        Count("failures");
        if (failures.Count < 200)
        {
            failures.Enqueue(what);
        }
    }

    public string Summary() =>
        $"soak {Elapsed.TotalSeconds:F0} s: " + string.Join(", ", counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key}={c.Value}"))
        + $"; RSS warm {RssWarm / 1048576.0:F1} MiB → end {RssEnd / 1048576.0:F1} MiB ({RssGrowth * 100:+0.0;-0.0}%), max {RssMax / 1048576.0:F1} MiB"
        + $"; KV cells at the end {KvCellsAtEnd?.ToString(CultureInfo.InvariantCulture) ?? "n/a"}";
}

/// <summary>
/// The soak: <see cref="SoakOptions.Clients"/> clients against a real youtu-server process on the tiny model, each
/// looping over a seeded mix — streamed chat (with and without usage, thinking on and off), streamed chat with a
/// stop string taken from an earlier output of the same seed, non-streamed chat, a named tool_choice whose enum
/// holds non-ASCII values, n &gt; 1, streamed /v1/completions, a json_schema enum of multi-byte strings (the split
/// UTF-8 probe), and clients that vanish before the headers, while queued or mid-stream. Then a phase against a
/// second server with one slot and a queue of 2, where overflow must be a quick 429 with Retry-After.
/// </summary>
public static class SoakRunner
{
    private static readonly string[] Words = ["alpha", "river", "stone", "light", "garden", "Zürich", "日本語", "naïve", "emoji 😀", "café", "quick", "brown", "fox", "story", "numbers 12345"];
    private static readonly string[] Cities = ["Paris", "Zürich", "東京", "São Paulo"];
    private static readonly string[] Utf8Words = ["日本語", "ünïcödé", "😀🚀", "Ελληνικά", "中文字符", "e\u0301"];
    private static readonly TimeSpan RequestTimeout = TestTimeouts.Seconds(60);

    public static async Task<SoakReport> RunAsync(SoakOptions o)
    {
        var report = new SoakReport();
        var total = Stopwatch.StartNew();
        await using (var server = await ServerProcess.StartAsync(
            "--parallel", "8", "--ctx-size", "8192", "--queue-size", "256", "--threads", "1", "--prefix-cache", "off", "--default-max-tokens", "64"))
        {
            await MainPhaseAsync(server, o, report);
        }

        await using (var small = await ServerProcess.StartAsync("--parallel", "1", "--queue-size", "2", "--threads", "1", "--default-max-tokens", "32"))
        {
            await OverflowPhaseAsync(small, o, report);
        }

        report.Elapsed = total.Elapsed;
        return report;
    }

    // ------------------------------------------------------------------ main phase

    private static async Task MainPhaseAsync(ServerProcess server, SoakOptions o, SoakReport report)
    {
        var start = Stopwatch.GetTimestamp();
        var warmUp = TimeSpan.FromSeconds(Math.Clamp(o.Duration.TotalSeconds * 0.2, 5, 60));
        var deadline = start + (long)(o.Duration.TotalSeconds * Stopwatch.Frequency);
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            var warmTaken = false;
            while (!sampling.IsCancellationRequested)
            {
                var rss = server.RssBytes();
                report.RssMax = Math.Max(report.RssMax, rss);
                if (!warmTaken && Stopwatch.GetElapsedTime(start) >= warmUp)
                {
                    report.RssWarm = rss;
                    warmTaken = true;
                }

                try
                {
                    await Task.Delay(250, sampling.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        });

        var clients = Enumerable.Range(0, o.Clients).Select(id => ClientAsync(server, id, o.Seed, deadline, report)).ToArray();
        await Task.WhenAll(clients);
        await sampling.CancelAsync();
        await sampler;

        if (server.Exited)
        {
            report.Fail("the server process died:\n" + server.Tail);
            return;
        }

        // Everything ends: no sequence, no queue entry, no KV cell (prefix cache off, so nothing may stay).
        var idle = Stopwatch.StartNew();
        (HttpStatusCode Status, int Active, int Queue) ready = default;
        while (idle.Elapsed < TestTimeouts.Seconds(15))
        {
            ready = await server.ReadyAsync();
            if (ready.Status == HttpStatusCode.OK && ready.Active == 0 && ready.Queue == 0)
            {
                break;
            }

            await Task.Delay(50);
        }

        if (ready.Status != HttpStatusCode.OK || ready.Active != 0 || ready.Queue != 0)
        {
            report.Fail($"not idle 15 s after the clients stopped: {ready}");
        }

        var kvDeadline = Stopwatch.StartNew();
        do
        {
            report.KvCellsAtEnd = await server.MetricAsync("youtu_kv_cells_used");
            if (report.KvCellsAtEnd is null or 0)
            {
                break;
            }

            await Task.Delay(200);
        }
        while (kvDeadline.Elapsed < TestTimeouts.Seconds(5));

        if (report.KvCellsAtEnd is > 0)
        {
            report.Fail($"{report.KvCellsAtEnd} KV cells still used at the end (prefix cache off: all must be free)");
        }

        await Task.Delay(500);
        report.RssEnd = server.RssBytes();
        if (report.RssWarm > 0 && report.RssGrowth > o.MaxRssGrowth)
        {
            report.Fail($"RSS grew {report.RssGrowth * 100:F1}% after the warm-up (bound {o.MaxRssGrowth * 100:F0}%)");
        }

        // Zero 5xx, also for clients that were gone before they could see one (the server's own request log).
        foreach (var line in server.ErrorLines)
        {
            report.Fail("server log: " + line);
        }

        // Still serving.
        var check = await Chat(server.Client, new JsonObject { ["messages"] = Messages("still alive?"), ["max_tokens"] = 4, ["stream"] = false }, CancellationToken.None);
        if (check.Status != 200)
        {
            report.Fail($"after the soak a plain request got {check.Status}");
        }
    }

    private static async Task ClientAsync(ServerProcess server, int id, int seed, long deadline, SoakReport report)
    {
        var rng = new Random(seed * 1009 + id);
        var http = server.Client;
        // A reference output; the stop-string requests reuse its seed and cut it somewhere in the middle.
        var refSeed = 1000 + id;
        var refPrompt = Prompt(rng);
        string? stop = null;
        var reference = await Chat(http, new JsonObject
        {
            ["messages"] = Messages(refPrompt),
            ["max_tokens"] = 24,
            ["ignore_eos"] = true,
            ["seed"] = refSeed,
            ["temperature"] = 0.9,
            ["enable_thinking"] = false,
        }, CancellationToken.None);
        if (reference.Status == 200 && reference.Json?["choices"]?[0]?["message"]?["content"]?.GetValue<string>() is { Length: >= 12 } text)
        {
            var clean = text.Replace("\uFFFD", "", StringComparison.Ordinal);
            if (clean.Length >= 12)
            {
                var at = clean.Length / 2;
                stop = clean.Substring(at, char.IsHighSurrogate(clean[at + 2]) ? 2 : 3);
            }
        }

        while (Stopwatch.GetTimestamp() < deadline)
        {
            var k = rng.Next(100);
            var kind = k switch
            {
                < 26 => "stream_chat",
                < 36 => "stop_string",
                < 46 => "non_stream",
                < 56 => "tool",
                < 64 => "n_choices",
                < 76 => "completions",
                < 82 => "utf8_grammar",
                _ => "disconnect",
            };
            report.Count(kind);
            try
            {
                switch (kind)
                {
                    case "stream_chat":
                        await StreamChatAsync(http, rng, report, null, refSeed, refPrompt);
                        break;
                    case "stop_string":
                        await StreamChatAsync(http, rng, report, stop, refSeed, refPrompt);
                        break;
                    case "non_stream":
                        await NonStreamAsync(http, rng, report);
                        break;
                    case "tool":
                        await ToolAsync(http, rng, report);
                        break;
                    case "n_choices":
                        await ChoicesAsync(http, rng, report);
                        break;
                    case "completions":
                        await CompletionsAsync(http, rng, report);
                        break;
                    case "utf8_grammar":
                        await Utf8GrammarAsync(http, rng, report);
                        break;
                    default:
                        await DisconnectAsync(http, rng, report);
                        break;
                }
            }
            catch (Exception e) when (e is HttpRequestException or IOException or JsonException or InvalidOperationException or TimeoutException or OperationCanceledException)
            {
                report.Fail($"{kind}: {e.GetType().Name}: {e.Message}");
            }
        }
    }

    // ------------------------------------------------------------------ request kinds

    private static string Prompt(Random rng) => string.Join(' ', Enumerable.Range(0, 3 + rng.Next(30)).Select(_ => Words[rng.Next(Words.Length)]));

    private static JsonArray Messages(string content) => [new JsonObject { ["role"] = "user", ["content"] = content }];

    private sealed record Answer(int Status, JsonNode? Json, string Body, SseCheck? Stream, HttpResponseMessage? Response);

    private static async Task<Answer> Chat(HttpClient http, JsonObject body, CancellationToken ct, string path = "/v1/chat/completions")
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(RequestTimeout);
        body["model"] = "tiny-youtu";
        using var req = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        try
        {
            using var res = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            if (res.Content.Headers.ContentType?.MediaType == "text/event-stream")
            {
                var check = await SseStream.ReadAsync(await res.Content.ReadAsStreamAsync(cts.Token), cts.Token);
                return new Answer((int)res.StatusCode, null, "", check, null);
            }

            var text = await res.Content.ReadAsStringAsync(cts.Token);
            JsonNode? json = null;
            try
            {
                json = JsonNode.Parse(text);
            }
            catch (JsonException)
            {
            }

            return new Answer((int)res.StatusCode, json, text, null, null);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"no complete answer in {RequestTimeout.TotalSeconds} s (hang) for {Short(body.ToJsonString())}");
        }
    }

    private static bool CheckStatus(Answer a, string kind, SoakReport report)
    {
        report.Count($"status_{a.Status}");
        if (a.Status == 200)
        {
            return true;
        }

        report.Fail($"{kind}: status {a.Status} {Short(a.Body)}");
        return false;
    }

    /// <summary>Stream invariants: well terminated, every event valid, a finish per choice, usage exactly when asked.</summary>
    private static bool CheckStream(Answer a, string kind, int n, bool includeUsage, SoakReport report)
    {
        if (!CheckStatus(a, kind, report))
        {
            return false;
        }

        var s = a.Stream!;
        report.Count("replacement_chars_random_text", s.ReplacementChars);
        if (!s.WellTerminated)
        {
            report.Fail($"{kind}: stream ended without [DONE] or a well-formed error event (events {s.Events}, done {s.Done}, after done {s.AfterDone})");
            return false;
        }

        if (s.Problems.Count > 0)
        {
            report.Fail($"{kind}: {string.Join("; ", s.Problems.Take(3))}");
            return false;
        }

        if (s.ErrorEvent)
        {
            report.Count("error_events");
            report.Fail($"{kind}: error event {s.ErrorCode}");
            return false;
        }

        if (s.FinishReasons.Count != n)
        {
            report.Fail($"{kind}: {s.FinishReasons.Count} finish reasons for n = {n}");
        }

        if (includeUsage && (s.Usage is not { } u || u.GetProperty("completion_tokens").GetInt32() <= 0 || u.GetProperty("prompt_tokens").GetInt32() <= 0))
        {
            report.Fail($"{kind}: usage asked for but missing or empty");
        }

        if (!includeUsage && s.Usage is not null)
        {
            report.Fail($"{kind}: usage sent without stream_options.include_usage");
        }

        return true;
    }

    private static async Task StreamChatAsync(HttpClient http, Random rng, SoakReport report, string? stop, int refSeed, string refPrompt)
    {
        var usage = rng.Next(2) == 0;
        var thinking = stop is null && rng.Next(3) == 0;
        var body = new JsonObject
        {
            ["messages"] = Messages(stop is null ? Prompt(rng) : refPrompt),
            ["max_tokens"] = stop is null ? 8 + rng.Next(32) : 24,
            ["ignore_eos"] = rng.Next(2) == 0 || stop is not null,
            ["seed"] = stop is null ? rng.Next() : refSeed,
            ["temperature"] = 0.9,
            ["enable_thinking"] = thinking,
            ["stream"] = true,
        };
        if (usage)
        {
            body["stream_options"] = new JsonObject { ["include_usage"] = true };
        }

        if (stop is not null)
        {
            body["stop"] = new JsonArray(stop, "\u0001never");
        }

        var kind = stop is null ? "stream_chat" : "stop_string";
        var a = await Chat(http, body, CancellationToken.None);
        if (!CheckStream(a, kind, 1, usage, report) || stop is null)
        {
            return;
        }

        var content = a.Stream!.ContentOf(0) + a.Stream.ReasoningOf(0);
        if (content.Contains(stop, StringComparison.Ordinal))
        {
            report.Fail($"stop string '{stop}' leaked into the stream: '{Short(content)}'");
        }

        if (a.Stream.FinishReasons.GetValueOrDefault(0) == "stop")
        {
            report.Count("stop_string_hits");
        }
    }

    private static async Task NonStreamAsync(HttpClient http, Random rng, SoakReport report)
    {
        var n = 1 + rng.Next(2);
        var a = await Chat(http, new JsonObject
        {
            ["messages"] = Messages(Prompt(rng)),
            ["max_tokens"] = 4 + rng.Next(24),
            ["n"] = n,
            ["seed"] = rng.Next(),
            ["enable_thinking"] = rng.Next(2) == 0,
        }, CancellationToken.None);
        if (!CheckStatus(a, "non_stream", report))
        {
            return;
        }

        if (a.Json?["choices"] is not JsonArray choices || choices.Count != n || a.Json["usage"]?["completion_tokens"] is null)
        {
            report.Fail($"non_stream: malformed body {Short(a.Body)}");
        }
    }

    private static JsonObject ToolBody(Random rng, bool stream) => new()
    {
        ["messages"] = Messages("Which city? " + Prompt(rng)),
        ["max_tokens"] = 120,
        ["seed"] = rng.Next(),
        ["enable_thinking"] = false,
        ["stream"] = stream,
        ["tools"] = new JsonArray(new JsonObject
        {
            ["type"] = "function",
            ["function"] = new JsonObject
            {
                ["name"] = "pick_city",
                ["parameters"] = new JsonObject
                {
                    ["type"] = "object",
                    ["properties"] = new JsonObject { ["city"] = new JsonObject { ["type"] = "string", ["enum"] = new JsonArray([.. Cities.Select(c => (JsonNode)c)]) } },
                    ["required"] = new JsonArray("city"),
                    ["additionalProperties"] = false,
                },
            },
        }),
        ["tool_choice"] = new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "pick_city" } },
    };

    private static void CheckToolArguments(string kind, string? name, string? args, SoakReport report)
    {
        if (name != "pick_city" || args is null)
        {
            report.Fail($"{kind}: tool call '{name}' without arguments");
            return;
        }

        try
        {
            using var doc = JsonDocument.Parse(args);
            var city = doc.RootElement.GetProperty("city").GetString();
            if (!Cities.Contains(city))
            {
                report.Fail($"{kind}: city '{city}' is not in the enum");
            }
            else
            {
                report.Count("tool_calls_valid");
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            report.Fail($"{kind}: arguments are not the schema's JSON: {args} ({e.Message})");
        }
    }

    private static async Task ToolAsync(HttpClient http, Random rng, SoakReport report)
    {
        var stream = rng.Next(2) == 0;
        var body = ToolBody(rng, stream);
        var twin = (JsonObject)body.DeepClone();
        var a = await Chat(http, body, CancellationToken.None);
        if (stream)
        {
            if (!CheckStream(a, "tool", 1, false, report))
            {
                return;
            }

            if (a.Stream!.ReplacementChars > 0)
            {
                await ClassifyReplacementCharsAsync(http, twin, "tool", a.Stream, report);
                return;
            }

            if (a.Stream.FinishReasons.GetValueOrDefault(0) == "tool_calls")
            {
                CheckToolArguments("tool(stream)", a.Stream.ToolNames.GetValueOrDefault(0), a.Stream.ToolArguments.GetValueOrDefault(0)?.ToString(), report);
            }

            return;
        }

        if (!CheckStatus(a, "tool", report))
        {
            return;
        }

        var choice = a.Json?["choices"]?[0];
        if (choice?["finish_reason"]?.GetValue<string>() == "tool_calls")
        {
            var fn = choice["message"]?["tool_calls"]?[0]?["function"];
            var args = fn?["arguments"]?.GetValue<string>();
            if (args?.Contains('\uFFFD', StringComparison.Ordinal) == true)
            {
                report.Count("overlong_utf8_from_grammar");
                return;
            }

            CheckToolArguments("tool", fn?["name"]?.GetValue<string>(), args, report);
        }
    }

    /// <summary>
    /// U+FFFD in a grammar-constrained stream: split UTF-8 (a streaming bug) or invalid bytes the grammar itself let
    /// through (llama.cpp's grammar accepts overlong UTF-8 forms such as F0 86 97 A5 for 日; the same seed then shows
    /// the same U+FFFD without streaming). Re-asks the same request without streaming and compares.
    /// </summary>
    private static async Task ClassifyReplacementCharsAsync(HttpClient http, JsonObject twin, string kind, SseCheck streamed, SoakReport report)
    {
        // max_tokens can cut a character in half: the decoder flushes the incomplete bytes as one U+FFFD at the end.
        if (streamed.FinishReasons.GetValueOrDefault(0) == "length" && streamed.Deltas.Count > 0
            && streamed.Deltas[^1].EndsWith('\uFFFD') && streamed.Deltas.Sum(d => d.Count(c => c == '\uFFFD')) == streamed.Deltas[^1].Count(c => c == '\uFFFD'))
        {
            report.Count("fffd_where_max_tokens_cut_a_character");
            return;
        }

        twin["stream"] = false;
        twin.Remove("stream_options");
        var b = await Chat(http, twin, CancellationToken.None);
        var message = b.Json?["choices"]?[0]?["message"];
        var plain = (message?["content"]?.GetValue<string>() ?? "")
            + string.Concat((message?["tool_calls"] as JsonArray ?? []).Select(c => c?["function"]?["arguments"]?.GetValue<string>() ?? ""));
        var plainCount = plain.Count(c => c == '\uFFFD');
        if (b.Status == 200 && plainCount >= streamed.ReplacementChars)
        {
            report.Count("overlong_utf8_from_grammar");
        }
        else
        {
            report.Fail($"{kind}: {streamed.ReplacementChars} U+FFFD in the stream but {plainCount} without streaming (split UTF-8): {string.Join(" | ", streamed.Deltas)}");
        }
    }

    private static async Task ChoicesAsync(HttpClient http, Random rng, SoakReport report)
    {
        var n = 2 + rng.Next(2);
        var a = await Chat(http, new JsonObject
        {
            ["messages"] = Messages(Prompt(rng)),
            ["max_tokens"] = 6 + rng.Next(20),
            ["n"] = n,
            ["seed"] = rng.Next(),
            ["ignore_eos"] = true,
            ["enable_thinking"] = false,
            ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
        }, CancellationToken.None);
        if (CheckStream(a, "n_choices", n, true, report) && a.Stream!.FinishReasons.Values.Any(f => f != "length"))
        {
            report.Fail("n_choices: ignore_eos choices must all end with length");
        }
    }

    private static async Task CompletionsAsync(HttpClient http, Random rng, SoakReport report)
    {
        var usage = rng.Next(2) == 0;
        var body = new JsonObject
        {
            ["prompt"] = rng.Next(2) == 0 ? Prompt(rng) : new JsonArray([.. Enumerable.Range(0, 5 + rng.Next(200)).Select(_ => (JsonNode)(3 + rng.Next(600)))]),
            ["max_tokens"] = 4 + rng.Next(30),
            ["seed"] = rng.Next(),
            ["stream"] = true,
        };
        if (usage)
        {
            body["stream_options"] = new JsonObject { ["include_usage"] = true };
        }

        CheckStream(await Chat(http, body, CancellationToken.None, "/v1/completions"), "completions", 1, usage, report);
    }

    /// <summary>A grammar forces multi-byte characters made of several byte-level tokens: no delta may split one.</summary>
    private static async Task Utf8GrammarAsync(HttpClient http, Random rng, SoakReport report)
    {
        var body = new JsonObject
        {
            ["messages"] = Messages("Say a word"),
            ["max_tokens"] = 80,
            ["seed"] = rng.Next(),
            ["enable_thinking"] = false,
            ["stream"] = true,
            ["response_format"] = new JsonObject
            {
                ["type"] = "json_schema",
                ["json_schema"] = new JsonObject
                {
                    ["name"] = "w",
                    ["schema"] = new JsonObject
                    {
                        ["type"] = "object",
                        ["properties"] = new JsonObject { ["w"] = new JsonObject { ["type"] = "string", ["enum"] = new JsonArray([.. Utf8Words.Select(w => (JsonNode)w)]) } },
                        ["required"] = new JsonArray("w"),
                        ["additionalProperties"] = false,
                    },
                },
            },
        };
        var twin = (JsonObject)body.DeepClone();
        var a = await Chat(http, body, CancellationToken.None);
        if (!CheckStream(a, "utf8_grammar", 1, false, report))
        {
            return;
        }

        if (a.Stream!.ReplacementChars > 0)
        {
            await ClassifyReplacementCharsAsync(http, twin, "utf8_grammar", a.Stream, report);
            return;
        }

        if (a.Stream.FinishReasons.GetValueOrDefault(0) == "stop")
        {
            try
            {
                using var doc = JsonDocument.Parse(a.Stream.ContentOf(0));
                if (!Utf8Words.Contains(doc.RootElement.GetProperty("w").GetString()))
                {
                    report.Fail($"utf8_grammar: '{a.Stream.ContentOf(0)}' is not an enum value");
                }
                else
                {
                    report.Count("utf8_words_valid");
                }
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException)
            {
                report.Fail($"utf8_grammar: content is not the schema's JSON: '{a.Stream.ContentOf(0)}'");
            }
        }
    }

    private static async Task DisconnectAsync(HttpClient http, Random rng, SoakReport report)
    {
        using var cts = new CancellationTokenSource();
        var body = new JsonObject
        {
            ["model"] = "tiny-youtu",
            ["messages"] = Messages(Prompt(rng)),
            ["max_tokens"] = 400,
            ["ignore_eos"] = true,
            ["seed"] = rng.Next(),
            ["enable_thinking"] = false,
            ["stream"] = rng.Next(4) != 0,
        };
        using var req = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        var early = rng.Next(3) == 0 || body["stream"]!.GetValue<bool>() == false;
        if (early)
        {
            cts.CancelAfter(rng.Next(1, 40)); // before the headers: queued, mid-prompt or mid-generation
        }

        try
        {
            using var res = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            if (res.StatusCode != HttpStatusCode.OK)
            {
                report.Fail($"disconnect: status {(int)res.StatusCode}");
                return;
            }

            var stream = await res.Content.ReadAsStreamAsync(cts.Token);
            var wanted = 1 + rng.Next(12);
            await SseStream.ReadAsync(stream, cts.Token, c => c.Deltas.Count >= wanted);
            await cts.CancelAsync();
            report.Count("disconnect_mid_stream");
        }
        catch (OperationCanceledException)
        {
            report.Count("disconnect_early");
        }
    }

    // ------------------------------------------------------------------ overflow phase

    /// <summary>One slot, a queue of 2, bursts of 24 streams: the surplus gets 429 + Retry-After at once; nothing hangs.</summary>
    private static async Task OverflowPhaseAsync(ServerProcess server, SoakOptions o, SoakReport report)
    {
        var end = Stopwatch.GetTimestamp() + (long)(o.OverflowPhase.TotalSeconds * Stopwatch.Frequency);
        var rng = new Random(o.Seed);
        do
        {
            var burst = Enumerable.Range(0, 24).Select(async i =>
            {
                using var cts = new CancellationTokenSource(RequestTimeout);
                var body = new JsonObject
                {
                    ["model"] = "tiny-youtu",
                    ["messages"] = Messages(Prompt(rng)),
                    ["max_tokens"] = 16,
                    ["ignore_eos"] = true,
                    ["enable_thinking"] = false,
                    ["stream"] = i % 2 == 0,
                };
                using var req = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
                var sw = Stopwatch.StartNew();
                try
                {
                    using var res = await server.Client.SendAsync(req, cts.Token);
                    var text = await res.Content.ReadAsStringAsync(cts.Token);
                    report.Count($"overflow_status_{(int)res.StatusCode}");
                    if (res.StatusCode == HttpStatusCode.TooManyRequests)
                    {
                        var code = JsonNode.Parse(text)?["error"]?["code"]?.GetValue<string>();
                        if (res.Headers.RetryAfter is null || code != "queue_full")
                        {
                            report.Fail($"overflow: 429 without Retry-After or code queue_full: {Short(text)}");
                        }

                        if (sw.Elapsed > TestTimeouts.Seconds(2))
                        {
                            report.Fail($"overflow: the 429 took {sw.Elapsed.TotalSeconds:F1} s");
                        }
                    }
                    else if (res.StatusCode != HttpStatusCode.OK)
                    {
                        report.Fail($"overflow: status {(int)res.StatusCode}: {Short(text)}");
                    }
                    else if (body["stream"]!.GetValue<bool>() && !text.EndsWith("data: [DONE]\n\n", StringComparison.Ordinal))
                    {
                        report.Fail("overflow: a stream that got in did not end with [DONE]");
                    }
                }
                catch (OperationCanceledException)
                {
                    report.Fail("overflow: a request hung (no answer in 60 s)");
                }
            });
            await Task.WhenAll(burst);
        }
        while (Stopwatch.GetTimestamp() < end);

        if (report["overflow_status_429"] == 0)
        {
            report.Fail("overflow: no 429 although 24 requests met one slot and a queue of 2");
        }

        foreach (var line in server.ErrorLines)
        {
            report.Fail("overflow server log: " + line);
        }

        var ready = await server.ReadyAsync();
        if (ready.ActiveSequences != 0 || ready.QueueDepth != 0)
        {
            await Task.Delay(1000);
            ready = await server.ReadyAsync();
            if (ready.ActiveSequences != 0 || ready.QueueDepth != 0)
            {
                report.Fail($"overflow server not idle afterwards: {ready}");
            }
        }
    }

    private static string Short(string s) => s.Length > 240 ? s[..240] + "…" : s;
}
