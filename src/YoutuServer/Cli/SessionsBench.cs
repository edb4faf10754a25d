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
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        var stdout = Console.Out;
        var log = Console.Error;
        WebApplication? app = null;
        StreamingClient? client = null;
        var apiKey = s.ApiKey ?? Environment.GetEnvironmentVariable(s.Api == "messages" ? "ANTHROPIC_API_KEY" : "OPENAI_API_KEY");
        var timeout = TimeSpan.FromSeconds(s.TimeoutSeconds);
        try
        {
            if (s.Model is not null)
            {
                // Server logs must not mix with the report on stdout.
                Console.SetOut(log);
                (app, var uri) = await StartAsync(s, log, cts.Token);
                client = new StreamingClient(uri, apiKey, timeout);
            }
            else
            {
                client = new StreamingClient(StreamingClient.BaseUriOf(s.Url!), apiKey, timeout);
            }

            var model = s.ServedModel ?? await ServeBench.FirstModelAsync(client, cts.Token);
            var pool = new PromptPool(s.Seed);
            await pool.InitializeAsync(client, Math.Max(4096, s.SystemTokens + s.TaskTokens), wantTokens: false, cts.Token);
            var workload = new SessionWorkload(s, pool);
            var systemTokens = await PromptPool.CountTokensAsync(client, workload.SystemText, cts.Token);
            log.WriteLine($"bench: model '{model}' at {client.BaseUri}; {s.Sessions} sessions × {s.Turns} turns over {workload.Path}; system prompt {systemTokens?.ToString(CultureInfo.InvariantCulture) ?? "~" + s.SystemTokens} tokens");

            var replay = new SessionReplay(s, workload, model, log);
            var requests = await replay.RunAsync(async turn =>
            {
                if (app is not null && turn == s.RestartAfter + 1 && s.RestartAfter > 0)
                {
                    log.WriteLine($"bench: restarting the server after turn {s.RestartAfter}");
                    client.Dispose();
                    await app.StopAsync(CancellationToken.None);
                    await app.DisposeAsync();
                    app = null;
                    (app, var uri) = await StartAsync(s, log, cts.Token);
                    client = new StreamingClient(uri, apiKey, timeout);
                }

                return client;
            }, systemTokens, cts.Token);

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
                await app.StopAsync(CancellationToken.None);
                await app.DisposeAsync();
                app = null;
            }

            Console.SetOut(stdout);
            await stdout.WriteLineAsync(report.ToMarkdown());
            if (s.JsonPath is not null)
            {
                var dir = Path.GetDirectoryName(Path.GetFullPath(s.JsonPath));
                if (dir is not null)
                {
                    Directory.CreateDirectory(dir);
                }

                await File.WriteAllTextAsync(s.JsonPath, report.ToJson() + "\n");
                log.WriteLine($"bench: JSON written to {s.JsonPath}");
            }

            return report.Failed == 0 ? 0 : 1;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
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
            Console.CancelKeyPress -= onCancel;
            client?.Dispose();
            if (app is not null)
            {
                await app.StopAsync(CancellationToken.None);
                await app.DisposeAsync();
            }

            Console.SetOut(stdout);
        }
    }

    private static async Task<(WebApplication App, Uri Uri)> StartAsync(SessionSettings s, TextWriter log, CancellationToken ct)
    {
        var app = ServerApp.Build(ServeArgs(s));
        await app.StartAsync(ct);
        var uri = new Uri(app.Urls.First().Replace("[::]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/') + "/");
        log.WriteLine($"bench: youtu-server listening on {uri}");
        return (app, uri);
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
            args.AddRange(["--cache-dir-size", I(dm)]);
        }

        return [.. args];
    }
}
