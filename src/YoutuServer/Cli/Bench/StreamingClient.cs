using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;

namespace YoutuServer.Cli.Bench;

/// <summary>What one streamed request measured. Times are Stopwatch timestamps.</summary>
internal sealed class StreamResult
{
    public long Start { get; set; }
    public long End { get; set; }
    /// <summary>Arrival of each chunk that carried text (or tool-call arguments).</summary>
    public List<long> TokenChunks { get; } = [];
    /// <summary>Arrival of the last chunk with text or a finish_reason.</summary>
    public long LastChunk { get; set; }
    public int CompletionTokens { get; set; }
    public int PromptTokens { get; set; }
    public int? CachedTokens { get; set; }
    public bool UsageSeen { get; set; }
    /// <summary>The server's own queue + prompt-evaluation time (llama-server-style "timings"), when it sends one.</summary>
    public double? ServerQueueAndPromptMs { get; set; }
    /// <summary>The server's "timings": prompt tokens reused (cache_n) and evaluated (prompt_n), when it sends them.</summary>
    public int? ServerCacheN { get; set; }
    public int? ServerPromptN { get; set; }
    /// <summary>The server's "timings": prompt tokens restored from a saved state (restored_n) and how long that took.</summary>
    public int? ServerRestoredN { get; set; }
    public double? ServerRestoreMs { get; set; }
    /// <summary>The answer's text (not its reasoning), when the request asked for it to be collected.</summary>
    public StringBuilder? Text { get; set; }
    public bool Done { get; set; }
    /// <summary>Null when the request succeeded; else a short type ("http_429:queue_full", "stream_error:..", "timeout", ...).</summary>
    public string? Error { get; set; }
    public string? ErrorDetail { get; set; }
    /// <summary>Tries that failed before any response byte and were sent again.</summary>
    public int Retries { get; set; }

    public bool Ok => Error is null;
    public bool HasTokens => TokenChunks.Count > 0;
    public double TtftMs => HasTokens ? Ms(Start, TokenChunks[0]) : double.NaN;
    public double LatencyMs => Ms(Start, End);
    /// <summary>Generated tokens: usage when the server sent it, else text chunks.</summary>
    public int OutputTokens => UsageSeen ? CompletionTokens : TokenChunks.Count;

    /// <summary>vLLM's definition: (latency - TTFT) / (output tokens - 1).</summary>
    public double TpotMs => OutputTokens > 1 && HasTokens ? (LatencyMs - TtftMs) / (OutputTokens - 1) : double.NaN;

    public IEnumerable<double> ItlMs()
    {
        for (var i = 1; i < TokenChunks.Count; i++)
        {
            yield return Ms(TokenChunks[i - 1], TokenChunks[i]);
        }
    }

    /// <summary>Output tokens per text chunk (above 1 when a chunk carries a character spanning tokens).</summary>
    public double TokensPerChunk => TokenChunks.Count == 0 ? 1.0 : Math.Max(1.0, OutputTokens / (double)TokenChunks.Count);

    /// <summary>
    /// Decode rate of this stream: tokens that arrived after the first chunk, over the time from the first to the
    /// last chunk. Chunks that arrived with the first one (one network read) are left out of the count, so a
    /// server that writes several tokens per flush is not credited with tokens it produced before the window.
    /// </summary>
    public double DecodeTokensPerSecond => HasTokens && LastChunk > TokenChunks[0] && OutputTokens > 1 && TokensAfter(TokenChunks[0]) > 0
        ? TokensAfter(TokenChunks[0]) / Stopwatch.GetElapsedTime(TokenChunks[0], LastChunk).TotalSeconds
        : double.NaN; // NaN: everything arrived in one read, no window to measure

    /// <summary>Tokens of the text chunks that arrived in (from, to], chunks of one read (within 50 µs of from) excluded.</summary>
    public double TokensAfter(long from, long to = long.MaxValue)
    {
        var burst = from + Stopwatch.Frequency / 20_000;
        return TokenChunks.Count(t => t > burst && t <= to) * TokensPerChunk;
    }

    public static double Ms(long a, long b) => Stopwatch.GetElapsedTime(a, b).TotalMilliseconds;
}

/// <summary>
/// An OpenAI streaming client for benchmarks: posts a body, reads the SSE stream with
/// System.Net.ServerSentEvents.SseParser and time-stamps every chunk as it is parsed.
/// </summary>
internal sealed class StreamingClient : IDisposable
{
    private readonly HttpClient http;
    /// <summary>For retries: never reuses a connection, so a retry cannot land on another connection about to close.</summary>
    private readonly HttpClient freshConnections;
    private readonly Uri baseUri;
    private readonly string? apiKey;
    private readonly TimeSpan timeout;

    public StreamingClient(Uri baseUri, string? apiKey, TimeSpan timeout)
    {
        this.baseUri = baseUri;
        this.apiKey = apiKey;
        this.timeout = timeout;
        http = NewClient(reuseConnections: true);
        freshConnections = NewClient(reuseConnections: false);
    }

    private static HttpClient NewClient(bool reuseConnections) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = int.MaxValue,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        // Zero: every request on a new connection, closed after its response.
        PooledConnectionLifetime = reuseConnections ? Timeout.InfiniteTimeSpan : TimeSpan.Zero,
        // Never wait to drain an abandoned stream: a cancelled stream closes its connection at once.
        MaxResponseDrainSize = 0,
        AutomaticDecompression = DecompressionMethods.None,
        UseProxy = false,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public Uri BaseUri => baseUri;

    /// <summary>A server's base URI from what a user gives: http://host:port or http://host:port/v1 (as the SDKs take it).</summary>
    public static Uri BaseUriOf(string url)
    {
        var u = new Uri(url);
        var path = u.AbsolutePath.TrimEnd('/');
        path = path.EndsWith("/v1", StringComparison.Ordinal) ? path[..^3] : path;
        return new Uri(u.GetLeftPart(UriPartial.Authority) + path + "/");
    }

    public void Dispose()
    {
        http.Dispose();
        freshConnections.Dispose();
    }

    public Uri Resolve(string path) => new(baseUri, path.TrimStart('/'));

    public HttpRequestMessage Request(HttpMethod method, string path, byte[]? json = null)
    {
        var req = new HttpRequestMessage(method, Resolve(path));
        if (json is not null)
        {
            req.Content = new ByteArrayContent(json);
            req.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        if (apiKey is not null)
        {
            req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }

        return req;
    }

    /// <summary>GET or POST returning the status and the parsed JSON body (null when not JSON).</summary>
    public async Task<(HttpStatusCode Status, JsonDocument? Body)> JsonAsync(HttpMethod method, string path, byte[]? json, CancellationToken ct)
    {
        using var req = Request(method, path, json);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        using var res = await http.SendAsync(req, cts.Token);
        var bytes = await res.Content.ReadAsByteArrayAsync(cts.Token);
        try
        {
            return (res.StatusCode, JsonDocument.Parse(bytes));
        }
        catch (JsonException)
        {
            return (res.StatusCode, null);
        }
    }

    /// <summary>Connection-level retries of one request (the official SDKs retry connection errors twice).</summary>
    private const int MaxConnectionRetries = 2;

    /// <summary>
    /// Sends the request; when a pooled connection turns out closed before any response byte (llama-server closes the
    /// connection after every streamed response although it answers "Keep-Alive", and the next request can race the
    /// close; when streams end together, so do several pooled connections), sends it again on a new connection, as the
    /// official SDKs do. The time of the failed try stays in the request's latency; <see cref="StreamResult.Retries"/>
    /// counts the retries.
    /// </summary>
    private async Task<HttpResponseMessage> SendWithRetryAsync(string path, byte[] body, StreamResult r, CancellationToken ct)
    {
        while (true)
        {
            using var req = Request(HttpMethod.Post, path, body);
            try
            {
                return await (r.Retries == 0 ? http : freshConnections).SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct);
            }
            catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.ResponseEnded && r.Retries < MaxConnectionRetries)
            {
                r.Retries++;
            }
        }
    }

    /// <summary>
    /// Posts a streaming request and measures it; reads OpenAI chunks (chat, completions) and Anthropic Messages events.
    /// With <paramref name="collectText"/> the answer's text is kept in <see cref="StreamResult.Text"/>. Never throws
    /// except for the caller's cancellation.
    /// </summary>
    public async Task<StreamResult> StreamAsync(string path, byte[] body, CancellationToken ct, bool collectText = false)
    {
        var r = new StreamResult { Start = Stopwatch.GetTimestamp(), Text = collectText ? new StringBuilder() : null };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            using var res = await SendWithRetryAsync(path, body, r, cts.Token);
            if (!res.IsSuccessStatusCode)
            {
                var text = await res.Content.ReadAsStringAsync(cts.Token);
                r.Error = $"http_{(int)res.StatusCode}" + (ErrorCode(text) is { } code ? ":" + code : "");
                r.ErrorDetail = text.Length > 300 ? text[..300] : text;
                return r;
            }

            await using var stream = await res.Content.ReadAsStreamAsync(cts.Token);
            var parser = SseParser.Create(stream, (_, data) => Chunk.Parse(data, collectText));
            await foreach (var item in parser.EnumerateAsync(cts.Token))
            {
                var now = Stopwatch.GetTimestamp();
                var c = item.Data;
                if (c.Done)
                {
                    r.Done = true;
                    break;
                }

                if (c.Invalid)
                {
                    r.Error ??= "invalid_chunk";
                    r.ErrorDetail ??= c.ErrorMessage;
                    continue;
                }

                if (c.ErrorCode is not null)
                {
                    r.Error ??= "stream_error:" + c.ErrorCode;
                    r.ErrorDetail ??= c.ErrorMessage;
                    continue;
                }

                if (c.HasText)
                {
                    r.TokenChunks.Add(now);
                }

                if (c.Text is { } piece)
                {
                    r.Text?.Append(piece);
                }

                if (c.HasText || c.Finished)
                {
                    r.LastChunk = now;
                }

                if (c.QueueAndPromptMs is { } sm)
                {
                    r.ServerQueueAndPromptMs = sm;
                }

                if (c.Usage is { } u)
                {
                    // Anthropic streams split usage: message_start (prompt, cached), message_delta (output, and with
                    // some servers the prompt again). A field a chunk leaves out keeps its earlier value.
                    r.UsageSeen = true;
                    r.PromptTokens = u.Prompt ?? r.PromptTokens;
                    r.CompletionTokens = u.Completion ?? r.CompletionTokens;
                    r.CachedTokens = u.Cached ?? r.CachedTokens;
                }

                if (c.Timings is { } tm)
                {
                    r.ServerCacheN = tm.CacheN ?? r.ServerCacheN;
                    r.ServerPromptN = tm.PromptN ?? r.ServerPromptN;
                    r.ServerRestoredN = tm.RestoredN ?? r.ServerRestoredN;
                    r.ServerRestoreMs = tm.RestoreMs ?? r.ServerRestoreMs;
                }

                if (c.Stop)
                {
                    // Anthropic's message_stop: the stream has no [DONE].
                    r.Done = true;
                    break;
                }
            }

            if (!r.Done)
            {
                r.Error ??= "stream_truncated";
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            r.Error = "timeout";
        }
        catch (HttpRequestException e)
        {
            r.Error = e.HttpRequestError == HttpRequestError.ConnectionError ? "connection_error" : "http_error:" + e.HttpRequestError;
            r.ErrorDetail = e.Message;
        }
        catch (IOException e)
        {
            r.Error = "io_error";
            r.ErrorDetail = e.Message;
        }

        r.End = Stopwatch.GetTimestamp();
        if (r.LastChunk == 0)
        {
            r.LastChunk = r.End;
        }

        return r;
    }

    private static string? ErrorCode(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out var e))
            {
                if (e.ValueKind == JsonValueKind.Object)
                {
                    foreach (var k in new[] { "code", "type" })
                    {
                        if (e.TryGetProperty(k, out var v) && v.ValueKind is JsonValueKind.String or JsonValueKind.Number)
                        {
                            return v.ToString();
                        }
                    }
                }
                else if (e.ValueKind == JsonValueKind.String)
                {
                    return "error";
                }
            }
        }
        catch (JsonException)
        {
        }

        return null;
    }

    /// <summary>The server's per-request timings (llama-server's names; restored_n / restore_ms are youtu-server's).</summary>
    private readonly record struct ServerTimings(int? CacheN, int? PromptN, int? RestoredN, double? RestoreMs);

    /// <summary>The facts a benchmark needs from one SSE data payload.</summary>
    private readonly record struct Chunk(bool Done, bool Invalid, bool HasText, bool Finished, (int? Prompt, int? Completion, int? Cached)? Usage, string? ErrorCode, string? ErrorMessage, double? QueueAndPromptMs = null)
    {
        private static readonly byte[] DoneBytes = "[DONE]"u8.ToArray();

        /// <summary>The answer's text in this chunk (collected only when asked for).</summary>
        public string? Text { get; init; }

        public ServerTimings? Timings { get; init; }

        /// <summary>Anthropic's message_stop.</summary>
        public bool Stop { get; init; }

        public static Chunk Parse(ReadOnlySpan<byte> data, bool collectText = false)
        {
            if (data.SequenceEqual(DoneBytes))
            {
                return new Chunk(true, false, false, false, null, null, null);
            }

            try
            {
                var reader = new Utf8JsonReader(data);
                using var doc = JsonDocument.ParseValue(ref reader);
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                {
                    return new Chunk(false, true, false, false, null, null, "data is not a JSON object");
                }

                if (root.TryGetProperty("error", out var err))
                {
                    var code = err.ValueKind == JsonValueKind.Object
                        ? (err.TryGetProperty("code", out var c) && c.ValueKind != JsonValueKind.Null ? c.ToString() : err.TryGetProperty("type", out var t) ? t.ToString() : "error")
                        : "error";
                    var msg = err.ValueKind == JsonValueKind.Object && err.TryGetProperty("message", out var m) ? m.ToString() : err.ToString();
                    return new Chunk(false, false, false, false, null, code, msg);
                }

                if (root.TryGetProperty("type", out var eventType) && eventType.ValueKind == JsonValueKind.String)
                {
                    return ParseAnthropic(root, eventType.GetString()!, collectText);
                }

                var hasText = false;
                var finished = false;
                string? text = null;
                if (root.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array)
                {
                    foreach (var ch in choices.EnumerateArray())
                    {
                        if (ch.TryGetProperty("finish_reason", out var fr) && fr.ValueKind == JsonValueKind.String)
                        {
                            finished = true;
                        }

                        hasText |= NonEmpty(ch, "text");
                        if (ch.TryGetProperty("delta", out var d) && d.ValueKind == JsonValueKind.Object)
                        {
                            hasText |= NonEmpty(d, "content") || NonEmpty(d, "reasoning_content") || NonEmpty(d, "reasoning");
                            if (collectText && d.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
                            {
                                text += content.GetString();
                            }
                            if (d.TryGetProperty("tool_calls", out var tc) && tc.ValueKind == JsonValueKind.Array)
                            {
                                foreach (var call in tc.EnumerateArray())
                                {
                                    hasText |= call.TryGetProperty("function", out var f) && f.ValueKind == JsonValueKind.Object && (NonEmpty(f, "arguments") || NonEmpty(f, "name"));
                                }
                            }
                        }
                    }
                }

                (int?, int?, int?)? usage = null;
                if (root.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object)
                {
                    int? cached = u.TryGetProperty("prompt_tokens_details", out var ptd) && ptd.ValueKind == JsonValueKind.Object
                        && ptd.TryGetProperty("cached_tokens", out var ct) && ct.ValueKind == JsonValueKind.Number ? ct.GetInt32() : null;
                    usage = (Int(u, "prompt_tokens"), Int(u, "completion_tokens"), cached);
                }

                var (serverMs, timings) = ParseTimings(root);
                return new Chunk(false, false, hasText, finished, usage, null, null, serverMs) { Text = text, Timings = timings };
            }
            catch (JsonException e)
            {
                return new Chunk(false, true, false, false, null, null, "invalid JSON in a data line: " + e.Message);
            }
        }

        /// <summary>An Anthropic Messages event (message_start, content_block_delta, message_delta, message_stop, ping).</summary>
        private static Chunk ParseAnthropic(JsonElement root, string type, bool collectText)
        {
            switch (type)
            {
                case "message_start":
                {
                    var usage = root.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.Object ? AnthropicUsage(m) : null;
                    return new Chunk(false, false, false, false, usage, null, null);
                }

                case "content_block_delta":
                {
                    if (!root.TryGetProperty("delta", out var d) || d.ValueKind != JsonValueKind.Object)
                    {
                        return new Chunk(false, true, false, false, null, null, "content_block_delta without a delta");
                    }

                    var hasText = NonEmpty(d, "text") || NonEmpty(d, "thinking") || NonEmpty(d, "partial_json");
                    var text = collectText && d.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                    return new Chunk(false, false, hasText, false, null, null, null) { Text = text };
                }

                case "message_delta":
                    return new Chunk(false, false, false, true, AnthropicUsage(root), null, null);
                case "message_stop":
                    return new Chunk(false, false, false, false, null, null, null) { Stop = true };
                default:
                    return new Chunk(false, false, false, false, null, null, null);
            }
        }

        /// <summary>usage of an Anthropic message: prompt = input_tokens + cache_read_input_tokens (when both are given).</summary>
        private static (int?, int?, int?)? AnthropicUsage(JsonElement holder)
        {
            if (!holder.TryGetProperty("usage", out var u) || u.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            int? Opt(string name) => u.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : null;
            var input = Opt("input_tokens");
            var cached = input is null ? null : Opt("cache_read_input_tokens");
            return (input + (cached ?? 0), Opt("output_tokens"), cached);
        }

        private static (double? QueueAndPromptMs, ServerTimings? Timings) ParseTimings(JsonElement root)
        {
            if (!root.TryGetProperty("timings", out var tm) || tm.ValueKind != JsonValueKind.Object)
            {
                return (null, null);
            }

            double? D(string name) => tm.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
            int? I(string name) => tm.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : null;
            var serverMs = D("prompt_ms") is { } pm ? pm + (D("queue_ms") ?? 0) : (double?)null;
            return (serverMs, new ServerTimings(I("cache_n"), I("prompt_n"), I("restored_n"), D("restore_ms")));
        }

        private static bool NonEmpty(JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0;

        private static int? Int(JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : null;
    }
}

/// <summary>Request bodies of the benchmark (OpenAI fields plus vLLM/llama.cpp's ignore_eos and min_tokens).</summary>
internal static class BenchBodies
{
    public static byte[] Build(string endpoint, string model, BenchPrompt prompt, int maxTokens, int seed, double temperature, bool fixedLength = true)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("model", model);
            if (endpoint == "chat")
            {
                w.WriteStartArray("messages");
                w.WriteStartObject();
                w.WriteString("role", "user");
                w.WriteString("content", prompt.Text ?? throw new InvalidOperationException("chat prompts are text"));
                w.WriteEndObject();
                w.WriteEndArray();
            }
            else if (prompt.Tokens is { } ids)
            {
                w.WriteStartArray("prompt");
                foreach (var t in ids)
                {
                    w.WriteNumberValue(t);
                }

                w.WriteEndArray();
            }
            else
            {
                w.WriteString("prompt", prompt.Text);
            }

            w.WriteNumber("max_tokens", maxTokens);
            if (fixedLength)
            {
                w.WriteNumber("min_tokens", maxTokens);
                w.WriteBoolean("ignore_eos", true);
            }

            if (!double.IsNaN(temperature))
            {
                w.WriteNumber("temperature", temperature);
            }

            w.WriteNumber("seed", seed);
            w.WriteBoolean("stream", true);
            w.WriteStartObject("stream_options");
            w.WriteBoolean("include_usage", true);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return ms.ToArray();
    }

    public static string Path(string endpoint) => endpoint == "chat" ? "/v1/chat/completions" : "/v1/completions";

    public static string Describe(BenchPrompt p) => p.Tokens is { } t ? $"{t.Length} token ids" : $"{Encoding.UTF8.GetByteCount(p.Text!)} bytes of text";
}
