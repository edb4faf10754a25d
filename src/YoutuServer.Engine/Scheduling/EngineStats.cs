namespace YoutuServer.Engine.Scheduling;

/// <summary>A snapshot of the scheduler, cheap to read from any thread.</summary>
public sealed record EngineStats
{
    public int QueueDepth { get; init; }
    public int ActiveRequests { get; init; }
    public int ActiveSequences { get; init; }
    public int Slots { get; init; }
    public int KvCellsUsed { get; init; }
    public int KvCellsTotal { get; init; }
    /// <summary>Cells held by sequences of running requests (KvCellsUsed less the idle prefix caches, which are evictable).</summary>
    public int KvCellsActive { get; init; }
    /// <summary>LoRA adapters loaded (vLLM's max_lora).</summary>
    public int MaxAdapters { get; init; }
    /// <summary>Ids of the adapters of running requests.</summary>
    public IReadOnlyList<string> RunningAdapters { get; init; } = [];
    /// <summary>Ids of the adapters of requests waiting for a slot.</summary>
    public IReadOnlyList<string> WaitingAdapters { get; init; } = [];
    /// <summary>When the running or waiting adapter set last changed (engine start before that).</summary>
    public DateTimeOffset AdaptersChangedAt { get; init; }
    /// <summary>Times the context's adapter set was switched between decode steps.</summary>
    public long AdapterSwitches { get; init; }
    public long Steps { get; init; }
    public long PromptTokensEvaluated { get; init; }
    public long TokensGenerated { get; init; }
    /// <summary>Prompt tokens reused from the prefix cache, every tier (breakdown in <see cref="PrefixCache"/>).</summary>
    public long CachedPromptTokens { get; init; }
    /// <summary>The prefix cache: reuse by tier, bytes per tier, restores, spills, evictions, restore time.</summary>
    public Caching.PrefixCacheStats PrefixCache { get; init; } = new();
    public double DecodeMsTotal { get; init; }
    public double SampleMsTotal { get; init; }
    /// <summary>Steps whose sequences were sampled on several threads.</summary>
    public long ParallelSampledSteps { get; init; }
    /// <summary>Mean loop time per step spent outside llama_decode and sampling, in microseconds.</summary>
    public double LoopOverheadUsPerStep { get; init; }
    /// <summary>Where the weights run: the GPU device(s) with memory, else the CPU (see LlamaModel.Backend).</summary>
    public string Backend { get; init; } = "";
    /// <summary>Layers offloaded to a GPU (output layer counted); 0 on the CPU.</summary>
    public int GpuLayers { get; init; }
    public bool Draining { get; init; }
    public bool Running { get; init; }
    public DateTimeOffset LastStepAt { get; init; }
}
