namespace YoutuServer.Engine.Caching;

/// <summary>
/// The saved sequences beyond the KV cache: a host-RAM tier bounded in bytes and an optional disk tier bounded in
/// bytes, both least recently used first. RAM entries past the bound spill to disk (or are dropped without one);
/// entries read back from disk are promoted to RAM. An entry whose tokens another entry of the same scope extends is
/// dropped when that one is saved (it can only match less). Pinned entries are never evicted. Inference thread only.
/// </summary>
internal sealed class StateStore
{
    private readonly Dictionary<UInt128, List<CacheEntry>> byBlock = [];
    private readonly List<CacheEntry> entries = [];
    private readonly PrefixCacheCounters counters;
    private readonly Func<CacheEntry, bool> isPinned;
    private long clock;

    public StateStore(long ramLimitBytes, DiskTier? disk, PrefixCacheCounters counters, Func<CacheEntry, bool> isPinned)
    {
        RamLimitBytes = ramLimitBytes;
        Disk = disk;
        this.counters = counters;
        this.isPinned = isPinned;
    }

    public long RamLimitBytes { get; }
    public DiskTier? Disk { get; }
    public long RamBytes { get; private set; }
    public long DiskBytes { get; private set; }
    public int RamEntries { get; private set; }
    public int DiskEntries { get; private set; }
    public int Count => entries.Count;

    /// <summary>Indexes the disk tier's files (at start), oldest first in LRU order.</summary>
    public void LoadDiskIndex(int maxTokens)
    {
        if (Disk is null)
        {
            return;
        }

        foreach (var f in Disk.Scan().OrderBy(f => f.WrittenAt))
        {
            if (f.Tokens.Length > maxTokens)
            {
                continue; // longer than this context: kept for a server that can hold it
            }

            var entry = NewEntry(f.Scope, f.Tokens, f.StateBytes);
            entry.FilePath = f.Path;
            entry.FileBytes = f.FileBytes;
            entry.LastUsed = ++clock; // oldest file first: least recently used
            Add(entry);
        }

        EnforceDiskBound(0);
    }

    /// <summary>The entry sharing the longest prefix with the prompt (at most <paramref name="limit"/> tokens), or none.</summary>
    public (CacheEntry? Entry, int Match) Find(UInt128 scope, IReadOnlyList<int> prompt, IReadOnlyList<UInt128> promptBlocks, int limit)
    {
        // Blocks chain, so if block k of the prompt is held by an entry, so are blocks 0..k-1: search for the deepest.
        int lo = 0, hi = promptBlocks.Count; // invariant: block lo-1 found (or lo = 0), block hi not known
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (byBlock.ContainsKey(promptBlocks[mid]))
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        if (lo == 0)
        {
            return (null, 0);
        }

        CacheEntry? best = null;
        var match = 0;
        foreach (var e in byBlock[promptBlocks[lo - 1]])
        {
            if (e.Scope != scope)
            {
                continue;
            }

            var m = PrefixHashing.CommonPrefix(e.Tokens, prompt, limit);
            if (m > match || (m == match && best is not null && e.State is not null && best.State is null))
            {
                best = e;
                match = m;
            }
        }

        return (best, match);
    }

    /// <summary>Whether an entry of this scope already holds every one of these tokens.</summary>
    public bool Covers(UInt128 scope, IReadOnlyList<int> tokens, List<UInt128> scratch)
    {
        scratch.Clear();
        PrefixHashing.Chain(scope, tokens, tokens.Count, scratch);
        if (scratch.Count == 0)
        {
            return false;
        }

        var (_, m) = Find(scope, tokens, scratch, int.MaxValue);
        return m == tokens.Count;
    }

    /// <summary>Whether a state of this size can be stored at all (one array, and within a tier's bound).</summary>
    public bool Accepts(long bytes)
        => bytes <= Array.MaxLength && (bytes <= RamLimitBytes || (Disk is not null && bytes <= Disk.LimitBytes && !Disk.WritingStopped));

    /// <summary>Saves a sequence's state; entries it extends are dropped, then the bounds are enforced.</summary>
    public void Put(UInt128 scope, int[] tokens, byte[] state)
    {
        var entry = NewEntry(scope, tokens, state.LongLength);
        foreach (var old in entries.Where(o => o.Scope == scope && o.Tokens.Length <= tokens.Length
                     && PrefixHashing.CommonPrefix(o.Tokens, tokens) == o.Tokens.Length && !isPinned(o)).ToList())
        {
            Remove(old, deleteFile: true);
        }

        entry.LastUsed = ++clock;
        if (RamLimitBytes > 0 && state.LongLength <= RamLimitBytes)
        {
            entry.State = state;
            Add(entry);
            EnforceRamBound();
        }
        else if (Disk is not null)
        {
            Add(entry);
            if (!Spill(entry, state))
            {
                Remove(entry, deleteFile: false);
            }
        }
    }

    /// <summary>The entry's state bytes (RAM, or read and checked from disk and promoted); null when unusable (the entry is removed).</summary>
    public byte[]? Load(CacheEntry entry)
    {
        if (!entries.Contains(entry))
        {
            return null; // dropped since it was found (a newer state of the same session replaced it, or the bounds)
        }

        entry.LastUsed = ++clock;
        if (entry.State is { } inRam)
        {
            return inRam;
        }

        var state = entry.FilePath is null ? null : Disk?.TryRead(entry);
        if (state is null)
        {
            Remove(entry, deleteFile: false);
            return null;
        }

        if (RamLimitBytes > 0 && state.LongLength <= RamLimitBytes)
        {
            entry.State = state;
            RamBytes += state.LongLength;
            RamEntries++;
            EnforceRamBound(keep: entry);
        }

        return state;
    }

    /// <summary>Whether the entry is still stored (a newer state of its session, or the bounds, may have dropped it).</summary>
    public bool Holds(CacheEntry entry) => entries.Contains(entry);

    /// <summary>Drops an entry whose state llama.cpp refused (and its file).</summary>
    public void Discard(CacheEntry entry) => Remove(entry, deleteFile: true);

    /// <summary>
    /// Writes RAM entries that have no file yet, most recently used first (at shutdown, so sessions survive a restart),
    /// until <paramref name="budget"/> has passed. Returns how many were left unwritten.
    /// </summary>
    public int FlushToDisk(TimeSpan budget)
    {
        if (Disk is null)
        {
            return 0;
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var pending = entries.Where(e => e.FilePath is null && e.State is not null).OrderByDescending(e => e.LastUsed).ToList();
        for (var i = 0; i < pending.Count; i++)
        {
            if (System.Diagnostics.Stopwatch.GetElapsedTime(started) > budget || !Spill(pending[i], pending[i].State!, keepInRam: true))
            {
                return pending.Count - i;
            }
        }

        return 0;
    }

    /// <summary>Forgets every entry and removes the files.</summary>
    public void Clear()
    {
        foreach (var e in entries.ToList())
        {
            Remove(e, deleteFile: true);
        }
    }

    private CacheEntry NewEntry(UInt128 scope, int[] tokens, long stateBytes)
    {
        var blocks = new List<UInt128>(tokens.Length / PrefixHashing.BlockTokens);
        PrefixHashing.Chain(scope, tokens, tokens.Length, blocks);
        return new CacheEntry { Scope = scope, Tokens = tokens, Blocks = [.. blocks], StateBytes = stateBytes };
    }

    private void Add(CacheEntry e)
    {
        entries.Add(e);
        foreach (var b in e.Blocks)
        {
            if (!byBlock.TryGetValue(b, out var list))
            {
                byBlock[b] = list = [];
            }

            list.Add(e);
        }

        if (e.State is not null)
        {
            RamBytes += e.State.LongLength;
            RamEntries++;
        }

        if (e.FilePath is not null)
        {
            DiskBytes += e.FileBytes;
            DiskEntries++;
        }
    }

    private void Remove(CacheEntry e, bool deleteFile)
    {
        if (!entries.Remove(e))
        {
            return;
        }

        foreach (var b in e.Blocks)
        {
            if (byBlock.TryGetValue(b, out var list))
            {
                list.Remove(e);
                if (list.Count == 0)
                {
                    byBlock.Remove(b);
                }
            }
        }

        DropRam(e);
        if (e.FilePath is not null)
        {
            DiskBytes -= e.FileBytes;
            DiskEntries--;
            if (deleteFile)
            {
                Disk?.Delete(e);
            }

            e.FilePath = null;
        }
    }

    private void DropRam(CacheEntry e)
    {
        if (e.State is not null)
        {
            RamBytes -= e.State.LongLength;
            RamEntries--;
            e.State = null;
        }
    }

    private void EnforceRamBound(CacheEntry? keep = null)
    {
        while (RamBytes > RamLimitBytes)
        {
            CacheEntry? victim = null;
            foreach (var e in entries)
            {
                if (e.State is not null && e != keep && !isPinned(e) && (victim is null || e.LastUsed < victim.LastUsed))
                {
                    victim = e;
                }
            }

            if (victim is null)
            {
                return; // only pinned entries (or the one being used) left
            }

            if (victim.FilePath is not null)
            {
                DropRam(victim); // already on disk
            }
            else if (Disk is null || !Spill(victim, victim.State!))
            {
                counters.RamEvictions++;
                Remove(victim, deleteFile: false);
            }
        }
    }

    /// <summary>Writes an entry to disk, making room under the disk bound first. False when it could not be written.</summary>
    private bool Spill(CacheEntry e, byte[] state, bool keepInRam = false)
    {
        var disk = Disk!;
        EnforceDiskBound(state.LongLength + 4096 + e.Tokens.Length * 4L, except: e);
        if (DiskBytes + state.LongLength > disk.LimitBytes || !disk.TryWrite(e, state, out var path, out var bytes))
        {
            return false;
        }

        e.FilePath = path;
        e.FileBytes = bytes;
        DiskBytes += bytes;
        DiskEntries++;
        counters.Spills++;
        if (!keepInRam)
        {
            DropRam(e);
        }

        return true;
    }

    private void EnforceDiskBound(long incoming, CacheEntry? except = null)
    {
        if (Disk is null)
        {
            return;
        }

        while (DiskBytes + incoming > Disk.LimitBytes)
        {
            CacheEntry? victim = null;
            foreach (var e in entries)
            {
                if (e.FilePath is not null && e != except && !isPinned(e) && (victim is null || e.LastUsed < victim.LastUsed))
                {
                    victim = e;
                }
            }

            if (victim is null)
            {
                return;
            }

            counters.DiskEvictions++;
            if (victim.State is not null)
            {
                // Still in RAM: only its file goes.
                Disk.Delete(victim);
                DiskBytes -= victim.FileBytes;
                DiskEntries--;
                victim.FilePath = null;
            }
            else
            {
                Remove(victim, deleteFile: true);
            }
        }
    }
}
