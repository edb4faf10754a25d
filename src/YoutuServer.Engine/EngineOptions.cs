using YoutuServer.Native;

namespace YoutuServer.Engine;

/// <summary>Everything the engine needs to load a model and size its scheduler. Defaults suit a 2-core CPU box.</summary>
public sealed record EngineOptions
{
    public required string ModelPath { get; init; }
    public NativeOptions Native { get; init; } = new();

    /// <summary>Concurrent KV sequences (slots). A request with n choices takes n slots.</summary>
    public int Parallel { get; init; } = 4;
    /// <summary>Total KV cells shared by all sequences (unified cache).</summary>
    public int CtxSize { get; init; } = 8192;
    /// <summary>Requests waiting for a slot before new ones are refused (HTTP 429).</summary>
    public int QueueSize { get; init; } = 64;
    /// <summary>Logical batch: most tokens one llama_decode call may carry.</summary>
    public int BatchSize { get; init; } = 512;
    /// <summary>Prompt tokens per step while other sequences are generating, so their streams keep pace.</summary>
    public int PromptChunkWhileGenerating { get; init; } = 128;
    /// <summary>Threads for decode; 0 = number of cores.</summary>
    public int Threads { get; init; }
    /// <summary>Threads for prompt batches; 0 = same as Threads.</summary>
    public int ThreadsBatch { get; init; }
    /// <summary>Layers to offload to a GPU; -1 = all when a GPU backend is present, else 0.</summary>
    public int GpuLayers { get; init; } = -1;
    /// <summary>Weight-repacking buffer types; null = on except on AMX CPUs (where llama.cpp aborts with them).</summary>
    public bool? UseExtraBufts { get; init; }
    /// <summary>
    /// Memory-map the file; null = map it unless weights are repacked on the CPU. A repacked weight is read once into
    /// its own buffer, so mapping would only add the file's pages to the process on top of that copy (about 2x RSS).
    /// </summary>
    public bool? UseMmap { get; init; }
    /// <summary>-1 auto, 0 off, 1 on.</summary>
    public int FlashAttention { get; init; } = LlamaConstants.FlashAttnAuto;
    /// <summary>Keep finished sequences' KV cells for prefix reuse by later requests.</summary>
    public bool PrefixCache { get; init; } = true;
    /// <summary>LoRA adapters loaded beside the base model; a request picks one by id (GenerationRequest.Adapter).</summary>
    public IReadOnlyList<LoraAdapterOptions> Adapters { get; init; } = [];
    /// <summary>Steps one adapter group is decoded before the next group with work gets its turn (llama.cpp applies
    /// adapters per context, so sequences of different adapters never share a llama_decode, and every switch makes it
    /// re-reserve the graph: 4 steps per turn cost 0.94x/0.81x of one adapter's throughput for 2/4 adapters on the 2b
    /// model, 1 step 0.84x/0.67x; see the README's adapter benchmark).</summary>
    public int AdapterQuantumSteps { get; init; } = 4;
    /// <summary>Skip the managed GGUF validation (only for files already validated).</summary>
    public bool SkipValidation { get; init; }
}

/// <summary>A LoRA adapter to load: the id requests use, its GGUF file, and the scale it is applied with.</summary>
public sealed record LoraAdapterOptions(string Id, string Path, float Scale = 1f);
