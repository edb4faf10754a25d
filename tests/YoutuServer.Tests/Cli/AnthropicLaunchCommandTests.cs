using YoutuServer.Cli;

namespace YoutuServer.Tests.Cli;

/// <summary>`youtu-server launch claude`: the environment Claude Code gets and how claude is found.</summary>
public sealed class AnthropicLaunchCommandTests
{
    [Fact]
    public void Claude_gets_the_server_a_bearer_token_the_model_and_the_offline_variables()
    {
        var env = LaunchClaudeCommand.ClaudeEnvironment("http://127.0.0.1:9999", null, "youtu-llm-2b").ToDictionary(e => e.Name, e => e.Value);
        Assert.Equal("http://127.0.0.1:9999", env["ANTHROPIC_BASE_URL"]);
        Assert.False(string.IsNullOrEmpty(env["ANTHROPIC_AUTH_TOKEN"]));
        Assert.Null(env["ANTHROPIC_API_KEY"]);
        foreach (var name in new[] { "ANTHROPIC_MODEL", "ANTHROPIC_SMALL_FAST_MODEL", "ANTHROPIC_DEFAULT_SONNET_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL" })
        {
            Assert.Equal("youtu-llm-2b", env[name]);
        }

        foreach (var name in new[] { "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "DISABLE_TELEMETRY", "DISABLE_AUTOUPDATER" })
        {
            Assert.Equal("1", env[name]);
        }

        // Claude Code then sends no per-request billing line at the front of its system prompt.
        Assert.Equal("0", env["CLAUDE_CODE_ATTRIBUTION_HEADER"]);
        Assert.Equal("sk-x", LaunchClaudeCommand.ClaudeEnvironment("http://h", "sk-x", "m").Single(e => e.Name == "ANTHROPIC_AUTH_TOKEN").Value);
    }

    [Fact]
    public void Claude_is_found_only_as_an_executable_on_the_path()
    {
        var dir = Directory.CreateTempSubdirectory("youtu-launch-");
        try
        {
            var plain = Path.Combine(dir.FullName, "plain");
            Directory.CreateDirectory(plain);
            File.WriteAllText(Path.Combine(plain, "claude"), "not executable");
            Assert.Null(LaunchClaudeCommand.FindExecutable("claude", plain));
            Assert.Null(LaunchClaudeCommand.FindExecutable("claude", ""));

            var bin = Path.Combine(dir.FullName, "bin");
            Directory.CreateDirectory(bin);
            var exe = Path.Combine(bin, "claude");
            File.WriteAllText(exe, "#!/bin/sh\n");
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(exe, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                File.SetUnixFileMode(Path.Combine(plain, "claude"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            Assert.Equal(exe, LaunchClaudeCommand.FindExecutable("claude", plain + Path.PathSeparator + bin));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
