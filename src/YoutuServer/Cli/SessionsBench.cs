using System.Globalization;
using YoutuServer.Cli.Bench;

namespace YoutuServer.Cli;

/// <summary>
/// `youtu-server bench sessions (--url URL | --model FILE) ...`: an agent-session replay (<see cref="SessionSettings"/>)
/// against any server with Chat Completions or Anthropic Messages, or youtu-server started in-process (and restarted
/// mid-run with --restart-after). Markdown goes to stdout, progress and logs to stderr.
/// </summary>
internal static class SessionsBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var s = SessionSettings.Parse(args);
        using var console = new BenchConsole();
        var log = console.Log;
        WebApplication? app = null;
        StreamingClient? client = null;
        var apiKey = s.ApiKey ?? Environment.GetEnvironmentVariable(s.Api == "messages" ? "ANTHROPIC_API_KEY" : "OPENAI_API_KEY");
        var timeout = TimeSpan.FromSeconds(s.TimeoutSeconds);
        try
        {
            if (s.Model is not null)
            {
                // Server logs must not mix with the report on stdout.
                console.SendConsoleToLog();
                (app, var uri) = await BenchTarget.StartServerAsync(ServeArgs(s), log, console.Token);
                client = new StreamingClient(uri, apiKey, timeout);
            }
            else
            {
                client = new StreamingClient(StreamingClient.BaseUriOf(s.Url!), apiKey, timeout);
            }

            var model = s.ServedModel ?? await ServeBench.FirstModelAsync(client, console.Token);
            var pool = new PromptPool(s.Seed);
            await pool.InitializeAsync(client, Math.Max(4096, s.SystemTokens + s.TaskTokens), wantTokens: false, console.Token);
            var workload = new SessionWorkload(s, pool);
            var systemTokens = await PromptPool.CountTokensAsync(client, workload.SystemText, console.Token);
            log.WriteLine($"bench: model '{model}' at {client.BaseUri}; {s.Sessions} sessions × {s.Turns} turns over {workload.Path}; system prompt {systemTokens?.ToString(CultureInfo.InvariantCulture) ?? "~" + s.SystemTokens} tokens");

            var replay = new SessionReplay(s, workload, model, log);
            var requests = await replay.RunAsync(async turn =>
            {
                if (app is not null && turn == s.RestartAfter + 1 && s.RestartAfter > 0)
                {
                    log.WriteLine($"bench: restarting the server after turn {s.RestartAfter}");
                    client.Dispose();
                    await BenchTarget.StopServerAsync(app);
                    app = null;
                    (app, var uri) = await BenchTarget.StartServerAsync(ServeArgs(s), log, console.Token);
                    client = new StreamingClient(uri, apiKey, timeout);
                }

                return client;
            }, systemTokens, console.Token);

            var report = new SessionReport
            {
                Settings = s,
                Target = s.Model is not null ? $"youtu-server in-process on {Path.GetFileName(s.Model)}" : client.BaseUri.ToString(),
                ServedModel = model,
                Requests = requests,
                SystemTokens = systemTokens,
            };
            if (app is not null)
            {
                await BenchTarget.StopServerAsync(app);
                app = null;
            }

            await console.ReportAsync(report.ToMarkdown());
            if (s.JsonPath is not null)
            {
                await BenchTarget.WriteJsonAsync(s.JsonPath, report.ToJson(), log);
            }

            return report.Failed == 0 ? 0 : 1;
        }
        catch (OperationCanceledException) when (console.Cancelled)
        {
            log.WriteLine("bench: interrupted");
            return 130;
        }
        catch (HttpRequestException e)
        {
            throw new CliException($"cannot reach the server: {e.Message}");
        }
        finally
        {
            client?.Dispose();
            if (app is not null)
            {
                await BenchTarget.StopServerAsync(app);
            }
        }
    }

    private static string[] ServeArgs(SessionSettings s)
    {
        static string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        List<string> args =
        [
            "--model", s.Model!,
            "--urls", "http://127.0.0.1:0",
            "--parallel", I(s.Parallel),
            "--ctx-size", I(s.CtxSize),
            "--batch-size", I(s.BatchSize),
            "--threads", I(s.Threads),
            "--gpu-layers", I(s.GpuLayers),
            "--queue-size", I(Math.Max(64, s.Concurrency * 2)),
            "--Logging:LogLevel:Default", "Warning",
        ];
        if (s.CacheRamMiB is { } ram)
        {
            args.AddRange(["--cache-ram", I(ram)]);
        }

        if (s.CacheDir is { } dir)
        {
            args.AddRange(["--cache-dir", dir]);
        }

        if (s.CacheDirMiB is { } dm)
        {
            args.AddRange(["--cache-disk", I(dm)]);
        }

        return [.. args];
    }
}
