using YoutuServer.Cli;

namespace YoutuServer.Tests.Cli;

/// <summary>`youtu-server launch codex` with a stand-in `codex` script that records what it was given.</summary>
public sealed class LaunchCommandTests
{
    [Fact]
    public async Task Launch_codex_writes_a_responses_provider_config_and_passes_arguments_through()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var dir = Directory.CreateTempSubdirectory("youtu-launch-test-").FullName;
        try
        {
            var record = Path.Combine(dir, "record.txt");
            var script = Path.Combine(dir, "codex");
            await File.WriteAllTextAsync(script, $"#!/bin/sh\n{{ printf '%s\\n' \"$@\"; echo \"KEY=$YOUTU_API_KEY\"; cat \"$CODEX_HOME/config.toml\"; }} > '{record}'\nexit 3\n");
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            using var stdout = new StringWriter();
            using var stderr = new StringWriter();

            var code = await LaunchCodexCommand.RunAsync(
                ["codex", "--url", "http://127.0.0.1:9", "--model", "tiny", "--api-key", "sk-x", "--", "exec", "say hi"], script, stdout, stderr);

            Assert.Equal(3, code); // Codex's own exit code
            var text = await File.ReadAllTextAsync(record);
            Assert.StartsWith("exec\nsay hi\nKEY=sk-x\n", text, StringComparison.Ordinal);
            Assert.Contains("model = \"tiny\"", text, StringComparison.Ordinal);
            Assert.Contains("model_provider = \"youtu\"", text, StringComparison.Ordinal);
            Assert.Contains("base_url = \"http://127.0.0.1:9/v1\"", text, StringComparison.Ordinal);
            Assert.Contains("wire_api = \"responses\"", text, StringComparison.Ordinal);
            Assert.Contains("env_key = \"YOUTU_API_KEY\"", text, StringComparison.Ordinal);
            Assert.Contains("web_search = false", text, StringComparison.Ordinal);
            Assert.Contains("plugins = false", text, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Launch_codex_without_codex_installed_says_how_to_install_it()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await LaunchCodexCommand.RunAsync(["codex", "--model", "tiny"], "/nonexistent/codex", stdout, stderr);
        Assert.Equal(127, code);
        Assert.Contains("npm install -g @openai/codex", stderr.ToString(), StringComparison.Ordinal);
    }
}
