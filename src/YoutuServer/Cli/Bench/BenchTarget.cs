namespace YoutuServer.Cli.Bench;

/// <summary>
/// What the bench commands that talk to a server share: the --url / --model choice and its checks, the usual ends of
/// a parsed command line, youtu-server started in-process, and the JSON report written next to the markdown.
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

    /// <summary>Starts youtu-server in-process with <paramref name="serveArgs"/>; its base URI.</summary>
    public static async Task<(WebApplication App, Uri BaseUri)> StartServerAsync(string[] serveArgs, TextWriter log, CancellationToken ct)
    {
        var app = ServerApp.Build(serveArgs);
        await app.StartAsync(ct);
        var uri = new Uri(app.Urls.First().Replace("[::]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/') + "/");
        log.WriteLine($"bench: youtu-server listening on {uri}");
        return (app, uri);
    }

    public static async Task StopServerAsync(WebApplication app)
    {
        await app.StopAsync(CancellationToken.None);
        await app.DisposeAsync();
    }

    /// <summary>Writes the JSON report, creating its folder.</summary>
    public static async Task WriteJsonAsync(string path, string json, TextWriter log)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        await File.WriteAllTextAsync(path, json + "\n");
        log.WriteLine($"bench: JSON written to {path}");
    }
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

    /// <summary>Writes the report to the original stdout.</summary>
    public async Task ReportAsync(string markdown)
    {
        Console.SetOut(Out);
        await Out.WriteLineAsync(markdown);
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= onCancel;
        Console.SetOut(Out);
        cts.Dispose();
    }
}
