using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using YoutuServer.Operations;
using YoutuServer.Tests.Api;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Operations;

/// <summary>/metrics after a few requests, the request span and its events, on the shared open server (no keys).</summary>
[Collection("server")]
public sealed partial class MetricsTests(ServerFixture server)
{
    private static StringContent Chat(string extra = "") => new(
        $$"""{"model":"{{ServerFixture.ModelId}}","messages":[{"role":"user","content":"Count with me"}],"max_tokens":6,"ignore_eos":true,"enable_thinking":false{{extra}}}""",
        Encoding.UTF8, "application/json");

    [Fact]
    public async Task Metrics_are_open_without_keys_and_report_requests_latency_tokens_and_the_engine()
    {
        using var client = server.CreateClient();
        for (var i = 0; i < 2; i++)
        {
            using var res = await client.PostAsync("/v1/chat/completions", Chat());
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        }

        using (var res = await client.PostAsync("/v1/chat/completions", Chat(""","stream":true,"stream_options":{"include_usage":true}""")))
        {
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
            Assert.EndsWith("data: [DONE]", (await res.Content.ReadAsStringAsync()).TrimEnd(), StringComparison.Ordinal);
        }

        using (var res = await client.PostAsync("/v1/chat/completions", new StringContent(
            $$"""{"messages":[{"role":"user","content":"Hi"}],"max_tokens":100000}""", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        }

        using var scrape = await client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, scrape.StatusCode);
        Assert.Equal("text/plain", scrape.Content.Headers.ContentType?.MediaType);
        var text = await scrape.Content.ReadAsStringAsync();
        var model = $"model=\"{ServerFixture.ModelId}\"";

        // KEDA and the Prometheus adapter in deploy/ query exactly this name.
        Assert.Contains("# TYPE youtu_queue_depth gauge", text, StringComparison.Ordinal);
        Assert.InRange(Value(text, "youtu_queue_depth", model), 0, 16);
        Assert.InRange(Value(text, "youtu_active_sequences", model), 0, 4);
        Assert.True(Value(text, "youtu_kv_cells_total", model) >= 4096);
        Assert.True(Value(text, "youtu_kv_cells_used", model) >= 0);
        // What runs where: layers on a GPU (0 here, no GPU) tagged with the backend the weights run on.
        Assert.Equal(0, Value(text, "youtu_gpu_layers", model, "backend=\"CPU"));
        var health = System.Text.Json.Nodes.JsonNode.Parse(await client.GetStringAsync("/health"))!;
        Assert.StartsWith("CPU", health["backend"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(0, health["gpu_layers"]!.GetValue<int>());

        Assert.Contains("# TYPE youtu_requests_total counter", text, StringComparison.Ordinal);
        Assert.True(Value(text, "youtu_requests_total", "route=\"/v1/chat/completions\"", "status=\"200\"") >= 3);
        Assert.True(Value(text, "youtu_request_duration_seconds_count", "route=\"/v1/chat/completions\"", "status=\"200\"") >= 3);

        Assert.Contains("# TYPE youtu_time_to_first_token_seconds histogram", text, StringComparison.Ordinal);
        Assert.True(Value(text, "youtu_time_to_first_token_seconds_count", model) >= 3);
        Assert.True(Value(text, "youtu_time_to_first_token_seconds_bucket", model, "le=\"+Inf\"") >= 3);
        Assert.True(Value(text, "youtu_time_to_first_token_seconds_sum", model) > 0);
        Assert.True(Value(text, "youtu_time_per_output_token_seconds_count", model) >= 3);

        Assert.True(Value(text, "youtu_prompt_tokens_total", model) > 0);
        Assert.True(Value(text, "youtu_generation_tokens_total", model) >= 18);
        // The same prompt three times: the prefix cache served part of it at least once.
        Assert.True(Value(text, "youtu_prefix_cache_hit_tokens_total", model) > 0);
        Assert.True(Value(text, "youtu_rejections_total", "reason=\"context_length_exceeded\"") >= 1);

        // The engine loop: every generated token came out of a step, and the steps' time is split by phase.
        Assert.Contains("# TYPE youtu_engine_steps_total counter", text, StringComparison.Ordinal);
        var generated = Value(text, "youtu_engine_tokens_total", model, "kind=\"generated\"");
        Assert.True(generated >= 18, $"generated {generated}");
        Assert.True(Value(text, "youtu_engine_tokens_total", model, "kind=\"prompt\"") > 0);
        Assert.True(Value(text, "youtu_engine_steps_total", model) >= 6);
        Assert.True(Value(text, "youtu_engine_time_seconds_total", model, "phase=\"decode\"") > 0);
        Assert.True(Value(text, "youtu_engine_time_seconds_total", model, "phase=\"sample\"") >= 0);
    }

    [Fact]
    public async Task A_completion_gets_a_span_with_scheduler_events()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == RequestTrace.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);

        using var client = server.CreateClient();
        var id = "span-test-" + Guid.NewGuid().ToString("N");
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Chat(""","stream":true""") };
        request.Headers.Add("x-request-id", id);
        using var res = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        Assert.Equal(id, res.Headers.GetValues("x-request-id").Single());
        _ = await res.Content.ReadAsStringAsync();

        Activity? span = null;
        var deadline = DateTime.UtcNow + TestTimeouts.Seconds(10); // the span stops after the response body ends
        while (span is null && DateTime.UtcNow < deadline)
        {
            span = stopped.FirstOrDefault(a => (a.GetTagItem("youtu.request_id") as string) == id);
            if (span is null)
            {
                await Task.Delay(20);
            }
        }

        Assert.NotNull(span);
        Assert.Equal("chat.completions", span.OperationName);
        var events = span.Events.Select(e => e.Name).ToList();
        Assert.Equal(["admitted", "first_token", "choice_finished", "finished"], events);
        Assert.Equal(ServerFixture.ModelId, span.GetTagItem("gen_ai.request.model"));
        Assert.Equal(6, span.GetTagItem("gen_ai.usage.output_tokens"));
        Assert.Equal(200, span.GetTagItem("http.response.status_code"));
        Assert.Equal("length", span.Events.Single(e => e.Name == "choice_finished").Tags.Single(t => t.Key == "finish_reason").Value);
    }

    /// <summary>The value of the one sample of <paramref name="name"/> whose labels contain every given pair.</summary>
    private static double Value(string text, string name, params string[] labels)
    {
        var samples = text.Split('\n')
            .Where(l => l.StartsWith(name + "{", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal))
            .Where(l => labels.All(p => l.Contains(p, StringComparison.Ordinal)))
            .ToList();
        Assert.True(samples.Count > 0, $"no sample of {name} with {string.Join(", ", labels)} in:\n{text}");
        // Several hosts may share the process (one static meter): sum their series.
        return samples.Sum(l => double.Parse(SampleValue().Match(l).Groups[1].Value, CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"\}?\s([-+0-9.eE]+|NaN|\+Inf)(\s\d+)?\s*$")]
    private static partial Regex SampleValue();
}
