namespace YoutuServer.Hosting;

/// <summary>
/// Server settings, bound from the "Youtu" configuration section: appsettings.json, environment variables
/// (YOUTU__PORT, YOUTU__MODEL, ...) and command-line options (--port, --model, ...), later sources winning.
/// </summary>
internal sealed class ServerOptions
{
    public const string Section = "Youtu";

    /// <summary>A GGUF path or a models.json id/alias; empty = the catalog's default model.</summary>
    public string? Model { get; set; }
    /// <summary>Name the API reports for the served model; default: the catalog id or the file name.</summary>
    public string? ModelAlias { get; set; }
    /// <summary>
    /// Client-side model names routed to the served model, each "NAME=ID" (<c>--model-alias NAME=ID</c>, repeatable;
    /// a trailing * in NAME matches any suffix: "claude-*=youtu-llm-2b"). ID must name the served model.
    /// </summary>
    public List<string> ModelAliasMap { get; set; } = [];
    public string? ModelsFile { get; set; }
    /// <summary>Where downloaded and synthesized models live.</summary>
    public string? ModelsDir { get; set; }
    public string Host { get; set; } = "127.0.0.1";
    public int Port { get; set; } = 8080;

    public int Parallel { get; set; } = 4;
    public int CtxSize { get; set; } = 8192;
    public int QueueSize { get; set; } = 64;
    public int BatchSize { get; set; } = 512;
    /// <summary>Most tokens per scheduler step (decode first, then prompts shortest-first); 0 = BatchSize.</summary>
    public int StepTokens { get; set; }
    /// <summary>Optional cap on prompt tokens per step while others generate; 0 = none.</summary>
    public int PromptChunk { get; set; }
    /// <summary>Threads sampling a step's sequences (0 auto, 1 off).</summary>
    public int SamplingThreads { get; set; }
    /// <summary>managed (default) | llama: where the sampling stages run.</summary>
    public string Sampler { get; set; } = "managed";
    public int Threads { get; set; }
    public int GpuLayers { get; set; } = -1;
    public int FlashAttention { get; set; } = -1;
    public bool? UseExtraBufts { get; set; }
    /// <summary>null = map the file unless weights are repacked on the CPU (see EngineOptions.UseMmap).</summary>
    public bool? UseMmap { get; set; }
    public bool PrefixCache { get; set; } = true;
    /// <summary>
    /// Host-RAM tier of the prefix cache in MiB (<c>--cache-ram</c>): states of sequences whose cells are given to other
    /// requests are kept here and restored when a session continues. -1 = automatic (8192 MiB, at most a quarter of the
    /// memory available at start); 0 = off.
    /// </summary>
    public int CacheRamMiB { get; set; } = -1;
    /// <summary>Disk tier of the prefix cache (<c>--cache-dir</c>): states spill here from RAM and survive a restart; null = off.</summary>
    public string? CacheDir { get; set; }
    /// <summary>Bound of the disk tier in MiB (<c>--cache-disk</c>); least recently used files go first.</summary>
    public int CacheDiskMiB { get; set; } = 10_240;
    /// <summary>LoRA adapters to serve beside the model, each "ID=PATH[:SCALE]" (--lora, repeatable); models.json
    /// adapters whose base is the served model are added to these.</summary>
    public List<string> Lora { get; set; } = [];
    /// <summary>Decode steps an adapter group keeps the engine before the next group's turn.</summary>
    public int AdapterQuantumSteps { get; set; } = 4;
    public string? NativeDir { get; set; }
    /// <summary>auto | cpu | cuda.</summary>
    public string NativeFlavour { get; set; } = "auto";
    public string? CpuVariant { get; set; }

    /// <summary>Thinking on by default (Youtu's default), unless a request says otherwise.</summary>
    public bool Thinking { get; set; } = true;
    /// <summary>parsed: reasoning_content; raw: think tags stay in content.</summary>
    public string ReasoningFormat { get; set; } = "parsed";
    /// <summary>
    /// Names of the Responses stream's reasoning-text events (<c>--responses-reasoning-events</c>): <c>openai</c> (the
    /// default: <c>response.reasoning_text.delta/.done</c>, what OpenAI's API sends and the SDKs, Codex and the Agents
    /// SDK read) or <c>open-responses</c> (<c>response.reasoning.delta/.done</c>, the Open Responses specification's names).
    /// </summary>
    public string ResponsesReasoningEvents { get; set; } = "openai";
    /// <summary>Server-wide thinking budget in tokens; -1 = unlimited.</summary>
    public int ReasoningBudget { get; set; } = -1;
    /// <summary>auto | youtu | a llama.cpp built-in template name (chatml, llama3, ...).</summary>
    public string ChatFormat { get; set; } = "auto";
    /// <summary>
    /// Sampling seed for requests that set none (llama-server's --seed); null = a fresh random seed per request.
    /// With a fixed seed, unseeded requests are reproducible (tests, replaying a failure).
    /// </summary>
    public long? Seed { get; set; }

    /// <summary>The seed of one request: its own, else the server's, else a random one.</summary>
    public uint ResolveSeed(long? requested) =>
        requested is { } s ? unchecked((uint)s) : Seed is { } d ? unchecked((uint)d) : (uint)Random.Shared.Next();

    /// <summary>Default max tokens when a request sets none; -1 = up to the context.</summary>
    public int DefaultMaxTokens { get; set; } = -1;

    /// <summary>
    /// Secret that seals reasoning handed to stateless clients (Responses' encrypted_content, Anthropic's thinking
    /// signature). Replicas behind one gateway must share it; empty = a random key per process.
    /// </summary>
    public string? ReasoningKey { get; set; }

    /// <summary>Responses API store (previous_response_id, GET /v1/responses/{id}): at most this many responses...</summary>
    public int ResponsesStoreItems { get; set; } = 1000;
    /// <summary>...and about this many bytes; the least recently used are evicted first.</summary>
    public long ResponsesStoreBytes { get; set; } = 128L * 1024 * 1024;

    /// <summary>Output memory (finished turns kept token for token for the prefix cache): at most this many turns...</summary>
    public int OutputMemoryItems { get; set; } = 4096;
    /// <summary>...and about this many bytes (4 per token plus the text).</summary>
    public long OutputMemoryBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Tool-use memory (Anthropic tool calls' exact argument text): at most this many calls...</summary>
    public int ToolUseMemoryItems { get; set; } = 16_384;
    /// <summary>...and about this many bytes.</summary>
    public long ToolUseMemoryBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>
    /// The share (0-1] of each state store's bounds one tenant (API key) may hold (<c>--state-tenant-share</c>); 1 = no
    /// per-tenant bound beyond the store's. Unset: <see cref="KeyedTenantShare"/> with API keys on (one key cannot fill
    /// a store and evict everyone else's), 1 without keys (every request is the one anonymous tenant).
    /// </summary>
    public double? StateTenantShare { get; set; }

    /// <summary>The default tenant share with API keys on.</summary>
    public const double KeyedTenantShare = 0.25;

    /// <summary>The tenant share the state stores use: <see cref="StateTenantShare"/> or its default.</summary>
    public double EffectiveStateTenantShare =>
        StateTenantShare ?? (ApiKeys.Count > 0 || !string.IsNullOrWhiteSpace(ApiKeysFile) ? KeyedTenantShare : 1.0);

    /// <summary>
    /// Where session state lives (stored responses, output and tool_use memories): "memory" (this process) or
    /// "redis://HOST:PORT[,options]", a Redis-protocol store shared by replicas (<c>--state-store</c>).
    /// </summary>
    public string StateStore { get; set; } = "memory";
    /// <summary>Seconds shared session state lives after its last use (<c>--state-ttl</c>); default 7 days.</summary>
    public int StateTtlSeconds { get; set; } = 7 * 24 * 3600;
    /// <summary>This replica's name in the x-youtu-replica response header; default HOSTNAME-PID.</summary>
    public string? ReplicaId { get; set; }

    public List<string> ApiKeys { get; set; } = [];
    public string? ApiKeysFile { get; set; }
    public bool MetricsRequireKey { get; set; }
    public List<string> CorsOrigins { get; set; } = [];
    public long MaxRequestBodyBytes { get; set; } = 8 * 1024 * 1024;
    /// <summary>Requests per minute per API key (or client address); 0 = unlimited.</summary>
    public int RateLimitPerMinute { get; set; }
    public int DrainTimeoutSeconds { get; set; } = 30;
    /// <summary>Seconds of quiet (queued, prompt evaluation, a slow step) before an Anthropic stream sends a ping event.</summary>
    public double StreamPingSeconds { get; set; } = 2;

    /// <summary>Open Responses WebSocket connections at most (GET /v1/responses upgrades); more are closed with 1013.</summary>
    public int WsMaxConnections { get; set; } = 64;
    /// <summary>Seconds a WebSocket may stay without a client message while nothing runs; then closed with 1001.</summary>
    public double WsIdleTimeoutSeconds { get; set; } = 600;
    /// <summary>Largest client message on a Responses WebSocket, in bytes; 0 = the HTTP body limit. Larger: closed with 1009.</summary>
    public long WsMaxMessageBytes { get; set; }
    /// <summary>Minutes a Responses WebSocket may stay open (OpenAI: 60); then closed with 1001 after the running response.</summary>
    public double WsMaxLifetimeMinutes { get; set; } = 60;

    public bool LogJson { get; set; }
    public bool LogPrompts { get; set; }
    public string? OtlpEndpoint { get; set; }
}
