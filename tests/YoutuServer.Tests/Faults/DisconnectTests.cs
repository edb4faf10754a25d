using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Tests.Load;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Faults;

/// <summary>One real-socket server with a single slot and a tiny batch, so prompts take many steps.</summary>
public sealed class OneSlotServer : IAsyncLifetime
{
    internal LiveServer Server { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Server = await LiveServer.StartAsync("--parallel", "1", "--batch-size", "16", "--ctx-size", "4096", "--queue-size", "4");

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// A client that goes away — while its prompt is evaluated, while it streams, while it waits in the queue, or while
/// it waits for a non-streamed answer — gets its sequence dropped at the engine's next step: the slot and its KV
/// cells are free (checked in-process and through /health/ready), and the step counter proves it took at most the
/// step in flight plus one.
/// </summary>
public sealed class DisconnectTests(OneSlotServer fixture, ITestOutputHelper output) : IClassFixture<OneSlotServer>
{
    private LiveServer S => fixture.Server;

    private static HttpRequestMessage Post(string path, string json)
    {
        var req = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8) };
        req.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return req;
    }

    private static string LongChat(int maxTokens, string content = "Tell me a long story") =>
        JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["messages"] = new[] { new Dictionary<string, string> { ["role"] = "user", ["content"] = content } },
            ["max_tokens"] = maxTokens,
            ["ignore_eos"] = true,
            ["enable_thinking"] = false,
            ["stream"] = true,
            ["seed"] = 1,
        });

    /// <summary>
    /// The first stats snapshot (the loop publishes one per step) that satisfies the condition, watched by a
    /// spinning thread so that no step's snapshot is missed even when the thread pool is slow.
    /// </summary>
    private Task<EngineStats> WaitForAsync(Func<EngineStats, bool> condition, string what, double seconds = 10) =>
        Watch(condition, what, seconds, null);

    /// <summary>Starts a watcher and returns once its thread is spinning (so it is there before the abort).</summary>
    private async Task<Task<EngineStats>> StartWatchAsync(Func<EngineStats, bool> condition, string what, double seconds = 5)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var watch = Watch(condition, what, seconds, started);
        await started.Task;
        return watch;
    }

    private Task<EngineStats> Watch(Func<EngineStats, bool> condition, string what, double seconds, TaskCompletionSource? started) =>
        Task.Factory.StartNew(() =>
        {
            var sw = Stopwatch.StartNew();
            var bound = TestTimeouts.Seconds(seconds);
            var previous = S.Stats;
            started?.TrySetResult();
            while (sw.Elapsed < bound)
            {
                var s = S.Stats;
                if (condition(s))
                {
                    satisfiedAt.Value = Stopwatch.GetTimestamp();
                    // Steps the watcher did not see (descheduled): 1 means it saw every snapshot.
                    watcherGap.Value = s.Steps - previous.Steps;
                    return s;
                }

                previous = s;
                Thread.SpinWait(20);
            }

            throw new TimeoutException($"{what}: not reached in {bound.TotalSeconds:F0} s; stats now {S.Stats}");
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>No request in flight; with <paramref name="noKv"/>, no KV cell held either (one slot: a cancelled
    /// sequence leaves nothing, a completed one stays as the prefix cache).</summary>
    private async Task AssertIdleAsync(bool noKv = true)
    {
        var stats = await WaitForAsync(s => s.ActiveSequences == 0 && s.QueueDepth == 0 && (!noKv || s.KvCellsUsed == 0), noKv ? "idle with no KV cells" : "idle", 5);
        Assert.Equal(0, stats.ActiveRequests);
        var (status, active, queue) = await S.ReadyAsync();
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(0, active);
        Assert.Equal(0, queue);
    }

    private readonly StrongBox<long> abortedAt = new();
    private readonly StrongBox<long> satisfiedAt = new();
    private readonly StrongBox<long> watcherGap = new();

    /// <summary>From the server seeing the abort to the watcher seeing the sequence (or queue entry) gone.</summary>
    private TimeSpan AbortToFree => Stopwatch.GetElapsedTime(abortedAt.Value, satisfiedAt.Value);

    /// <summary>
    /// The loop drops a cancelled job at the start of the step after the abort (the step in flight may finish
    /// first): at most 2 steps. The watcher may have been descheduled, so the drop happened somewhere after the
    /// last snapshot it saw; the earliest such step is the one compared.
    /// </summary>
    private void AssertWithinOneStep(EngineStats atAbort, EngineStats seen, string what)
    {
        var earliest = seen.Steps - watcherGap.Value + 1;
        output.WriteLine($"{what} {AbortToFree.TotalMilliseconds:F1} ms after the server saw the abort; first snapshot showing it: step +{seen.Steps - atAbort.Steps}, the watcher's previous one: step +{seen.Steps - watcherGap.Value - atAbort.Steps}");
        Assert.True(earliest - atAbort.Steps <= 2, $"{what} no earlier than step +{earliest - atAbort.Steps} after the abort (the watcher saw every step up to then)");
    }

    /// <summary>
    /// Watches for <paramref name="condition"/>, runs the client's <paramref name="abort"/>, and asserts the server got
    /// there within one step of seeing the abort (<see cref="CaptureAbort"/>); the first snapshot showing it.
    /// </summary>
    private async Task<EngineStats> AbortWithinOneStepAsync(TaskCompletionSource<EngineStats> aborted, Func<EngineStats, bool> condition, string what, Func<Task> abort)
    {
        var watch = await StartWatchAsync(condition, what);
        await abort();
        var atAbort = await aborted.Task.WaitAsync(TestTimeouts.Seconds(5));
        var seen = await watch;
        AssertWithinOneStep(atAbort, seen, what);
        return seen;
    }

    private TaskCompletionSource<EngineStats> CaptureAbort()
    {
        var tcs = new TaskCompletionSource<EngineStats>(TaskCreationOptions.RunContinuationsAsynchronously);
        S.OnAborted = (_, stats) =>
        {
            if (tcs.TrySetResult(stats))
            {
                abortedAt.Value = Stopwatch.GetTimestamp();
            }
        };
        return tcs;
    }

    [Fact]
    public async Task Disconnect_mid_prompt_frees_the_sequence_within_one_step()
    {
        await AssertIdleAsync(noKv: false);
        const int promptTokens = 3000;
        var prompt = Enumerable.Range(0, promptTokens).Select(i => 3 + (i * 7919 % 600)).ToArray();
        var before = S.Stats;
        var aborted = CaptureAbort();
        using var cts = new CancellationTokenSource();
        using var req = Post("/v1/completions", JsonSerializer.Serialize(new { prompt, max_tokens = 4, stream = true }));
        var send = S.Client.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, cts.Token);

        // Mid-prompt: the slot is taken and part of the prompt is in the KV cache (16 tokens per step).
        var mid = await WaitForAsync(s => s.ActiveSequences == 1 && s.KvCellsUsed > 0 && s.KvCellsUsed < promptTokens / 2, "prompt half evaluated");
        var freed = await AbortWithinOneStepAsync(aborted, s => s.ActiveSequences == 0, "sequence freed", async () =>
        {
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send);
        });

        Assert.Equal(0, freed.KvCellsUsed);
        Assert.Equal(before.PromptTokensEvaluated, freed.PromptTokensEvaluated); // the prompt never completed
        Assert.Equal(before.TokensGenerated, freed.TokensGenerated);
        await AssertIdleAsync();
    }

    [Fact]
    public async Task Disconnect_mid_stream_frees_the_sequence_within_one_step()
    {
        await AssertIdleAsync(noKv: false);
        var aborted = CaptureAbort();
        using var cts = new CancellationTokenSource();
        using var req = Post("/v1/chat/completions", LongChat(3000));
        var res = await S.Client.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        var stream = await res.Content.ReadAsStreamAsync(cts.Token);
        var check = await SseStream.ReadAsync(stream, cts.Token, c => c.Deltas.Count >= 8);
        Assert.True(check.Deltas.Count >= 8, "the stream should be running");
        Assert.Equal(1, S.Stats.ActiveSequences);

        var generated = S.Stats.TokensGenerated;
        var freed = await AbortWithinOneStepAsync(aborted, s => s.ActiveSequences == 0, "sequence freed", async () =>
        {
            await cts.CancelAsync();
            res.Dispose();
        });
        Assert.True(freed.TokensGenerated - generated < 3000 - 100, "generation must stop long before max_tokens");
        Assert.Equal(0, freed.KvCellsUsed);
        await AssertIdleAsync();
    }

    [Fact]
    public async Task Disconnect_while_queued_frees_the_queue_entry_and_leaves_the_running_request_alone()
    {
        await AssertIdleAsync(noKv: false);
        using var ctsA = new CancellationTokenSource();
        using var reqA = Post("/v1/chat/completions", LongChat(3000, "first"));
        var resA = await S.Client.SendAsync(reqA, HttpCompletionOption.ResponseHeadersRead, ctsA.Token);
        try
        {
            var streamA = await resA.Content.ReadAsStreamAsync(ctsA.Token);
            _ = await SseStream.ReadAsync(streamA, ctsA.Token, c => c.Deltas.Count >= 2);
            Assert.Equal(1, S.Stats.ActiveSequences);

            // B waits for the only slot; its role chunk arrives at once, so the client sees it accepted.
            var aborted = CaptureAbort();
            using var ctsB = new CancellationTokenSource();
            using var reqB = Post("/v1/chat/completions", LongChat(16, "second"));
            var resB = await S.Client.SendAsync(reqB, HttpCompletionOption.ResponseHeadersRead, ctsB.Token);
            Assert.Equal(HttpStatusCode.OK, resB.StatusCode);
            await WaitForAsync(s => s.QueueDepth == 1, "B queued");
            var (_, _, queueSeen) = await S.ReadyAsync();
            Assert.Equal(1, queueSeen);

            var dropped = await AbortWithinOneStepAsync(aborted, s => s.QueueDepth == 0, "queue entry dropped", async () =>
            {
                await ctsB.CancelAsync();
                resB.Dispose();
            });
            Assert.Equal(1, dropped.ActiveSequences); // A still runs...
            var more = await SseStream.ReadAsync(streamA, ctsA.Token, c => c.Deltas.Count >= 8);
            Assert.True(more.Deltas.Count >= 8, "...and keeps streaming");
            var (_, _, queueAfter) = await S.ReadyAsync();
            Assert.Equal(0, queueAfter);
        }
        finally
        {
            await ctsA.CancelAsync();
            resA.Dispose();
        }

        await AssertIdleAsync();
    }

    [Fact]
    public async Task Disconnect_while_waiting_for_a_non_streamed_answer_frees_the_sequence()
    {
        await AssertIdleAsync(noKv: false);
        var aborted = CaptureAbort();
        using var cts = new CancellationTokenSource();
        var json = LongChat(3000).Replace("\"stream\":true", "\"stream\":false", StringComparison.Ordinal);
        using var req = Post("/v1/chat/completions", json);
        var generated = S.Stats.TokensGenerated;
        var send = S.Client.SendAsync(req, cts.Token);
        await WaitForAsync(s => s.ActiveSequences == 1 && s.TokensGenerated > generated + 10, "generating");
        var freed = await AbortWithinOneStepAsync(aborted, s => s.ActiveSequences == 0, "sequence freed", async () =>
        {
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send);
        });
        await AssertIdleAsync();
    }

    [Fact]
    public async Task After_disconnects_the_slot_serves_new_requests()
    {
        using var res = await S.Client.SendAsync(Post("/v1/chat/completions", LongChat(6).Replace("\"stream\":true", "\"stream\":false", StringComparison.Ordinal)));
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        using var doc = JsonDocument.Parse(await res.Content.ReadAsStringAsync());
        Assert.Equal(6, doc.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }
}
