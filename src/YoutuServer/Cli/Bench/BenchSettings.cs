using System.Globalization;

namespace YoutuServer.Cli.Bench;

/// <summary>Options of `youtu-server bench serve`.</summary>
internal sealed record BenchSettings
{
    public const string Usage = """
        usage: youtu-server bench serve (--url URL | --model FILE) [options]
          --url URL              an OpenAI-compatible server (youtu-server, llama-server, vLLM, ...)
          --model FILE           start youtu-server in-process on FILE and also run the raw llama.cpp baseline
          --concurrency N        streaming clients of the load run (default 8)
          --requests M           requests of the load run (default 64)
          --prompt-tokens a,b,c  prompt lengths mixed in the load run (default 128,512)
          --max-tokens x,y       output lengths mixed in the load run, fixed by ignore_eos + min_tokens (default 64,256)
          --seed S               workload seed (prompts, mix, sampling seeds; default 1)
          --json FILE            also write all results as JSON
          --threads T            (--model) threads of the raw baseline and the server (default: all cores)
          --parallel P           (--model) server slots (default 8)
          --ctx-size C           (--model) server KV cells (default 8192)
          --batch-size B         (--model) logical batch of the raw baseline and the server (default 512)
          --gpu-layers L         (--model) layers offloaded (default -1: all when a GPU backend is present)
          --step-tokens N        (--model) server tokens per step (default 0: the batch size)
          --prompt-chunk N       (--model) server cap on prompt tokens per step while others generate (default 0: none;
                                 128 reproduces the scheduler before the step-budget policy)
          --scenarios LIST       any of ratio,ttft,load,prefix (default: all)
          --ratio-prompt N       prompt tokens of the ratio and TTFT runs (default 128)
          --ratio-tokens N       decode steps per stream of the ratio runs (default 256)
          --repeats R            repetitions of the ratio runs; medians are reported (default 3)
          --ttft-requests K      sequential requests of the TTFT run (default 20)
          --prefix-tokens N      shared prefix of the prefix-reuse scenario (default 2000)
          --prefix-repeats R     conversations of the prefix-reuse scenario (default 3)
          --endpoint E           completions (token-id prompts when /tokenize exists) | chat (default completions)
          --served-model NAME    the "model" field (default: the first id of GET /v1/models); a comma-separated
                                 list (base model and LoRA adapters) spreads the load run's requests over them
          --api-key KEY          sent as Authorization: Bearer KEY
          --temperature T        sampling temperature (default 0: greedy, as the raw baseline); "default" sends no
                                 temperature, so each server samples with its own defaults (YoutuServer: Youtu's preset)
          --timeout S            per-request timeout in seconds (default 600)
          --no-progress          no progress bar on stderr
        """;

    public string? Url { get; init; }
    public string? Model { get; init; }
    public int Concurrency { get; init; } = 8;
    public int Requests { get; init; } = 64;
    public IReadOnlyList<int> PromptTokens { get; init; } = [128, 512];
    public IReadOnlyList<int> MaxTokens { get; init; } = [64, 256];
    public int Seed { get; init; } = 1;
    public string? JsonPath { get; init; }
    public int Threads { get; init; }
    public int Parallel { get; init; } = 8;
    public int CtxSize { get; init; } = 8192;
    public int BatchSize { get; init; } = 512;
    public int GpuLayers { get; init; } = -1;
    public int StepTokens { get; init; }
    public int PromptChunk { get; init; }
    public IReadOnlySet<string> Scenarios { get; init; } = new HashSet<string> { "ratio", "ttft", "load", "prefix" };
    public int RatioPrompt { get; init; } = 128;
    public int RatioTokens { get; init; } = 256;
    public int Repeats { get; init; } = 3;
    public int TtftRequests { get; init; } = 20;
    public int PrefixTokens { get; init; } = 2000;
    public int PrefixRepeats { get; init; } = 3;
    public string Endpoint { get; init; } = "completions";
    public string? ServedModel { get; init; }
    public string? ApiKey { get; init; }
    public double Temperature { get; init; }
    public double TimeoutSeconds { get; init; } = 600;
    public bool Progress { get; init; } = true;

    public static BenchSettings Parse(string[] args)
    {
        if (args.Any(a => a is "--help" or "-h"))
        {
            throw new CliException(Usage);
        }

        var cli = new CliArgs(args, new HashSet<string> { "no-progress" });
        var s = new BenchSettings
        {
            Url = cli.Get("url"),
            Model = cli.Get("model"),
            Concurrency = cli.GetInt("concurrency", 8),
            Requests = cli.GetInt("requests", 64),
            PromptTokens = IntList(cli, "prompt-tokens", [128, 512]),
            MaxTokens = IntList(cli, "max-tokens", [64, 256]),
            Seed = cli.GetInt("seed", 1),
            JsonPath = cli.Get("json"),
            Threads = cli.GetInt("threads", 0),
            Parallel = cli.GetInt("parallel", 8),
            CtxSize = cli.GetInt("ctx-size", 8192),
            BatchSize = cli.GetInt("batch-size", 512),
            GpuLayers = cli.GetInt("gpu-layers", -1),
            StepTokens = cli.GetInt("step-tokens", 0),
            PromptChunk = cli.GetInt("prompt-chunk", 0),
            Scenarios = (cli.Get("scenarios") ?? "ratio,ttft,load,prefix").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal),
            RatioPrompt = cli.GetInt("ratio-prompt", 128),
            RatioTokens = cli.GetInt("ratio-tokens", 256),
            Repeats = cli.GetInt("repeats", 3),
            TtftRequests = cli.GetInt("ttft-requests", 20),
            PrefixTokens = cli.GetInt("prefix-tokens", 2000),
            PrefixRepeats = cli.GetInt("prefix-repeats", 3),
            Endpoint = cli.Get("endpoint") ?? "completions",
            ServedModel = cli.Get("served-model"),
            ApiKey = cli.Get("api-key"),
            Temperature = cli.Get("temperature") == "default" ? double.NaN : cli.GetFloat("temperature", 0f),
            TimeoutSeconds = cli.GetFloat("timeout", 600f),
            Progress = !cli.GetBool("no-progress"),
        };
        BenchTarget.Finish(cli);
        s.Check();
        return s;
    }

    private void Check()
    {
        BenchTarget.Check(Url, Model, Usage);
        BenchTarget.AtLeast(("concurrency", Concurrency, 1), ("requests", Requests, 1), ("parallel", Parallel, 1), ("ratio-prompt", RatioPrompt, 1), ("ratio-tokens", RatioTokens, 2), ("repeats", Repeats, 1), ("ttft-requests", TtftRequests, 1), ("prefix-tokens", PrefixTokens, 1), ("prefix-repeats", PrefixRepeats, 1), ("ctx-size", CtxSize, 64), ("batch-size", BatchSize, 1));

        if (PromptTokens.Count == 0 || PromptTokens.Any(p => p < 1) || MaxTokens.Count == 0 || MaxTokens.Any(m => m < 1))
        {
            throw new CliException("--prompt-tokens and --max-tokens need positive integers");
        }

        if (Endpoint is not ("completions" or "chat"))
        {
            throw new CliException($"--endpoint must be completions or chat, got '{Endpoint}'");
        }

        var unknown = Scenarios.Where(x => x is not ("ratio" or "ttft" or "load" or "prefix")).ToList();
        if (unknown.Count > 0)
        {
            throw new CliException($"unknown scenario(s): {string.Join(", ", unknown)} (expected ratio, ttft, load, prefix)");
        }

        if (Model is not null && Scenarios.Contains("ratio") && 8L * (RatioPrompt + RatioTokens + 1) > CtxSize)
        {
            throw new CliException($"--ctx-size {CtxSize} cannot hold 8 streams of {RatioPrompt} + {RatioTokens} tokens; raise --ctx-size or lower --ratio-prompt/--ratio-tokens");
        }
    }

    private static int[] IntList(CliArgs cli, string key, int[] fallback)
    {
        var s = cli.Get(key);
        if (s is null)
        {
            return fallback;
        }

        try
        {
            return s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (FormatException)
        {
            throw new CliException($"--{key} expects comma-separated integers, got '{s}'");
        }
        catch (OverflowException)
        {
            throw new CliException($"--{key} expects comma-separated integers, got '{s}'");
        }
    }
}
