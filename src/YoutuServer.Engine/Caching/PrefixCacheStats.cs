namespace YoutuServer.Engine.Caching;

/// <summary>
/// The prefix cache seen from outside (part of <see cref="Scheduling.EngineStats"/>): reused prompt tokens by where
/// they came from, what each tier holds, and what moved between tiers. Counters only grow; sizes are current.
/// </summary>
public sealed record PrefixCacheStats
{
    /// <summary>Prompt tokens reused from the cells the request's own sequence still held.</summary>
    public long ReusedTokensResident { get; init; }
    /// <summary>Prompt tokens reused by sharing another sequence's cells (llama_memory_seq_cp; nothing copied or recomputed).</summary>
    public long ReusedTokensShared { get; init; }
    /// <summary>Prompt tokens reused by restoring a state from the host-RAM tier.</summary>
    public long ReusedTokensRam { get; init; }
    /// <summary>Prompt tokens reused by restoring a state from the disk tier.</summary>
    public long ReusedTokensDisk { get; init; }
    /// <summary>States restored into a sequence (RAM or disk).</summary>
    public long Restores { get; init; }
    /// <summary>Restores that failed (llama.cpp refused the state, or its file was unusable); the request then evaluated its prompt.</summary>
    public long RestoreFailures { get; init; }
    /// <summary>Total time spent restoring states (reading a file included), in milliseconds.</summary>
    public double RestoreMsTotal { get; init; }
    /// <summary>Sequence states saved from the KV cache before their cells were reused.</summary>
    public long Saves { get; init; }
    /// <summary>Total time spent copying states out of the KV cache, in milliseconds.</summary>
    public double SaveMsTotal { get; init; }
    /// <summary>States written to the disk tier (spilled from RAM, or written at shutdown).</summary>
    public long Spills { get; init; }
    /// <summary>Idle sequences whose cells were taken for other requests.</summary>
    public long KvEvictions { get; init; }
    /// <summary>States dropped from RAM with nowhere to go (no disk tier, or it refused them).</summary>
    public long RamEvictions { get; init; }
    /// <summary>Files removed to keep the disk tier under its bound.</summary>
    public long DiskEvictions { get; init; }
    /// <summary>Files skipped and removed because they were truncated, corrupt, foreign or of an old format.</summary>
    public long FilesRejected { get; init; }
    /// <summary>Bytes of states held in the host-RAM tier, and its bound (0 = tier off).</summary>
    public long RamBytes { get; init; }
    public long RamLimitBytes { get; init; }
    public int RamEntries { get; init; }
    /// <summary>Bytes of files in the disk tier, and its bound (0 = tier off).</summary>
    public long DiskBytes { get; init; }
    public long DiskLimitBytes { get; init; }
    public int DiskEntries { get; init; }
    /// <summary>The disk tier stopped writing (disk full or unwritable); it is still read.</summary>
    public bool DiskWritingStopped { get; init; }
    /// <summary>Prefixes pinned by callers (InferenceEngine.PinPrefix) right now.</summary>
    public int Pins { get; init; }
}

/// <summary>Mutable counters behind <see cref="PrefixCacheStats"/> (inference thread only).</summary>
internal sealed class PrefixCacheCounters
{
    public long ReusedResident;
    public long ReusedShared;
    public long ReusedRam;
    public long ReusedDisk;
    public long Restores;
    public long RestoreFailures;
    public double RestoreMs;
    public long Saves;
    public double SaveMs;
    public long Spills;
    public long KvEvictions;
    public long RamEvictions;
    public long DiskEvictions;
}
