using Microsoft.Extensions.Options;
using YoutuServer.Engine;
using YoutuServer.Models;

namespace YoutuServer.Hosting;

/// <summary>
/// Owns the engine for the lifetime of the web host. The model loads in StartAsync, which the host runs before
/// Kestrel starts listening, so /health/ready never reports ready before the model is there. On shutdown the
/// engine stops after Kestrel has drained its requests (see DrainCoordinator).
/// </summary>
internal sealed partial class EngineHost : IHostedService, IAsyncDisposable
{
    private readonly ServerOptions options;
    private readonly ILoggerFactory loggerFactory;
    private readonly ILogger<EngineHost> logger;
    private InferenceEngine? engine;

    public EngineHost(IOptions<ServerOptions> options, ILoggerFactory loggerFactory)
    {
        this.options = options.Value;
        this.loggerFactory = loggerFactory;
        logger = loggerFactory.CreateLogger<EngineHost>();
    }

    public InferenceEngine Engine => engine ?? throw new InvalidOperationException("the model is not loaded yet");
    public bool IsReady => engine is not null;
    public ModelEntry? CatalogEntry { get; private set; }
    public ModelCatalog Catalog { get; private set; } = ModelCatalog.Empty;
    /// <summary>The id clients use in "model" (and that /v1/models lists).</summary>
    public string ServedModelId { get; private set; } = "";
    /// <summary>Other names "model" may carry for the served model (its catalog aliases; for a stand-in demo, the default's id and aliases).</summary>
    public IReadOnlyList<string> ServedAliases { get; private set; } = [];
    /// <summary>LoRA adapters served beside the model; a request selects one by its id in "model".</summary>
    public IReadOnlyList<ServedAdapter> ServedAdapters { get; private set; } = [];
    public bool IsDemoModel { get; private set; }

    /// <summary>
    /// The catalog default whose weights are missing and for which the synthesized demo model answers (null when the
    /// demo does not stand in for it). Requests for this id are served, with the <see cref="DemoModelHeader"/>
    /// warning, so the README's example and clients configured for the real model name work on a fresh machine.
    /// </summary>
    public string? StandsInFor { get; private set; }

    /// <summary>Response header on every answer while the synthesized demo model is served (the start-up warning, per response).</summary>
    public const string DemoModelHeader = "x-youtu-demo-model";

    private IReadOnlyList<string> standInAliases = [];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var (path, entry, catalog) = ResolveModel();
        var servedId = options.ModelAlias ?? entry?.Id ?? Path.GetFileNameWithoutExtension(path);
        var clientAliases = ClientAliases(options.ModelAliasMap, servedId, entry, StandsInFor is null ? [] : [StandsInFor, .. standInAliases]);
        Catalog = catalog;
        CatalogEntry = entry;
        var adapters = ResolveAdapters(entry, catalog);
        if (options.CacheRamMiB < -1)
        {
            throw new ConfigurationException($"--cache-ram: expected MiB (0 = off, -1 = automatic), got {options.CacheRamMiB}.");
        }

        if (options.CacheDiskMiB < 1)
        {
            throw new ConfigurationException($"--cache-disk: expected a bound in MiB of at least 1, got {options.CacheDiskMiB}.");
        }

        var engineOptions = new EngineOptions
        {
            ModelPath = path,
            Library = new LlamaLibraryOptions
            {
                Directory = options.NativeDir,
                Backend = options.NativeFlavour.ToLowerInvariant() switch
                {
                    "cpu" => LlamaBackend.Cpu,
                    "cuda" => LlamaBackend.Cuda,
                    _ => LlamaBackend.Auto,
                },
                CpuVariant = options.CpuVariant,
            },
            Parallel = options.Parallel,
            CtxSize = options.CtxSize,
            QueueSize = options.QueueSize,
            BatchSize = options.BatchSize,
            StepTokens = options.StepTokens,
            PromptChunkWhileGenerating = options.PromptChunk,
            SamplingThreads = options.SamplingThreads,
            SamplerMode = options.Sampler.Equals("llama", StringComparison.OrdinalIgnoreCase) ? YoutuServer.Engine.Sampling.SamplerMode.LlamaChain : YoutuServer.Engine.Sampling.SamplerMode.Managed,
            Threads = options.Threads,
            GpuLayers = options.GpuLayers,
            FlashAttention = options.FlashAttention,
            UseExtraBufts = options.UseExtraBufts,
            UseMmap = options.UseMmap,
            PrefixCache = options.PrefixCache,
            CacheRamMiB = options.CacheRamMiB,
            CacheDir = string.IsNullOrWhiteSpace(options.CacheDir) ? null : options.CacheDir,
            CacheDiskMiB = options.CacheDiskMiB,
            Adapters = [.. adapters.Select(a => a.Options)],
            AdapterQuantumSteps = options.AdapterQuantumSteps,
        };
        engine = await InferenceEngine.StartAsync(engineOptions, loggerFactory).ConfigureAwait(false);
        ServedModelId = servedId;
        ServedAliases = StandsInFor is null
            ? [.. entry?.Aliases ?? [], .. clientAliases]
            : [.. new[] { StandsInFor }.Concat(standInAliases).Where(a => !string.Equals(a, ServedModelId, StringComparison.OrdinalIgnoreCase)), .. clientAliases];
        ServedAdapters = [.. adapters.Select(a => new ServedAdapter(a.Options.Id, a.Description))];
        foreach (var a in ServedAdapters.Where(a => string.Equals(a.Id, ServedModelId, StringComparison.OrdinalIgnoreCase)
                     || ServedAliases.Contains(a.Id, StringComparer.OrdinalIgnoreCase)))
        {
            throw new InvalidDataException($"LoRA adapter id '{a.Id}' is also the served model's name; give the adapter another id");
        }
        foreach (var (alias, adapter) in WildcardClashes(ServedAliases, ServedAdapters))
        {
            LogAliasClash(alias, adapter);
        }

        LogReady(ServedModelId, path, options.Parallel, options.CtxSize);
    }

    /// <summary>Wildcard aliases (<c>claude-*</c>) that also match an adapter's id: the exact id wins, reported at start-up.</summary>
    public static IEnumerable<(string Alias, string Adapter)> WildcardClashes(IReadOnlyList<string> aliases, IReadOnlyList<ServedAdapter> adapters) =>
        from alias in aliases
        where alias.EndsWith('*')
        from adapter in adapters
        where adapter.Id.StartsWith(alias[..^1], StringComparison.OrdinalIgnoreCase)
        select (alias, adapter.Id);

    private (string Path, ModelEntry? Entry, ModelCatalog Catalog) ResolveModel()
    {
        var catalogPath = ModelCatalog.Locate(options.ModelsFile);
        var catalog = catalogPath is not null ? ModelCatalog.Load(catalogPath) : ModelCatalog.Empty;
        var requested = options.Model;
        if (!string.IsNullOrWhiteSpace(requested))
        {
            if (File.Exists(requested))
            {
                return (Path.GetFullPath(requested), null, catalog);
            }

            var hit = catalog.Find(requested) ?? throw new FileNotFoundException(
                $"--model '{requested}' is neither a GGUF file nor an id in {catalogPath ?? "models.json"}.");
            var local = catalog.LocalPath(hit, options.ModelsDir);
            return File.Exists(local)
                ? (local, hit, catalog)
                : throw new FileNotFoundException($"model '{hit.Id}' is not downloaded yet ({local}). Run: youtu-server pull {hit.Id}");
        }

        if (catalog.Default is { } def)
        {
            var local = catalog.LocalPath(def, options.ModelsDir);
            if (File.Exists(local))
            {
                return (local, def, catalog);
            }

            // The embedded default: no weights here, so synthesize the tiny Youtu-shaped demo model once.
            var demo = DemoModel.EnsureSynthesized(options.ModelsDir);
            IsDemoModel = true;
            StandsInFor = def.Id;
            standInAliases = def.Aliases;
            LogDemoModel(def.Id, local, def.Id, demo);
            return (demo, null, catalog);
        }

        var fallback = DemoModel.EnsureSynthesized(options.ModelsDir);
        IsDemoModel = true;
        StandsInFor = DemoModel.DefaultModelId;
        LogDemoModel("(none)", "(no models.json)", DemoModel.DefaultModelId, fallback);
        return (fallback, null, catalog);
    }

    /// <summary>models.json adapters of the served catalog model, then --lora ID=PATH[:SCALE] options.</summary>
    private List<(LoraAdapterOptions Options, string? Description)> ResolveAdapters(ModelEntry? entry, ModelCatalog catalog)
    {
        var list = new List<(LoraAdapterOptions, string?)>();
        if (entry is not null)
        {
            foreach (var a in catalog.AdaptersFor(entry))
            {
                list.Add((new LoraAdapterOptions(a.Id, catalog.AdapterPath(a, options.ModelsDir), a.Scale ?? 1f), a.Description));
            }
        }

        foreach (var spec in options.Lora)
        {
            list.Add((ParseLora(spec), null));
        }

        return list;
    }

    /// <summary>"ID=PATH[:SCALE]": the scale is the text after the last ':' when it is a number.</summary>
    internal static LoraAdapterOptions ParseLora(string spec)
    {
        var eq = spec.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0 || eq == spec.Length - 1)
        {
            throw new InvalidDataException($"--lora '{spec}': expected ID=PATH[:SCALE]");
        }

        var id = spec[..eq].Trim();
        var path = spec[(eq + 1)..];
        var scale = 1f;
        var colon = path.LastIndexOf(':');
        if (colon > 0 && float.TryParse(path[(colon + 1)..], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var s))
        {
            if (!float.IsFinite(s) || s < 0)
            {
                throw new InvalidDataException($"--lora '{spec}': the scale must be a finite number >= 0");
            }

            scale = s;
            path = path[..colon];
        }

        return new LoraAdapterOptions(id, Path.GetFullPath(path), scale);
    }

    /// <summary>
    /// The names of <c>--model-alias NAME=ID</c> entries, checked before the model loads: each must be NAME=ID with ID
    /// the served model (its id, catalog id or one of its catalog aliases; for a stand-in demo, the default's id too).
    /// </summary>
    internal static List<string> ClientAliases(IEnumerable<string> map, string servedId, ModelEntry? entry, IReadOnlyList<string> alsoServed)
    {
        var names = new List<string>();
        foreach (var item in map)
        {
            var eq = item.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? "" : item[..eq].Trim();
            var id = eq < 0 ? "" : item[(eq + 1)..].Trim();
            if (name.Length == 0 || id.Length == 0 || (name.Contains('*', StringComparison.Ordinal) && name.IndexOf('*', StringComparison.Ordinal) != name.Length - 1))
            {
                throw new ConfigurationException($"--model-alias '{item}': expected NAME=ID (a trailing * in NAME matches any suffix, e.g. claude-*={servedId}).");
            }

            var served = string.Equals(id, servedId, StringComparison.OrdinalIgnoreCase)
                || alsoServed.Any(a => string.Equals(a, id, StringComparison.OrdinalIgnoreCase))
                || (entry is not null && (string.Equals(id, entry.Id, StringComparison.OrdinalIgnoreCase) || entry.Aliases.Any(a => string.Equals(a, id, StringComparison.OrdinalIgnoreCase))));
            if (!served)
            {
                throw new ConfigurationException($"--model-alias '{item}': '{id}' is not the served model; this server serves '{servedId}'.");
            }

            names.Add(name);
        }

        return names;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (engine is not null)
        {
            await engine.DisposeAsync().ConfigureAwait(false);
            engine = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (engine is not null)
        {
            await engine.DisposeAsync().ConfigureAwait(false);
            engine = null;
        }
    }

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "The model alias '{Alias}' also matches the LoRA adapter '{Adapter}': requests for '{Adapter}' get the adapter (an exact id wins over a wildcard alias)")]
    private partial void LogAliasClash(string alias, string adapter);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Serving {Model} from {Path} ({Parallel} parallel sequences, {Ctx} KV cells)")]
    private partial void LogReady(string model, string path, int parallel, int ctx);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = """

        ================================================================================
         The default model '{Id}' is not on this machine ({Path}).
         Serving a tiny SYNTHESIZED demo model instead: its weights are random and its
         output is gibberish. Requests for '{Id}' are answered by the demo model
         (responses carry the header x-youtu-demo-model: true). Get the real
         Youtu-LLM-2B weights with:
             youtu-server pull {PullId}
         Demo model: {Demo}
        ================================================================================
        """)]
    private partial void LogDemoModel(string id, string path, string pullId, string demo);
}

/// <summary>An adapter as the API lists it.</summary>
internal sealed record ServedAdapter(string Id, string? Description);
