namespace YoutuServer.Cli;

/// <summary>`youtu-server bench engine|serve|sampling|sessions`.</summary>
internal static class BenchCommand
{
    public static Task<int> RunAsync(string[] args)
    {
        var what = args.Length > 0 ? args[0] : "";
        return what switch
        {
            "engine" => EngineBench.RunAsync(args[1..]),
            "serve" => ServeBench.RunAsync(args[1..]),
            "sampling" => SamplingBench.RunAsync(args[1..]),
            "sessions" => SessionsBench.RunAsync(args[1..]),
            _ => throw new CliException("usage: youtu-server bench engine --model FILE [--parallel N] [--tokens N] [--prompt N] | bench sampling [--sequences N] [--threads N] | bench serve (--url URL | --model FILE) [--concurrency N] [--requests M] | bench sessions (--url URL | --model FILE) [--api chat|messages] [--sessions N] [--turns T]"),
        };
    }
}
