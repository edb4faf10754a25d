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
    /// <summary>
    /// Most tokens one step carries (decode tokens of generating sequences first, then prompt tokens, shortest
    /// remaining prompt first); 0 = <see cref="BatchSize"/>. Lower it to bound how long a prompt may stall the
    /// running streams; raise it to get long prompts to their first token sooner. See Scheduling/PrefillPolicy.
    /// </summary>
    public int StepTokens { get; init; }
    /// <summary>Optional cap on prompt tokens per step while other sequences are generating; 0 = none (the step budget rules).</summary>
    public int PromptChunkWhileGenerating { get; init; }
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
    /// <summary>
    /// Where sampling stages run: <see cref="Sampling.SamplerMode.Managed"/> (default: bias, penalties and top-k/greedy
    /// selection in managed code, O(window) instead of O(vocabulary)) or <see cref="Sampling.SamplerMode.LlamaChain"/>
    /// (the whole chain in llama.cpp over a full candidate array; the reference the tests compare against).
    /// </summary>
    public Sampling.SamplerMode SamplerMode { get; init; } = Sampling.SamplerMode.Managed;
    /// <summary>
    /// Threads that sample a step's sequences, counting the inference thread; 0 = auto (cores, at most 8); 1 = off
    /// (one after another on the inference thread, as before).
    /// </summary>
    public int SamplingThreads { get; init; }
    /// <summary>Sample in parallel only when at least this many sequences are sampled in a step.</summary>
    public int ParallelSamplingMinSequences { get; init; } = 4;
    /// <summary>... and the vocabulary has at least this many entries (below it a sequence samples in microseconds).</summary>
    public int ParallelSamplingMinVocab { get; init; } = 32_768;
    /// <summary>Skip the managed GGUF validation (only for files already validated).</summary>
    public bool SkipValidation { get; init; }
}

/// <summary>A LoRA adapter to load: the id requests use, its GGUF file, and the scale it is applied with.</summary>
public sealed record LoraAdapterOptions(string Id, string Path, float Scale = 1f);
