using Microsoft.Extensions.Options;
using YoutuServer.Engine;
using YoutuServer.Models;
using YoutuServer.Native;

namespace YoutuServer.Hosting;

/// <summary>
/// Owns the engine for the lifetime of the web host. The model loads in StartAsync, which the host runs before
/// Kestrel starts listening, so /health/ready never reports ready before the model is there. On shutdown the
/// engine stops after Kestrel has drained its requests (see DrainCoordinator).
/// </summary>
public sealed partial class EngineHost : IHostedService, IAsyncDisposable
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
    public IReadOnlyList<string> ServedAliases { get; private set; } = [];
    public bool IsDemoModel { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var (path, entry, catalog) = ResolveModel();
        Catalog = catalog;
        CatalogEntry = entry;
        var engineOptions = new EngineOptions
        {
            ModelPath = path,
            Native = new NativeOptions
            {
                LibraryDirectory = options.NativeDir,
                Flavour = options.NativeFlavour.ToLowerInvariant() switch
                {
                    "cpu" => NativeFlavour.Cpu,
                    "cuda" => NativeFlavour.Cuda,
                    _ => NativeFlavour.Auto,
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
        };
        engine = await InferenceEngine.StartAsync(engineOptions, loggerFactory).ConfigureAwait(false);
        ServedModelId = options.ModelAlias ?? entry?.Id ?? Path.GetFileNameWithoutExtension(path);
        ServedAliases = entry?.Aliases ?? [];
        LogReady(ServedModelId, path, options.Parallel, options.CtxSize);
    }

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
            LogDemoModel(def.Id, local, def.Id, demo);
            return (demo, null, catalog);
        }

        var fallback = DemoModel.EnsureSynthesized(options.ModelsDir);
        IsDemoModel = true;
        LogDemoModel("(none)", "(no models.json)", "youtu-llm-2b", fallback);
        return (fallback, null, catalog);
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Serving {Model} from {Path} ({Parallel} parallel sequences, {Ctx} KV cells)")]
    private partial void LogReady(string model, string path, int parallel, int ctx);

    [LoggerMessage(Level = LogLevel.Warning, Message = """

        ================================================================================
         The default model '{Id}' is not on this machine ({Path}).
         Serving a tiny SYNTHESIZED demo model instead: its weights are random and its
         output is gibberish. Get the real Youtu-LLM-2B weights with:
             youtu-server pull {PullId}
         Demo model: {Demo}
        ================================================================================
        """)]
    private partial void LogDemoModel(string id, string path, string pullId, string demo);
}
