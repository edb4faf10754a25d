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

    /// <summary>Posts a streaming request and measures it. Never throws except for the caller's cancellation.</summary>
    public async Task<StreamResult> StreamAsync(string path, byte[] body, CancellationToken ct)
    {
        var r = new StreamResult { Start = Stopwatch.GetTimestamp() };
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
            var parser = SseParser.Create(stream, static (_, data) => Chunk.Parse(data));
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
                    r.UsageSeen = true;
                    r.PromptTokens = u.Prompt;
                    r.CompletionTokens = u.Completion;
                    r.CachedTokens = u.Cached;
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

    /// <summary>The facts a benchmark needs from one SSE data payload.</summary>
    private readonly record struct Chunk(bool Done, bool Invalid, bool HasText, bool Finished, (int Prompt, int Completion, int? Cached)? Usage, string? ErrorCode, string? ErrorMessage, double? QueueAndPromptMs = null)
    {
        private static readonly byte[] DoneBytes = "[DONE]"u8.ToArray();

        public static Chunk Parse(ReadOnlySpan<byte> data)
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

                var hasText = false;
                var finished = false;
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

                (int, int, int?)? usage = null;
                if (root.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object)
                {
                    int? cached = u.TryGetProperty("prompt_tokens_details", out var ptd) && ptd.ValueKind == JsonValueKind.Object
                        && ptd.TryGetProperty("cached_tokens", out var ct) && ct.ValueKind == JsonValueKind.Number ? ct.GetInt32() : null;
                    usage = (Int(u, "prompt_tokens"), Int(u, "completion_tokens"), cached);
                }

                double? serverMs = root.TryGetProperty("timings", out var tm) && tm.ValueKind == JsonValueKind.Object
                    && tm.TryGetProperty("prompt_ms", out var pm) && pm.ValueKind == JsonValueKind.Number
                    ? pm.GetDouble() + (tm.TryGetProperty("queue_ms", out var qm) && qm.ValueKind == JsonValueKind.Number ? qm.GetDouble() : 0)
                    : null;
                return new Chunk(false, false, hasText, finished, usage, null, null, serverMs);
            }
            catch (JsonException e)
            {
                return new Chunk(false, true, false, false, null, null, "invalid JSON in a data line: " + e.Message);
            }
        }

        private static bool NonEmpty(JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0;

        private static int Int(JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : 0;
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
