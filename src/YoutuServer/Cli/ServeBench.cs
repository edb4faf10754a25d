namespace YoutuServer.Cli;

/// <summary>`youtu-server bench serve`: end-to-end load generator (being written).</summary>
internal static class ServeBench
{
    public static Task<int> RunAsync(string[] args)
    {
        _ = args;
        throw new CliException("bench serve is not implemented yet");
    }
}
