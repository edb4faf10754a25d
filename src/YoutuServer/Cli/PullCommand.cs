using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Configuration;
using YoutuServer.Hosting;
using YoutuServer.Models;
using YoutuServer.Operations;

namespace YoutuServer.Cli;

/// <summary>
/// <c>youtu-server pull [ID] [--models-dir DIR] [--models-file FILE] [--url URL] [--force]</c>: downloads a model of
/// models.json into the folder the server loads it from, resuming, verifying and moving it into place atomically.
/// Exit codes: 0 done (or already present), 1 download or verification failed, 2 usage or catalog error, 130 interrupted.
/// </summary>
internal static class PullCommand
{
    public const string Usage = """
        usage: youtu-server pull [ID] [--models-dir DIR] [--models-file FILE] [--url URL] [--force]

          ID              a model id or alias of models.json (default: its "default" model)
          --models-dir    folder for the GGUF files (default: Youtu:ModelsDir / YOUTU__MODELSDIR, else next to models.json)
          --models-file   the catalog (default: Youtu:ModelsFile / YOUTU__MODELSFILE, else models.json found from here upwards)
          --url           download from this URL instead of the catalog's source (a mirror); the pinned sha256 still applies
          --force         download again even if the file is present, and discard an earlier partial download
          HF_TOKEN        (environment) bearer token for gated Hugging Face repositories
        """;

    private static readonly HashSet<string> Flags = new(StringComparer.Ordinal) { "force", "help" };

    public static async Task<int> RunAsync(string[] args)
    {
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            // First Ctrl+C stops cleanly (partial kept); a second one kills the process as usual.
            e.Cancel = !cts.IsCancellationRequested;
            cts.Cancel();
        };
        using var handler = CreateHandler();
        return await RunAsync(args, Console.Out, Console.Error, !Console.IsErrorRedirected, handler, cts.Token).ConfigureAwait(false);
    }

    /// <summary>The testable core: no globals, the HTTP handler and the output writers come from the caller.</summary>
    internal static async Task<int> RunAsync(
        IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, bool interactive, HttpMessageHandler handler, CancellationToken ct,
        TimeSpan? readTimeout = null)
    {
        var cli = new CliArgs(args, Flags);
        if (cli.GetBool("help"))
        {
            await stdout.WriteLineAsync(Usage).ConfigureAwait(false);
            return 0;
        }

        // Same configuration keys as `serve`, so `docker run ... pull` lands where the server looks.
        var config = new ConfigurationBuilder().AddEnvironmentVariables().Build().GetSection(ServerOptions.Section);
        var modelsDir = cli.Get("models-dir") ?? NonEmpty(config[nameof(ServerOptions.ModelsDir)]);
        var modelsFile = cli.Get("models-file") ?? NonEmpty(config[nameof(ServerOptions.ModelsFile)]);
        var urlOverride = cli.Get("url");
        var force = cli.GetBool("force");
        cli.RejectUnknown();
        if (cli.Positionals.Count > 1)
        {
            throw new CliException($"expected one model id, got {cli.Positionals.Count}: {string.Join(' ', cli.Positionals)}");
        }

        var catalogPath = ModelCatalog.Locate(modelsFile)
            ?? throw new CliException("models.json not found (searched from the working folder and the executable's folder); use --models-file");
        ModelCatalog catalog;
        try
        {
            catalog = ModelCatalog.Load(catalogPath);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"youtu-server pull: {e.Message}").ConfigureAwait(false);
            return 2;
        }

        var id = cli.Positionals.Count == 1 ? cli.Positionals[0] : catalog.Default?.Id
            ?? throw new CliException($"no model id given and {catalogPath} has no default");
        var entry = catalog.Find(id)
            ?? throw new CliException($"no model '{id}' in {catalogPath}; known: {string.Join(", ", catalog.Models.Select(m => m.Id))}");

        Uri? url;
        if (urlOverride is not null)
        {
            if (!Uri.TryCreate(urlOverride, UriKind.Absolute, out url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
            {
                throw new CliException($"--url expects an absolute http(s) URL, got '{urlOverride}'");
            }
        }
        else
        {
            url = ModelCatalog.DownloadUrl(entry) ?? throw new CliException($"model '{entry.Id}' has no source.url (nor repo and file) in {catalogPath}");
        }

        var destination = Path.GetFullPath(catalog.LocalPath(entry, modelsDir));
        var sha = NonEmpty(entry.Source?.Sha256);
        var size = entry.Source?.Size;
        var printer = new DownloadProgressPrinter(stderr, interactive);
        try
        {
            using var fileLock = await DownloadLock.AcquireAsync(
                destination, () => stderr.WriteLine($"pull: another pull of {Path.GetFileName(destination)} is running; waiting for it"), ct: ct).ConfigureAwait(false);
            if (File.Exists(destination) && !force)
            {
                return await CheckExistingAsync(entry, destination, sha, printer, stdout, stderr, ct).ConfigureAwait(false);
            }

            using var http = new HttpClient(handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
            http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("youtu-server", typeof(PullCommand).Assembly.GetName().Version?.ToString(3) ?? "0"));
            if (NonEmpty(Environment.GetEnvironmentVariable("HF_TOKEN")) is { } token && url.Host.EndsWith("huggingface.co", StringComparison.OrdinalIgnoreCase))
            {
                // HttpClient drops Authorization on redirects, so the token never reaches the CDN host.
                http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            await stderr.WriteLineAsync($"pull: {entry.Id} from {url}").ConfigureAwait(false);
            await stderr.WriteLineAsync($"pull: -> {destination}").ConfigureAwait(false);
            var downloader = new ModelDownloader(http) { ReadTimeout = readTimeout ?? TimeSpan.FromSeconds(60) };
            var request = new DownloadRequest { Url = url, DestinationPath = destination, ExpectedSha256 = sha, ExpectedSize = size, DiscardPartial = force };
            var result = await downloader.DownloadAsync(request, printer, ct).ConfigureAwait(false);
            printer.Finish();
            var resumed = result.ResumedFrom > 0 ? $", resumed at {DownloadProgressPrinter.FormatBytes(result.ResumedFrom)}" : "";
            await stdout.WriteLineAsync(
                $"pulled {entry.Id} -> {result.Path} ({DownloadProgressPrinter.FormatBytes(result.Size)}, {(result.Verified ? "sha256 verified" : "sha256 not pinned")}{resumed})").ConfigureAwait(false);
            if (!result.Verified)
            {
                await stdout.WriteLineAsync($"sha256 {result.Sha256}").ConfigureAwait(false);
                await stdout.WriteLineAsync($"size {result.Size}").ConfigureAwait(false);
                await stdout.WriteLineAsync(
                    $"models.json pins no sha256 for '{entry.Id}'; to verify future pulls set its source to \"sha256\": \"{result.Sha256}\", \"size\": {result.Size}").ConfigureAwait(false);
            }

            return 0;
        }
        catch (DownloadException e)
        {
            printer.Finish();
            await stderr.WriteLineAsync($"youtu-server pull: {e.Message}").ConfigureAwait(false);
            return 1;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            printer.Finish();
            await stderr.WriteLineAsync($"youtu-server pull: interrupted; the partial download {destination}{ModelDownloader.PartialSuffix} is kept, run again to resume").ConfigureAwait(false);
            return 130;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            printer.Finish();
            await stderr.WriteLineAsync($"youtu-server pull: cannot write {destination}: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    private static async Task<int> CheckExistingAsync(
        ModelEntry entry, string destination, string? sha, DownloadProgressPrinter printer, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var length = new FileInfo(destination).Length;
        if (sha is null)
        {
            await stdout.WriteLineAsync(
                $"{entry.Id} is already present: {destination} ({DownloadProgressPrinter.FormatBytes(length)}; no sha256 pinned); use --force to download again").ConfigureAwait(false);
            return 0;
        }

        // A few seconds for a 2 GB file, and it catches a file that was replaced or damaged by hand.
        var actual = await ModelDownloader.ComputeSha256Async(destination, printer, ct).ConfigureAwait(false);
        printer.Finish();
        if (!string.Equals(actual, sha, StringComparison.OrdinalIgnoreCase))
        {
            await stderr.WriteLineAsync(
                $"youtu-server pull: {destination} is present but its sha256 {actual} is not the pinned {sha.ToLowerInvariant()}; run with --force to download it again").ConfigureAwait(false);
            return 1;
        }

        await stdout.WriteLineAsync($"{entry.Id} is already present: {destination} ({DownloadProgressPrinter.FormatBytes(length)}, sha256 verified)").ConfigureAwait(false);
        return 0;
    }

    private static SocketsHttpHandler CreateHandler() => new()
    {
        ConnectTimeout = TimeSpan.FromSeconds(30),
        AllowAutoRedirect = true,
        MaxAutomaticRedirections = 10,
        // Range offsets must refer to the bytes on disk, not to a compressed stream.
        AutomaticDecompression = DecompressionMethods.None,
    };

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;
}
