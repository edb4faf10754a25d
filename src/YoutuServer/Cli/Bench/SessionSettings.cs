namespace YoutuServer.Cli.Bench;

/// <summary>Options of `youtu-server bench sessions`.</summary>
internal sealed record SessionSettings
{
    public const string Usage = """
        usage: youtu-server bench sessions (--url URL | --model FILE) [options]
          An agent-session replay: N sessions share one system prompt; each runs T turns, interleaved turn by turn
          (turn t of every session before turn t+1); each turn resends the whole history, and the next one appends the
          model's answer and a tool result. Prints per-turn TTFT, prompt / cached / evaluated tokens and hit rate.
          --url URL              a server: youtu-server, llama-server (its timings and cached_tokens are read), ...
          --model FILE           start youtu-server in-process on FILE (with the --parallel, --ctx-size, ... below)
          --api A                chat (/v1/chat/completions) | messages (/v1/messages) (default chat)
          --sessions N           sessions (default 6)
          --turns T              turns per session (default 4)
          --system-tokens S      shared system prompt, in tokens of the server's tokenizer (default 950)
          --task-tokens K        each session's own first user message (default 130)
          --tool-words W         words of the tool result each later turn appends (default 120)
          --max-tokens M         answer length, fixed by ignore_eos + min_tokens (default 16)
          --billing-block        (messages) Claude Code's billing line as the first system block: its cc_version
                                 suffix fixed per session, its cch nonce new on every request, as Claude Code sends it
          --concurrency C        requests of one turn in flight at once (default 1: one request at a time)
          --restart-after K      (--model) stop the server after turn K and start it again (same options, so the
                                 same --cache-dir) before turn K+1
          --seed S               workload seed (texts, nonces; default 1)
          --json FILE            also write every request's figures as JSON
          --served-model NAME    the "model" field (default: the first id of GET /v1/models)
          --api-key KEY          sent as Authorization: Bearer KEY (default: OPENAI_API_KEY, or ANTHROPIC_API_KEY
                                 with --api messages)
          --temperature T        sampling temperature (default: none sent, each server samples with its own defaults,
                                 as agents do; a random-weights model's greedy answers may be all special tokens)
          --timeout S            per-request timeout in seconds (default 1800)
          --threads T            (--model) server threads (default: all cores)
          --parallel P           (--model) server slots (default 2)
          --ctx-size C           (--model) server KV cells (default 8192)
          --batch-size B         (--model) server logical batch (default 512)
          --gpu-layers L         (--model) layers offloaded (default -1)
          --cache-ram MIB        (--model) the server's host-RAM prefix cache (default: the server's)
          --cache-dir DIR        (--model) the server's disk prefix cache (default: none)
          --cache-disk MIB       (--model) bound of the disk cache (default: the server's)
        Thinking is off (chat_template_kwargs.enable_thinking=false; Messages without thinking).
        """;

    public string? Url { get; init; }
    public string? Model { get; init; }
    public string Api { get; init; } = "chat";
    public int Sessions { get; init; } = 6;
    public int Turns { get; init; } = 4;
    public int SystemTokens { get; init; } = 950;
    public int TaskTokens { get; init; } = 130;
    public int ToolWords { get; init; } = 120;
    public int MaxTokens { get; init; } = 16;
    public bool BillingBlock { get; init; }
    public int Concurrency { get; init; } = 1;
    public int RestartAfter { get; init; }
    public int Seed { get; init; } = 1;
    public string? JsonPath { get; init; }
    public string? ServedModel { get; init; }
    public string? ApiKey { get; init; }
    public double Temperature { get; init; } = double.NaN;
    public double TimeoutSeconds { get; init; } = 1800;
    public int Threads { get; init; }
    public int Parallel { get; init; } = 2;
    public int CtxSize { get; init; } = 8192;
    public int BatchSize { get; init; } = 512;
    public int GpuLayers { get; init; } = -1;
    public int? CacheRamMiB { get; init; }
    public string? CacheDir { get; init; }
    public int? CacheDirMiB { get; init; }

    public static SessionSettings Parse(string[] args)
    {
        if (args.Any(a => a is "--help" or "-h"))
        {
            throw new CliException(Usage);
        }

        var cli = new CliArgs(args, new HashSet<string> { "billing-block" });
        var s = new SessionSettings
        {
            Url = cli.Get("url"),
            Model = cli.Get("model"),
            Api = cli.Get("api") ?? "chat",
            Sessions = cli.GetInt("sessions", 6),
            Turns = cli.GetInt("turns", 4),
            SystemTokens = cli.GetInt("system-tokens", 950),
            TaskTokens = cli.GetInt("task-tokens", 130),
            ToolWords = cli.GetInt("tool-words", 120),
            MaxTokens = cli.GetInt("max-tokens", 16),
            BillingBlock = cli.GetBool("billing-block"),
            Concurrency = cli.GetInt("concurrency", 1),
            RestartAfter = cli.GetInt("restart-after", 0),
            Seed = cli.GetInt("seed", 1),
            JsonPath = cli.Get("json"),
            ServedModel = cli.Get("served-model"),
            ApiKey = cli.Get("api-key"),
            Temperature = cli.Get("temperature") is null or "default" ? double.NaN : cli.GetFloat("temperature", 0f),
            TimeoutSeconds = cli.GetFloat("timeout", 1800f),
            Threads = cli.GetInt("threads", 0),
            Parallel = cli.GetInt("parallel", 2),
            CtxSize = cli.GetInt("ctx-size", 8192),
            BatchSize = cli.GetInt("batch-size", 512),
            GpuLayers = cli.GetInt("gpu-layers", -1),
            CacheRamMiB = cli.Get("cache-ram") is null ? null : cli.GetInt("cache-ram", 0),
            CacheDir = cli.Get("cache-dir"),
            CacheDirMiB = cli.Get("cache-disk") is null ? null : cli.GetInt("cache-disk", 0),
        };
        BenchTarget.Finish(cli);
        s.Check();
        return s;
    }

    private void Check()
    {
        BenchTarget.Check(Url, Model, Usage);

        if (Api is not ("chat" or "messages"))
        {
            throw new CliException($"--api must be chat or messages, got '{Api}'");
        }

        if (BillingBlock && Api != "messages")
        {
            throw new CliException("--billing-block needs --api messages (it is a system block of the Messages API)");
        }

        BenchTarget.AtLeast(("sessions", Sessions, 1), ("turns", Turns, 1), ("system-tokens", SystemTokens, 1), ("task-tokens", TaskTokens, 1), ("tool-words", ToolWords, 1), ("max-tokens", MaxTokens, 1), ("concurrency", Concurrency, 1), ("restart-after", RestartAfter, 0), ("parallel", Parallel, 1), ("ctx-size", CtxSize, 64), ("batch-size", BatchSize, 1));

        if (RestartAfter > 0 && Model is null)
        {
            throw new CliException("--restart-after needs --model (the bench can only restart a server it started)");
        }

        if (RestartAfter >= Turns)
        {
            throw new CliException($"--restart-after {RestartAfter} leaves no turn after the restart (--turns {Turns})");
        }

        if (Url is not null && (CacheRamMiB is not null || CacheDir is not null || CacheDirMiB is not null))
        {
            throw new CliException("--cache-ram, --cache-dir and --cache-disk configure the in-process server: they need --model");
        }
    }
}
