using System.Globalization;
using System.Text;
using System.Text.Json;

namespace YoutuServer.Cli.Bench;

/// <summary>One request of the replay: which session and turn, what it measured, what it could ideally have reused.</summary>
internal sealed record SessionRequest(int Session, int Turn, StreamResult Result, int IdealCached, bool AfterRestart)
{
    public int Prompt => Result.PromptTokens;

    /// <summary>Reused prompt tokens: usage (cached_tokens, cache_read_input_tokens), else the server's timings.cache_n.</summary>
    public int Cached => Result.CachedTokens ?? Result.ServerCacheN ?? 0;

    /// <summary>Evaluated prompt tokens: the server's timings.prompt_n when it sends one, else prompt − cached.</summary>
    public int Evaluated => Result.ServerPromptN ?? Math.Max(0, Prompt - Cached);
}

/// <summary>
/// The sessions of `bench sessions`: one shared system prompt, each session's own task, then per turn the model's
/// answer and a tool result appended; request bodies for Chat Completions or Anthropic Messages. Texts are seeded
/// words sized with the server's tokenizer, so two servers of the same model get the same prompts.
/// </summary>
internal sealed class SessionWorkload
{
    private readonly SessionSettings s;
    private readonly PromptPool pool;
    private readonly List<(string Role, string Text)>[] histories;
    private readonly string[] versionSuffix;

    public SessionWorkload(SessionSettings settings, PromptPool pool)
    {
        s = settings;
        this.pool = pool;
        var rng = new Random(settings.Seed);
        SystemText = pool.Make(settings.SystemTokens, rng, asText: true).Text!;
        histories = new List<(string, string)>[settings.Sessions];
        versionSuffix = new string[settings.Sessions];
        for (var i = 0; i < settings.Sessions; i++)
        {
            var own = SessionRandom(i, 0);
            histories[i] = [("user", $"Task {i + 1}: " + pool.Make(settings.TaskTokens, own, asText: true).Text)];
            versionSuffix[i] = Hex(own, 3);
        }
    }

    public string SystemText { get; }

    // Not HashCode.Combine: its seed differs per process, and two servers must get the same texts.
    private Random SessionRandom(int session, int turn) => new(unchecked((s.Seed * 1_000_003) + (session * 10_007) + turn));

    private static string Hex(Random rng, int digits) => string.Concat(Enumerable.Range(0, digits).Select(_ => "0123456789abcdef"[rng.Next(16)]));

    /// <summary>Claude Code's billing line for one request: the version suffix fixed per session, the cch nonce per request.</summary>
    public string BillingLine(int session, int turn) =>
        $"x-anthropic-billing-header: cc_version=2.1.197.{versionSuffix[session]}; cc_entrypoint=cli; cch={Hex(SessionRandom(session, 1000 + turn), 5)};";

    /// <summary>After a turn: the model's answer and the tool result the next turn carries.</summary>
    public void Append(int session, int turn, string answer)
    {
        histories[session].Add(("assistant", answer));
        histories[session].Add(("user", $"Tool result {turn}:\n" + pool.WordText(s.ToolWords, SessionRandom(session, turn))));
    }

    public string Path => s.Api == "messages" ? "/v1/messages" : "/v1/chat/completions";

    public byte[] Body(int session, int turn, string model)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("model", model);
            if (s.Api == "messages")
            {
                w.WriteStartArray("system");
                if (s.BillingBlock)
                {
                    TextBlock(w, BillingLine(session, turn));
                }

                TextBlock(w, SystemText);
                w.WriteEndArray();
                w.WriteStartArray("messages");
                foreach (var (role, text) in histories[session])
                {
                    w.WriteStartObject();
                    w.WriteString("role", role);
                    w.WriteStartArray("content");
                    TextBlock(w, text);
                    w.WriteEndArray();
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            }
            else
            {
                w.WriteStartArray("messages");
                Message(w, "system", SystemText);
                foreach (var (role, text) in histories[session])
                {
                    Message(w, role, text);
                }

                w.WriteEndArray();
                w.WriteStartObject("chat_template_kwargs");
                w.WriteBoolean("enable_thinking", false);
                w.WriteEndObject();
                w.WriteStartObject("stream_options");
                w.WriteBoolean("include_usage", true);
                w.WriteEndObject();
            }

            w.WriteNumber("max_tokens", s.MaxTokens);
            w.WriteNumber("min_tokens", s.MaxTokens);
            w.WriteBoolean("ignore_eos", true);
            if (!double.IsNaN(s.Temperature))
            {
                w.WriteNumber("temperature", s.Temperature);
            }

            w.WriteNumber("seed", s.Seed);
            w.WriteBoolean("stream", true);
            w.WriteEndObject();
        }

        return ms.ToArray();
    }

    private static void TextBlock(Utf8JsonWriter w, string text)
    {
        w.WriteStartObject();
        w.WriteString("type", "text");
        w.WriteString("text", text);
        w.WriteEndObject();
    }

    private static void Message(Utf8JsonWriter w, string role, string text)
    {
        w.WriteStartObject();
        w.WriteString("role", role);
        w.WriteString("content", text);
        w.WriteEndObject();
    }
}

/// <summary>Runs the replay: turn by turn, every session's request of a turn before the next turn.</summary>
internal sealed class SessionReplay(SessionSettings s, SessionWorkload workload, string model, TextWriter log)
{
    /// <summary>
    /// Runs every turn. <paramref name="clientFor"/> gives the client of a turn (it is called with the turn number, so
    /// the caller can restart its server before a turn); <paramref name="systemTokens"/> (the shared system prompt's
    /// token count, when known) sets what a session's first turn could ideally reuse.
    /// </summary>
    public async Task<List<SessionRequest>> RunAsync(Func<int, Task<StreamingClient>> clientFor, int? systemTokens, CancellationToken ct)
    {
        var all = new List<SessionRequest>();
        var previous = new StreamResult?[s.Sessions];
        using var gate = new SemaphoreSlim(s.Concurrency);
        for (var turn = 1; turn <= s.Turns; turn++)
        {
            var client = await clientFor(turn);
            var afterRestart = s.RestartAfter > 0 && turn > s.RestartAfter;
            var bodies = Enumerable.Range(0, s.Sessions).Select(i => workload.Body(i, turn, model)).ToArray();
            var t = turn;
            var tasks = Enumerable.Range(0, s.Sessions).Select(async i =>
            {
                await gate.WaitAsync(ct);
                try
                {
                    var r = await client.StreamAsync(workload.Path, bodies[i], ct, collectText: true);
                    var ideal = previous[i] is { Ok: true } p
                        ? Math.Min(r.PromptTokens, p.PromptTokens + p.CompletionTokens)
                        : i > 0 && t == 1 ? Math.Min(r.PromptTokens, systemTokens ?? 0) : 0;
                    var req = new SessionRequest(i, t, r, ideal, afterRestart);
                    log.WriteLine(r.Ok
                        ? $"bench: turn {t} session {i + 1}: TTFT {r.TtftMs / 1000:F2} s, prompt {req.Prompt}, cached {req.Cached}, evaluated {req.Evaluated}{(r.ServerRestoredN is { } rn ? $", restored {rn}" : "")}"
                        : $"bench: turn {t} session {i + 1}: {r.Error} {r.ErrorDetail}");
                    return req;
                }
                finally
                {
                    gate.Release();
                }
            }).ToArray();
            var done = await Task.WhenAll(tasks);
            foreach (var req in done.OrderBy(x => x.Session))
            {
                all.Add(req);
                previous[req.Session] = req.Result;
                workload.Append(req.Session, turn, req.Result.Text?.ToString() ?? "");
            }
        }

        return all;
    }
}

/// <summary>The replay's figures as markdown and JSON.</summary>
internal sealed class SessionReport
{
    public required SessionSettings Settings { get; init; }
    public required string Target { get; init; }
    public required string ServedModel { get; init; }
    public required IReadOnlyList<SessionRequest> Requests { get; init; }
    public int? SystemTokens { get; init; }

    private IEnumerable<SessionRequest> Ok => Requests.Where(r => r.Result.Ok);

    private static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    private static string F(double v, string format = "F1") => Distribution.Fmt(v, format);

    private static double Rate(long part, long whole) => whole == 0 ? double.NaN : part / (double)whole;

    private bool AnyRestored => Ok.Any(r => r.Result.ServerRestoredN is not null);

    /// <summary>Mean TTFT (s) of the turns after the first: what a session's later turns cost.</summary>
    public double LaterTurnsMeanTtftSeconds => Ok.Where(r => r.Turn > 1).Select(r => r.Result.TtftMs / 1000).DefaultIfEmpty(double.NaN).Average();

    public int Failed => Requests.Count(r => !r.Result.Ok);

    public string ToMarkdown()
    {
        var s = Settings;
        var sb = new StringBuilder();
        sb.AppendLine("## youtu-server bench sessions");
        sb.AppendLine();
        sb.AppendLine($"- target: {Target}; model `{ServedModel}`; API {(s.Api == "messages" ? "/v1/messages" : "/v1/chat/completions")}{(s.BillingBlock ? " with Claude Code's billing block (cch new per request)" : "")}");
        sb.AppendLine($"- {s.Sessions} sessions × {s.Turns} turns, interleaved turn by turn, {s.Concurrency} request(s) at a time; shared system prompt {s.SystemTokens} tokens{(SystemTokens is { } st ? $" ({st} by the server's tokenizer)" : "")}, task {s.TaskTokens} tokens, tool results {s.ToolWords} words, answers {s.MaxTokens} tokens (ignore_eos), thinking off, temperature {(double.IsNaN(s.Temperature) ? "server default" : s.Temperature.ToString(CultureInfo.InvariantCulture))}, seed {s.Seed}");
        if (s.Model is not null)
        {
            var cache = (s.CacheRamMiB is { } ram ? $" --cache-ram {ram}" : "") + (s.CacheDir is { } dir ? $" --cache-dir {dir}" : "") + (s.CacheDirMiB is { } dm ? $" --cache-disk {dm}" : "");
            sb.AppendLine($"- server in-process: --parallel {s.Parallel} --ctx-size {s.CtxSize} --batch-size {s.BatchSize} --threads {(s.Threads > 0 ? s.Threads.ToString(CultureInfo.InvariantCulture) : "all")}{cache}{(s.RestartAfter > 0 ? $"; restarted after turn {s.RestartAfter}" : "")}");
        }

        sb.AppendLine();
        sb.AppendLine("| turn | requests | prompt tokens | cached | evaluated | hit rate | ideal hit rate | TTFT mean s | TTFT min – max s |" + (AnyRestored ? " restored | restore ms |" : ""));
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|" + (AnyRestored ? "---|---|" : ""));
        foreach (var g in Requests.GroupBy(r => r.Turn).OrderBy(g => g.Key))
        {
            var ok = g.Where(r => r.Result.Ok).ToList();
            var ttft = Distribution.Of(ok.Select(r => r.Result.TtftMs / 1000));
            var label = g.Key.ToString(CultureInfo.InvariantCulture) + (g.Any(r => r.AfterRestart) ? " (after restart)" : "");
            sb.Append($"| {label} | {ok.Count}/{g.Count()} | {N(ok.Sum(r => (long)r.Prompt))} | {N(ok.Sum(r => (long)r.Cached))} | {N(ok.Sum(r => (long)r.Evaluated))} | ");
            sb.Append($"{F(Rate(ok.Sum(r => (long)r.Cached), ok.Sum(r => (long)r.Prompt)), "F3")} | {F(Rate(ok.Sum(r => (long)r.IdealCached), ok.Sum(r => (long)r.Prompt)), "F3")} | {F(ttft.Mean, "F2")} | {F(ttft.Min, "F2")} – {F(ttft.Max, "F2")} |");
            if (AnyRestored)
            {
                sb.Append($" {N(ok.Sum(r => (long)(r.Result.ServerRestoredN ?? 0)))} | {F(ok.Sum(r => r.Result.ServerRestoreMs ?? 0), "F0")} |");
            }

            sb.AppendLine();
        }

        var all = Ok.ToList();
        long prompt = all.Sum(r => (long)r.Prompt), cached = all.Sum(r => (long)r.Cached);
        sb.AppendLine();
        sb.AppendLine($"All: {all.Count}/{Requests.Count} requests, {N(prompt)} prompt tokens, {N(cached)} cached, {N(all.Sum(r => (long)r.Evaluated))} evaluated, "
            + $"hit rate {F(Rate(cached, prompt), "F3")} (ideal {F(Rate(all.Sum(r => (long)r.IdealCached), prompt), "F3")}), TTFT sum {F(all.Sum(r => r.Result.TtftMs) / 1000)} s, "
            + $"mean TTFT of turns 2–{s.Turns}: {F(LaterTurnsMeanTtftSeconds, "F2")} s{(Failed > 0 ? $"; {Failed} failed" : "")}.");
        sb.AppendLine();
        sb.AppendLine("Cached: usage (prompt_tokens_details.cached_tokens, cache_read_input_tokens), else timings.cache_n; evaluated: timings.prompt_n, else prompt − cached. "
            + "Ideal: every earlier token of the session reused (the previous prompt and answer; for a first turn, the shared system prompt). TTFT: request sent → first text.");
        return sb.ToString();
    }

    public string ToJson()
    {
        var s = Settings;
        var root = new System.Text.Json.Nodes.JsonObject
        {
            ["target"] = Target,
            ["model"] = ServedModel,
            ["api"] = s.Api,
            ["settings"] = new System.Text.Json.Nodes.JsonObject
            {
                ["sessions"] = s.Sessions,
                ["turns"] = s.Turns,
                ["system_tokens"] = s.SystemTokens,
                ["system_tokens_measured"] = SystemTokens,
                ["task_tokens"] = s.TaskTokens,
                ["tool_words"] = s.ToolWords,
                ["max_tokens"] = s.MaxTokens,
                ["billing_block"] = s.BillingBlock,
                ["concurrency"] = s.Concurrency,
                ["restart_after"] = s.RestartAfter,
                ["seed"] = s.Seed,
                ["parallel"] = s.Model is null ? null : s.Parallel,
                ["ctx_size"] = s.Model is null ? null : s.CtxSize,
                ["cache_ram_mib"] = s.CacheRamMiB,
                ["cache_dir"] = s.CacheDir,
            },
            ["hit_rate"] = Distribution.Num(Rate(Ok.Sum(r => (long)r.Cached), Ok.Sum(r => (long)r.Prompt))),
            ["ideal_hit_rate"] = Distribution.Num(Rate(Ok.Sum(r => (long)r.IdealCached), Ok.Sum(r => (long)r.Prompt))),
            ["later_turns_mean_ttft_s"] = Distribution.Num(LaterTurnsMeanTtftSeconds),
            ["failed"] = Failed,
            ["requests"] = new System.Text.Json.Nodes.JsonArray([.. Requests.Select(r => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject
            {
                ["session"] = r.Session + 1,
                ["turn"] = r.Turn,
                ["after_restart"] = r.AfterRestart,
                ["ok"] = r.Result.Ok,
                ["error"] = r.Result.Error,
                ["ttft_ms"] = Distribution.Num(r.Result.TtftMs),
                ["latency_ms"] = Distribution.Num(r.Result.LatencyMs),
                ["prompt_tokens"] = r.Prompt,
                ["cached_tokens"] = r.Cached,
                ["evaluated_tokens"] = r.Evaluated,
                ["ideal_cached_tokens"] = r.IdealCached,
                ["completion_tokens"] = r.Result.CompletionTokens,
                ["restored_tokens"] = r.Result.ServerRestoredN,
                ["restore_ms"] = r.Result.ServerRestoreMs is { } ms ? Distribution.Num(ms) : null,
            })]),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
