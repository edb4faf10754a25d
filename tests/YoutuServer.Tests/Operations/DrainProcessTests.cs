using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Operations;

/// <summary>
/// `youtu-server serve` as a real process: SIGTERM during a long stream. New requests get 503 while it drains,
/// the stream ends with finish_reason "length" and [DONE] at the drain timeout, the process exits 0. Also checks
/// keys from the CLI and YOUTU_API_KEYS, Kestrel's 413 for a chunked body, the JSON request log, and the OTLP export
/// of spans and metrics (to a loopback receiver).
/// </summary>
public sealed class DrainProcessTests : IAsyncLifetime, IDisposable
{
    private const string CliKey = "sk-drain-cli-key";
    private const string EnvKey = "sk-drain-env-key";
    private const string SecretPrompt = "drain-secret-prompt-7f3a";
    private const int DrainSeconds = 4;

    private readonly ConcurrentQueue<string> stdout = new();
    private readonly ConcurrentQueue<string> stderr = new();
    private readonly HttpClient http = new() { Timeout = TestTimeouts.Request };
    private Process? process;
    private OtlpSink otlp = null!;

    public async Task InitializeAsync() => otlp = await OtlpSink.StartAsync();

    public async Task DisposeAsync() => await otlp.DisposeAsync();

    public void Dispose()
    {
        if (process is { HasExited: false })
        {
            process.Kill(entireProcessTree: true);
        }

        process?.Dispose();
        http.Dispose();
    }

    [Fact]
    public async Task Sigterm_drains_in_flight_streams_refuses_new_requests_and_exits_zero()
    {
        var port = FreePort();
        var baseUrl = $"http://127.0.0.1:{port}";
        process = Start(port);
        await WaitReadyAsync(baseUrl);

        // Keys: from --api-key and from YOUTU_API_KEYS; none = 401.
        using (var res = await http.GetAsync(baseUrl + "/v1/models"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, res.StatusCode);
        }

        using (var res = await http.SendAsync(WithKey(new HttpRequestMessage(HttpMethod.Get, baseUrl + "/v1/models"), EnvKey, bearer: false)))
        {
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        }

        // Kestrel's own limit on a chunked body (no Content-Length to refuse early): still an OpenAI-shaped 413.
        using (var res = await http.SendAsync(WithKey(new HttpRequestMessage(HttpMethod.Post, baseUrl + "/v1/chat/completions")
        {
            Content = new ChunkedContent(Encoding.UTF8.GetBytes("{\"messages\":[{\"role\":\"user\",\"content\":\"" + new string('y', 100_000) + "\"}]}")),
        }, CliKey)))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, res.StatusCode);
            Assert.Equal("request_too_large", JsonNode.Parse(await res.Content.ReadAsStringAsync())!["error"]!["code"]!.GetValue<string>());
        }

        // A long stream: it cannot finish within the drain timeout.
        var streamRequest = WithKey(new HttpRequestMessage(HttpMethod.Post, baseUrl + "/v1/chat/completions")
        {
            Content = Json($$$"""{"messages":[{"role":"user","content":"{{{SecretPrompt}}}"}],"max_tokens":3000,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}"""),
        }, CliKey);
        streamRequest.Headers.Add("x-request-id", "drain-stream-1");
        using var stream = await http.SendAsync(streamRequest, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        var data = new List<string>();
        while (data.Count < 3)
        {
            var line = await reader.ReadLineAsync() ?? throw new InvalidOperationException("stream ended before the drain");
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data.Add(line[6..]);
            }
        }

        Signal(process.Id, "TERM");

        // Draining: still listening, not ready, refusing completions with 503 + Retry-After.
        var sawNotReady = false;
        for (var i = 0; i < 40 && !sawNotReady; i++)
        {
            using var ready = await http.GetAsync(baseUrl + "/health/ready");
            sawNotReady = ready.StatusCode == HttpStatusCode.ServiceUnavailable;
            if (!sawNotReady)
            {
                await Task.Delay(25);
            }
        }

        Assert.True(sawNotReady, "/health/ready did not turn 503 after SIGTERM");
        using (var live = await http.GetAsync(baseUrl + "/health/live"))
        {
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        }

        using (var refused = await http.SendAsync(WithKey(new HttpRequestMessage(HttpMethod.Post, baseUrl + "/v1/chat/completions")
        {
            Content = Json("""{"messages":[{"role":"user","content":"late"}],"max_tokens":4}"""),
        }, CliKey)))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.True(int.Parse(refused.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture) > 0);
            var error = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["error"]!;
            Assert.Equal("shutting_down", error["code"]!.GetValue<string>());
        }

        // The stream goes on until the drain timeout, then ends properly.
        var drainStart = Stopwatch.StartNew();
        string? lineRead;
        while ((lineRead = await reader.ReadLineAsync()) is not null)
        {
            if (lineRead.StartsWith("data: ", StringComparison.Ordinal))
            {
                data.Add(lineRead[6..]);
            }
        }

        Assert.Equal("[DONE]", data[^1]);
        var chunks = data[..^1].Select(d => JsonNode.Parse(d)!).ToList();
        var finish = chunks.Where(c => c["choices"]!.AsArray().Count > 0 && c["choices"]![0]!["finish_reason"] is not null).ToList();
        Assert.Equal("length", Assert.Single(finish)["choices"]![0]!["finish_reason"]!.GetValue<string>());
        var usage = chunks[^1]["usage"]!;
        Assert.InRange(usage["completion_tokens"]!.GetValue<int>(), 1, 2999);
        Assert.True(drainStart.Elapsed < TimeSpan.FromSeconds(DrainSeconds) + TestTimeouts.Seconds(10), $"stream ended {drainStart.Elapsed} after the drain began");

        Assert.True(process.WaitForExit(TestTimeouts.Seconds(30)), "the server did not exit after the drain");
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}\n{Logs()}");

        // One JSON log line per request, with the numbers; the prompt and the keys never appear.
        var log = Logs();
        Assert.DoesNotContain(SecretPrompt, log, StringComparison.Ordinal);
        Assert.DoesNotContain(CliKey, log, StringComparison.Ordinal);
        Assert.DoesNotContain(EnvKey, log, StringComparison.Ordinal);
        var events = stdout.Where(l => l.StartsWith('{')).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        var streamLine = Assert.Single(events, e => e["RequestId"]?.GetValue<string>() == "drain-stream-1");
        Assert.Equal(200, streamLine["Status"]!.GetValue<int>());
        Assert.Equal("/v1/chat/completions", streamLine["Path"]!.GetValue<string>());
        Assert.Equal(usage["completion_tokens"]!.GetValue<int>(), streamLine["CompletionTokens"]!.GetValue<int>());
        Assert.Equal(usage["prompt_tokens"]!.GetValue<int>(), streamLine["PromptTokens"]!.GetValue<int>());
        Assert.NotNull(streamLine["CachedTokens"]);
        Assert.True(streamLine["TtftMs"]!.GetValue<double>() > 0);
        Assert.True(streamLine["DurationMs"]!.GetValue<double>() > 0);
        Assert.StartsWith("key:", streamLine["KeyId"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains(events, e => e["@mt"]?.GetValue<string>()?.Contains("Drain timeout", StringComparison.Ordinal) == true
            || e["@m"]?.GetValue<string>()?.Contains("Drain timeout", StringComparison.Ordinal) == true);
        Assert.Contains(events, e => e["Status"]?.GetValue<int>() == 503 && e["Rejection"]?.GetValue<string>() == "shutting_down");

        // OTLP (HTTP/protobuf; flushed at shutdown): the request span with its scheduler events, and the meter.
        var traces = otlp.Received("traces");
        foreach (var name in new[] { "chat.completions", "admitted", "first_token", "choice_finished", "finished", "drain-stream-1" })
        {
            Assert.Contains(name, traces, StringComparison.Ordinal);
        }

        var metrics = otlp.Received("metrics");
        foreach (var name in new[] { "youtu.queue_depth", "youtu.time_to_first_token", "youtu.requests", "youtu.rejections" })
        {
            Assert.Contains(name, metrics, StringComparison.Ordinal);
        }
    }

    private Process Start(int port)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "youtu-server.dll");
        Assert.True(File.Exists(dll), $"{dll} not found beside the test assembly");
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var arg in new[]
        {
            dll, "serve", "--model", OpsTinyModel.File, "--model-alias", "drain-tiny", "--host", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--parallel", "2", "--ctx-size", "4096", "--threads", "2", "--drain-timeout", DrainSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--max-body-bytes", "65536", "--api-key", CliKey, "--log-json", "--otlp-endpoint", otlp.Url,
        })
        {
            psi.ArgumentList.Add(arg);
        }

        foreach (var name in psi.Environment.Keys.Where(k => k.StartsWith("YOUTU", StringComparison.OrdinalIgnoreCase) || k.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase) || k.StartsWith("OTEL_", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            psi.Environment.Remove(name);
        }

        psi.Environment["YOUTU_API_KEYS"] = "sk-unused-one," + EnvKey;
        psi.Environment["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
        psi.Environment["OTEL_METRIC_EXPORT_INTERVAL"] = "500";
        var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                stdout.Enqueue(e.Data);
            }
        };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                stderr.Enqueue(e.Data);
            }
        };
        Assert.True(p.Start());
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private async Task WaitReadyAsync(string baseUrl)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TestTimeouts.Seconds(90))
        {
            if (process!.HasExited)
            {
                Assert.Fail($"the server exited early ({process.ExitCode}):\n{Logs()}");
            }

            try
            {
                using var res = await http.GetAsync(baseUrl + "/health/ready");
                if (res.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(100);
        }

        Assert.Fail($"the server did not become ready:\n{Logs()}");
    }

    private string Logs() => string.Join('\n', stdout) + "\n--- stderr ---\n" + string.Join('\n', stderr);

    private static HttpRequestMessage WithKey(HttpRequestMessage request, string key, bool bearer = true)
    {
        if (bearer)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        else
        {
            request.Headers.Add("x-api-key", key);
        }

        return request;
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>`kill -SIG pid` (Process.Kill would be SIGKILL).</summary>
    private static void Signal(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>A body sent with Transfer-Encoding: chunked (no Content-Length).</summary>
    private sealed class ChunkedContent : HttpContent
    {
        private readonly byte[] bytes;

        public ChunkedContent(byte[] bytes)
        {
            this.bytes = bytes;
            Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (var i = 0; i < bytes.Length; i += 8192)
            {
                await stream.WriteAsync(bytes.AsMemory(i, Math.Min(8192, bytes.Length - i)));
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }

    /// <summary>An OTLP/HTTP receiver on 127.0.0.1:0 that keeps every export body (protobuf; names are plain UTF-8 in it).</summary>
    private sealed class OtlpSink : IAsyncDisposable
    {
        private readonly WebApplication app;
        private readonly ConcurrentQueue<(string Signal, byte[] Body)> bodies = new();

        private OtlpSink(WebApplication app) => this.app = app;

        public string Url { get; private set; } = "";

        public static async Task<OtlpSink> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            var sink = new OtlpSink(app);
            app.MapPost("/v1/{signal}", async (string signal, HttpContext http) =>
            {
                using var copy = new MemoryStream();
                await http.Request.Body.CopyToAsync(copy);
                sink.bodies.Enqueue((signal, copy.ToArray()));
                http.Response.ContentType = "application/x-protobuf";
            });
            await app.StartAsync();
            sink.Url = app.Urls.Single() + "/";
            return sink;
        }

        public string Received(string signal) => string.Join('\n', bodies.Where(b => b.Signal == signal).Select(b => Encoding.UTF8.GetString(b.Body)));

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
