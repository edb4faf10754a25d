namespace YoutuServer.Engine.Caching;

/// <summary>
/// A saved sequence: the tokens whose cells it holds (positions 0..n-1) and the llama_state_seq bytes of those cells,
/// held in host RAM (<see cref="State"/>), on disk (<see cref="FilePath"/>), or both. Touched only by the inference thread.
/// </summary>
internal sealed class CacheEntry
{
    public required UInt128 Scope { get; init; }
    public required int[] Tokens { get; init; }
    /// <summary>Chained keys of the full blocks of <see cref="Tokens"/> (PrefixHashing.Chain).</summary>
    public required UInt128[] Blocks { get; init; }
    /// <summary>Length of the state bytes.</summary>
    public required long StateBytes { get; init; }
    /// <summary>The state bytes while the entry is in the RAM tier.</summary>
    public byte[]? State { get; set; }
    /// <summary>The entry's file while it is in the disk tier.</summary>
    public string? FilePath { get; set; }
    public long FileBytes { get; set; }
    public long LastUsed { get; set; }
}
