using YoutuServer.Native;

namespace YoutuServer.Engine;

/// <summary>Everything the engine needs to load a model and size its scheduler. Defaults suit a 2-core CPU box.</summary>
public sealed record EngineOptions
{
    public required string ModelPath { get; init; }
    public LlamaLibraryOptions Library { get; init; } = new();

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
    /// <summary>Keep finished sequences' KV cells for prefix reuse by later requests (off: also no RAM or disk tier).</summary>
    public bool PrefixCache { get; init; } = true;
    /// <summary>
    /// Host-RAM tier of the prefix cache, in MiB: a sequence's state is saved here before its cells are given to
    /// another request, and restored when a later prompt continues it. -1 (default) = automatic: 8192 MiB (llama-server's
    /// --cache-ram default), at most a quarter of the memory available at start; 0 = off.
    /// </summary>
    public int CacheRamMiB { get; init; } = -1;
    /// <summary>
    /// Disk tier of the prefix cache: states spill here from RAM and are found again after a restart (idle sequences and
    /// the RAM tier are written here at shutdown). Null = off. Files of another model or KV layout are removed.
    /// </summary>
    public string? CacheDir { get; init; }
    /// <summary>Bound of the disk tier in MiB (least recently used files go first); writing also stops when the volume is nearly full.</summary>
    public int CacheDiskMiB { get; init; } = 10_240;

    /// <summary>The RAM tier's bound in bytes, <see cref="CacheRamMiB"/> resolved (automatic: min(8 GiB, available memory / 4)).</summary>
    public long ResolveCacheRamBytes()
    {
        if (CacheRamMiB >= 0)
        {
            return (long)CacheRamMiB << 20;
        }

        return Math.Min(8192L << 20, Math.Max(0, AvailableMemoryBytes() / 4));
    }

    /// <summary>Memory available now: Linux's MemAvailable, else what the GC may use (physical memory or the container's limit).</summary>
    private static long AvailableMemoryBytes()
    {
        var limit = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal)
                    && long.TryParse(line.AsSpan(13).Trim().TrimEnd("kB").Trim(), out var kb))
                {
                    return Math.Min(limit, kb * 1024);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // not Linux, or no procfs
        }

        return limit;
    }
    /// <summary>LoRA adapters loaded beside the base model; a request picks one by id (GenerationRequest.Adapter).</summary>
    public IReadOnlyList<LoraAdapterOptions> Adapters { get; init; } = [];
    /// <summary>Steps one adapter group is decoded before the next group with work gets its turn (llama.cpp applies
    /// adapters per context, so sequences of different adapters never share a llama_decode, and every switch makes it
    /// re-reserve the graph: 4 steps per turn cost 0.94x/0.81x of one adapter's throughput for 2/4 adapters on the 2b
    /// model, 1 step 0.84x/0.67x; see the adapter benchmark in docs/benchmarks.md).</summary>
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
