using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;

namespace YoutuServer.Cli;

/// <summary>
/// <c>youtu-server launch claude [--url URL] [--model ID] [--api-key KEY] [-- ARGS]</c>: runs Claude Code against a
/// running youtu-server through its Anthropic Messages API, with the variables that keep Claude Code off the network
/// (the way <c>ollama launch claude</c> does). ARGS after <c>--</c> go to <c>claude</c> unchanged. Exit code: claude's;
/// 2 for usage errors, a missing <c>claude</c> or an unreachable server.
/// </summary>
internal static class LaunchClaudeCommand
{
    public const string Usage = """
        usage: youtu-server launch claude [--url URL] [--model ID] [--api-key KEY] [-- CLAUDE-ARGS...]

          --url       the youtu-server to use (default: http://127.0.0.1:8080)
          --model     the model name Claude Code sends (default: the server's model, from /v1/models)
          --api-key   the server's API key, if it has keys (default: YOUTU_API_KEY, else a placeholder)
          ARGS        after --, passed to claude, e.g. -- -p "explain this repository"
        Sets ANTHROPIC_BASE_URL, ANTHROPIC_AUTH_TOKEN, ANTHROPIC_MODEL (and the small/fast and default model
        variables) and CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC, DISABLE_TELEMETRY, DISABLE_AUTOUPDATER,
        DISABLE_ERROR_REPORTING, CLAUDE_CODE_ATTRIBUTION_HEADER=0; start the server with a context large enough for Claude Code's prompt
        (youtu-server serve --ctx-size 32768).
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        var dash = Array.IndexOf(args, "--");
        var own = dash < 0 ? args : args[..dash];
        var passthrough = dash < 0 ? [] : args[(dash + 1)..];
        var cli = new CliArgs(own, new HashSet<string>(StringComparer.Ordinal) { "help" });
        if (cli.GetBool("help"))
        {
            Console.WriteLine(Usage);
            return 0;
        }

        var url = (cli.Get("url") ?? "http://127.0.0.1:8080").TrimEnd('/');
        var model = cli.Get("model");
        var key = cli.Get("api-key") ?? System.Environment.GetEnvironmentVariable("YOUTU_API_KEY");
        cli.RejectUnknown();
        if (cli.Positionals is not ["claude"])
        {
            throw new CliException($"expected the client to launch: 'claude' (got '{string.Join(' ', cli.Positionals)}')\n{Usage}");
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var baseUri) || baseUri.Scheme is not ("http" or "https"))
        {
            throw new CliException($"--url expects an absolute http(s) URL, got '{url}'");
        }

        var claude = FindExecutable("claude", System.Environment.GetEnvironmentVariable("PATH"))
            ?? throw new CliException("Claude Code ('claude') is not installed or not on PATH. Install it with: npm install -g @anthropic-ai/claude-code");
        model ??= await ServedModelAsync(url, key).ConfigureAwait(false);

        var start = new ProcessStartInfo(claude) { UseShellExecute = false };
        foreach (var a in passthrough)
        {
            start.ArgumentList.Add(a);
        }

        foreach (var (name, value) in ClaudeEnvironment(url, key, model))
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        await Console.Error.WriteLineAsync($"youtu-server launch: claude → {url} (model {model})").ConfigureAwait(false);
        using var process = Process.Start(start) ?? throw new CliException($"could not start {claude}");
        await process.WaitForExitAsync().ConfigureAwait(false);
        return process.ExitCode;
    }

    /// <summary>The variables Claude Code gets (null = removed from its environment).</summary>
    internal static IReadOnlyList<(string Name, string? Value)> ClaudeEnvironment(string url, string? key, string model)
    {
        // A key given through ANTHROPIC_API_KEY makes an interactive claude ask whether to use it; the bearer token
        // (Authorization: Bearer, accepted by the server like x-api-key) does not.
        var token = string.IsNullOrEmpty(key) ? "youtu-server" : key;
        List<(string, string?)> env =
        [
            ("ANTHROPIC_BASE_URL", url),
            ("ANTHROPIC_AUTH_TOKEN", token),
            ("ANTHROPIC_API_KEY", null),
            ("ANTHROPIC_MODEL", model),
            ("ANTHROPIC_SMALL_FAST_MODEL", model),
            ("ANTHROPIC_DEFAULT_OPUS_MODEL", model),
            ("ANTHROPIC_DEFAULT_SONNET_MODEL", model),
            ("ANTHROPIC_DEFAULT_HAIKU_MODEL", model),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
            ("DISABLE_TELEMETRY", "1"),
            ("DISABLE_AUTOUPDATER", "1"),
            ("DISABLE_ERROR_REPORTING", "1"),
            // No per-request billing line as the first system block (the server drops it anyway; this saves the bytes).
            ("CLAUDE_CODE_ATTRIBUTION_HEADER", "0"),
        ];
        if (System.Environment.GetEnvironmentVariable("API_TIMEOUT_MS") is null)
        {
            // A CPU-served model can take minutes for a long prompt; Claude Code's default would give up first.
            env.Add(("API_TIMEOUT_MS", "1800000"));
        }

        return env;
    }

    /// <summary>The first executable file named <paramref name="name"/> on <paramref name="path"/>, or null.</summary>
    internal static string? FindExecutable(string name, string? path)
    {
        foreach (var dir in (path ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate) && (OperatingSystem.IsWindows() || (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0))
            {
                return candidate;
            }
        }

        return null;
    }

    private static async Task<string> ServedModelAsync(string url, string? key)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var req = new HttpRequestMessage(HttpMethod.Get, url + "/v1/models");
        if (!string.IsNullOrEmpty(key))
        {
            req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        try
        {
            using var res = await http.SendAsync(req).ConfigureAwait(false);
            var body = await res.Content.ReadAsStringAsync().ConfigureAwait(false);
            if (!res.IsSuccessStatusCode)
            {
                throw new CliException($"{url}/v1/models answered {(int)res.StatusCode}{((int)res.StatusCode == 401 ? " (pass --api-key)" : "")}: {body}");
            }

            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.GetProperty("data")[0].GetProperty("id").GetString() ?? throw new CliException($"{url}/v1/models named no model");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new CliException($"no youtu-server answers at {url} ({e.Message}). Start one first: youtu-server serve --ctx-size 32768", e);
        }
    }
}
