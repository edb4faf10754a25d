namespace YoutuServer.Cli;

/// <summary><c>youtu-server launch claude|codex [OPTIONS] [-- ARGS]</c>: runs a coding agent against a running server.</summary>
internal static class LaunchCommand
{
    public static Task<int> RunAsync(string[] args)
    {
        var dash = Array.IndexOf(args, "--");
        var own = dash < 0 ? args : args[..dash];
        return own.FirstOrDefault(a => a is "claude" or "codex") switch
        {
            "claude" => LaunchClaudeCommand.RunAsync(args),
            "codex" => LaunchCodexCommand.RunAsync(args),
            _ => throw new CliException("usage: youtu-server launch claude|codex [--url URL] [--model ID] [--api-key KEY] [-- ARGS]"),
        };
    }
}
