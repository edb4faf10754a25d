using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace YoutuServer.Cli;

/// <summary>
/// <c>youtu-server launch codex [--url URL] [--model ID] [--api-key KEY] [-- ARGS]</c>: runs the Codex CLI against a
/// running youtu-server, the way <c>ollama launch</c> does. Writes a temporary Codex home whose config.toml names this
/// server as a custom provider (<c>wire_api = "responses"</c>), turns off Codex's network-only features (hosted web
/// search, plugin sync), passes ARGS through and returns Codex's exit code.
/// </summary>
internal static class LaunchCodexCommand
{
    public const string CodexPathVariable = "YOUTU_CODEX";

    public static Task<int> RunAsync(string[] args) => RunAsync(args, Environment.GetEnvironmentVariable(CodexPathVariable), Console.Out, Console.Error);

    internal static async Task<int> RunAsync(string[] args, string? codexPath, TextWriter stdout, TextWriter stderr)
    {
        var split = Array.IndexOf(args, "--");
        var own = split < 0 ? args : args[..split];
        var passThrough = split < 0 ? [] : args[(split + 1)..];
        var cli = new CliArgs(own);
        if (cli.Positionals is not ["codex"])
        {
            throw new CliException("usage: youtu-server launch codex [--url URL] [--model ID] [--api-key KEY] [-- CODEX-ARGS]");
        }

        var url = (cli.Get("url") ?? Environment.GetEnvironmentVariable("YOUTU_URL") ?? "http://127.0.0.1:8080").TrimEnd('/');
        var key = cli.Get("api-key") ?? Environment.GetEnvironmentVariable("YOUTU_API_KEY");
        var model = cli.Get("model");
        cli.RejectUnknown();

        var codex = FindCodex(codexPath);
        if (codex is null)
        {
            await stderr.WriteLineAsync("youtu-server launch codex: the Codex CLI is not installed. Install it with `npm install -g @openai/codex` " +
                $"(or set {CodexPathVariable} to its path), then run this again.");
            return 127;
        }

        model ??= await ServedModelAsync(url, key) ?? "youtu-llm-2b";
        // Not under /tmp: Codex refuses to put its helper binaries in a temporary directory.
        var cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        var home = Path.Combine(cache, "youtu-server", "codex-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(home);
        try
        {
            await File.WriteAllTextAsync(Path.Combine(home, "config.toml"), Config(url, model, key is not null));
            await stdout.WriteLineAsync($"youtu-server launch codex: {codex} against {url}/v1 (model {model}, wire_api responses)");
            var start = new ProcessStartInfo(codex) { UseShellExecute = false };
            foreach (var a in passThrough)
            {
                start.ArgumentList.Add(a);
            }

            start.Environment["CODEX_HOME"] = home;
            if (key is not null)
            {
                start.Environment["YOUTU_API_KEY"] = key;
            }

            using var process = Process.Start(start) ?? throw new CliException($"could not start {codex}");
            await process.WaitForExitAsync();
            return process.ExitCode;
        }
        finally
        {
            try
            {
                Directory.Delete(home, recursive: true);
            }
            catch (IOException)
            {
                // Codex may leave a file open for a moment; a stray temp folder is harmless.
            }
        }
    }

    /// <summary>The Codex config: this server as the provider, nothing that needs OpenAI's own services.</summary>
    internal static string Config(string url, string model, bool withKey)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"model = {Toml(model)}\n");
        sb.Append("model_provider = \"youtu\"\n");
        sb.Append("model_reasoning_summary = \"auto\"\n\n");
        sb.Append("[model_providers.youtu]\n");
        sb.Append("name = \"YoutuServer\"\n");
        sb.Append(CultureInfo.InvariantCulture, $"base_url = {Toml(url + "/v1")}\n");
        sb.Append("wire_api = \"responses\"\n");
        sb.Append(withKey ? "env_key = \"YOUTU_API_KEY\"\n" : "requires_openai_auth = false\n");
        sb.Append("\n[tools]\nweb_search = false\n");
        sb.Append("\n[features]\nplugins = false\n");
        return sb.ToString();
    }

    /// <summary>A TOML basic string (JSON's escaping is a valid subset).</summary>
    private static string Toml(string value) => JsonSerializer.Serialize(value, Api.ApiJsonContext.Wire.String);

    private static string? FindCodex(string? configured)
    {
        if (!string.IsNullOrEmpty(configured))
        {
            return File.Exists(configured) ? configured : null;
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, OperatingSystem.IsWindows() ? "codex.cmd" : "codex");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>The model the server reports on /v1/models, or null when it cannot be asked.</summary>
    private static async Task<string?> ServedModelAsync(string url, string? key)
    {
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            using var request = new HttpRequestMessage(HttpMethod.Get, url + "/v1/models");
            if (key is not null)
            {
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
            }

            using var response = await http.SendAsync(request);
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return doc.RootElement.GetProperty("data")[0].GetProperty("id").GetString();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException)
        {
            return null;
        }
    }
}
