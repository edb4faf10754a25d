using System.Globalization;

namespace YoutuServer.Cli.Bench;

/// <summary>
/// What the bench commands that talk to a server share: the --url / --model choice and its checks, the usual ends of
/// a parsed command line, the run's console and its in-process youtu-server, and the JSON report written next to the markdown.
/// </summary>
internal static class BenchTarget
{
    /// <summary>Exactly one of --url (an absolute URL) and --model (an existing file); else a usage error.</summary>
    public static void Check(string? url, string? model, string usage)
    {
        if ((url is null) == (model is null))
        {
            throw new CliException("give exactly one of --url URL or --model FILE\n" + usage);
        }

        if (url is not null && !Uri.TryCreate(url, UriKind.Absolute, out _))
        {
            throw new CliException($"--url '{url}' is not an absolute URL");
        }

        if (model is not null && !File.Exists(model))
        {
            throw new CliException($"--model: no such file '{model}'");
        }
    }

    /// <summary>Each (option, value, minimum): a usage error for the first value below its minimum.</summary>
    public static void AtLeast(params (string Name, int Value, int Min)[] checks)
    {
        foreach (var (name, v, min) in checks)
        {
            if (v < min)
            {
                throw new CliException($"--{name} must be at least {min}, got {v}");
            }
        }
    }

    /// <summary>After reading every option: no positionals, no unknown options.</summary>
    public static void Finish(CliArgs cli)
    {
        if (cli.Positionals.Count > 0)
        {
            throw new CliException($"unexpected argument '{cli.Positionals[0]}'");
        }

        cli.RejectUnknown();
    }

    /// <summary>
    /// Runs a bench command with its console and its in-process server (stopped at the end whatever happens):
    /// Ctrl+C → exit code 130; an unreachable server → a usage error.
    /// </summary>
    public static async Task<int> RunAsync(Func<BenchConsole, BenchServer, Task<int>> run)
    {
        using var console = new BenchConsole();
        await using var server = new BenchServer(console);
        try
        {
            return await run(console, server);
        }
        catch (OperationCanceledException) when (console.Cancelled)
        {
            console.Log.WriteLine("bench: interrupted");
            return 130;
        }
        catch (HttpRequestException e)
        {
            throw new CliException($"cannot reach the server: {e.Message}");
        }
    }

    /// <summary>
    /// The `serve` command line of the in-process server: the options both bench commands pass, then
    /// <paramref name="extra"/>; it listens on a free local port and logs warnings only.
    /// </summary>
    public static string[] ServeArgs(string model, int parallel, int ctxSize, int batchSize, int threads, int gpuLayers, int concurrency, params string[] extra)
    {
        static string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        return
        [
            "--model", model,
            "--urls", "http://127.0.0.1:0",
            "--parallel", I(parallel),
            "--ctx-size", I(ctxSize),
            "--batch-size", I(batchSize),
            "--threads", I(threads),
            "--gpu-layers", I(gpuLayers),
            "--queue-size", I(Math.Max(64, concurrency * 2)),
            "--Logging:LogLevel:Default", "Warning",
            .. extra,
        ];
    }

}

/// <summary>youtu-server started in-process by a bench command; disposing stops it if it still runs.</summary>
internal sealed class BenchServer(BenchConsole console) : IAsyncDisposable
{
    private WebApplication? app;

    public bool Running => app is not null;

    /// <summary>Starts youtu-server with <paramref name="serveArgs"/> (its logs away from the report); its base URI.</summary>
    public async Task<Uri> StartAsync(string[] serveArgs)
    {
        console.SendConsoleToLog();
        app = ServerApp.Build(serveArgs);
        await app.StartAsync(console.Token);
        var uri = new Uri(app.Urls.First().Replace("[::]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/') + "/");
        console.Log.WriteLine($"bench: youtu-server listening on {uri}");
        return uri;
    }

    public async Task StopAsync()
    {
        if (app is not null)
        {
            var running = app;
            app = null;
            await running.StopAsync(CancellationToken.None);
            await running.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}

/// <summary>
/// The console of a bench run: Ctrl+C cancels <see cref="Token"/>; the report goes to the original stdout while an
/// in-process server's logs go to stderr with the progress lines. Disposing restores both.
/// </summary>
internal sealed class BenchConsole : IDisposable
{
    private readonly CancellationTokenSource cts = new();
    private readonly ConsoleCancelEventHandler onCancel;

    public BenchConsole()
    {
        onCancel = (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };
        Console.CancelKeyPress += onCancel;
    }

    public CancellationToken Token => cts.Token;

    public bool Cancelled => cts.IsCancellationRequested;

    /// <summary>Where the report goes.</summary>
    public TextWriter Out { get; } = Console.Out;

    /// <summary>Progress and logs.</summary>
    public TextWriter Log { get; } = Console.Error;

    /// <summary>Anything written to Console.Out (an in-process server's logs) goes to stderr from now on.</summary>
    public void SendConsoleToLog() => Console.SetOut(Log);

    /// <summary>Writes the report to the original stdout and, when <paramref name="jsonPath"/> is set, its JSON there (creating the folder).</summary>
    public async Task ReportAsync(string markdown, string? jsonPath, Func<string> json)
    {
        Console.SetOut(Out);
        await Out.WriteLineAsync(markdown);
        if (jsonPath is null)
        {
            return;
        }

        var dir = Path.GetDirectoryName(Path.GetFullPath(jsonPath));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        await File.WriteAllTextAsync(jsonPath, json() + "\n");
        Log.WriteLine($"bench: JSON written to {jsonPath}");
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= onCancel;
        Console.SetOut(Out);
        cts.Dispose();
    }
}
