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
    public static Task<int> RunAsync(string[] args)
    {
        var s = SessionSettings.Parse(args);
        var apiKey = s.ApiKey ?? Environment.GetEnvironmentVariable(s.Api == "messages" ? "ANTHROPIC_API_KEY" : "OPENAI_API_KEY");
        var timeout = TimeSpan.FromSeconds(s.TimeoutSeconds);
        return BenchTarget.RunAsync(async (console, server) =>
        {
            var log = console.Log;
            var client = new StreamingClient(s.Model is not null ? await server.StartAsync(ServeArgs(s)) : StreamingClient.BaseUriOf(s.Url!), apiKey, timeout);
            try
            {
                var model = s.ServedModel ?? await ServeBench.FirstModelAsync(client, console.Token);
                var pool = new PromptPool(s.Seed);
                await pool.InitializeAsync(client, Math.Max(4096, s.SystemTokens + s.TaskTokens), wantTokens: false, console.Token);
                var workload = new SessionWorkload(s, pool);
                var systemTokens = await PromptPool.CountTokensAsync(client, workload.SystemText, console.Token);
                log.WriteLine($"bench: model '{model}' at {client.BaseUri}; {s.Sessions} sessions × {s.Turns} turns over {workload.Path}; system prompt {systemTokens?.ToString(CultureInfo.InvariantCulture) ?? "~" + s.SystemTokens} tokens");

                var replay = new SessionReplay(s, workload, model, log);
                var requests = await replay.RunAsync(async turn =>
                {
                    if (server.Running && turn == s.RestartAfter + 1 && s.RestartAfter > 0)
                    {
                        log.WriteLine($"bench: restarting the server after turn {s.RestartAfter}");
                        client.Dispose();
                        await server.StopAsync();
                        client = new StreamingClient(await server.StartAsync(ServeArgs(s)), apiKey, timeout);
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
                await server.StopAsync();
                await console.ReportAsync(report.ToMarkdown(), s.JsonPath, report.ToJson);
                return report.Failed == 0 ? 0 : 1;
            }
            finally
            {
                client.Dispose();
            }
        });
    }

    private static string[] ServeArgs(SessionSettings s)
    {
        static string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        List<string> extra = [];
        if (s.CacheRamMiB is { } ram)
        {
            extra.AddRange(["--cache-ram", I(ram)]);
        }

        if (s.CacheDir is { } dir)
        {
            extra.AddRange(["--cache-dir", dir]);
        }

        if (s.CacheDirMiB is { } dm)
        {
            extra.AddRange(["--cache-disk", I(dm)]);
        }

        return BenchTarget.ServeArgs(s.Model!, s.Parallel, s.CtxSize, s.BatchSize, s.Threads, s.GpuLayers, s.Concurrency, [.. extra]);
    }
}
