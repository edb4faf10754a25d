using System.Diagnostics;
using Microsoft.Extensions.Logging;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Native;

namespace YoutuServer.Engine.Caching;

/// <summary>Where a request's reused prefix comes from.</summary>
internal enum PrefixSource
{
    /// <summary>Nothing reused: the whole prompt is evaluated.</summary>
    None,
    /// <summary>The chosen sequence already holds the prefix.</summary>
    Resident,
    /// <summary>Another sequence holds it: its cells are shared with llama_memory_seq_cp.</summary>
    Shared,
    /// <summary>A saved state in host RAM is restored.</summary>
    Ram,
    /// <summary>A saved state on disk is read and restored.</summary>
    Disk,
}

/// <summary>
/// What admission will do for a request: which sequence it gets, how many prompt tokens it reuses and from where.
/// Made without side effects (<see cref="KvCacheManager.Plan"/>), carried out by <see cref="KvCacheManager.Apply"/>.
/// </summary>
internal readonly record struct PrefixPlan(Slot Slot, int Reuse, PrefixSource Source, Slot? From, CacheEntry? Entry);

/// <summary>What admission got: tokens reused (every tier) and how many of them were restored, in how long.</summary>
internal readonly record struct PrefixOutcome(int Reused, PrefixSource Source, int Restored, double RestoreMs);

/// <summary>
/// The KV-cache manager (vLLM's KVCacheManager, beside the scheduler rather than inside it). It knows what each
/// sequence's cells hold (the slot's tokens, and which cells sequences share), finds the longest cached prefix of a
/// prompt across the sequences and the saved tiers (scoped by adapter and tenant salt), shares cells between
/// sequences, saves a sequence's state before its cells are taken, restores saved states, and evicts least recently
/// used sequences when cells run short. The scheduler asks it "which sequence, how much is reused, what is left to
/// evaluate", and tells it when tokens are committed. Inference thread only.
/// </summary>
internal sealed partial class KvCacheManager
{
    /// <summary>States shorter than this are not worth saving (evaluating them is about as cheap as restoring).</summary>
    public const int MinSaveTokens = 2 * PrefixHashing.BlockTokens;

    private readonly nint ctx;
    private readonly nint mem;
    private readonly int nCtx;
    private readonly Slot[] slots;
    private readonly bool enabled;
    private readonly ILogger logger;
    private readonly Func<UInt128, IReadOnlyList<int>, bool> isPinned;
    private readonly Dictionary<long, int> cellRefs = [];
    private readonly List<UInt128> scratch = [];
    private long nextCell;
    private long clock;

    public KvCacheManager(nint ctx, nint mem, int nCtx, Slot[] slots, bool enabled, StateStore? store,
        Func<UInt128, IReadOnlyList<int>, bool> isPinned, PrefixCacheCounters counters, ILogger logger)
    {
        this.ctx = ctx;
        this.mem = mem;
        this.nCtx = nCtx;
        this.slots = slots;
        this.enabled = enabled;
        Store = store;
        this.isPinned = isPinned;
        Counters = counters;
        this.logger = logger;
    }

    public StateStore? Store { get; }
    public PrefixCacheCounters Counters { get; }

    /// <summary>Distinct KV cells in use (a cell shared by several sequences counts once).</summary>
    public int UsedCells => cellRefs.Count;

    /// <summary>The step clock: a sequence's <see cref="Slot.LastUsed"/> orders eviction.</summary>
    public long Touch() => ++clock;

    // ------------------------------------------------------------------ tokens committed by the scheduler

    /// <summary>A decoded token's cell now belongs to the slot's sequence.</summary>
    public void Append(Slot s, int token)
    {
        var id = nextCell++;
        s.Tokens.Add(token);
        s.Cells.Add(id);
        cellRefs[id] = 1;
    }

    /// <summary>Shares the first <paramref name="count"/> cells of <paramref name="from"/> with the (empty) <paramref name="to"/>.</summary>
    public void Share(Slot from, Slot to, int count)
    {
        Debug.Assert(to.Tokens.Count == 0);
        NativeMethods.llama_memory_seq_cp(mem, from.SeqId, to.SeqId, 0, count);
        for (var i = 0; i < count; i++)
        {
            var id = from.Cells[i];
            to.Tokens.Add(from.Tokens[i]);
            to.Cells.Add(id);
            cellRefs[id]++;
        }

        to.Scope = from.Scope;
        to.Adapter = from.Adapter;
    }

    /// <summary>Drops the slot's cells from position <paramref name="keep"/> on (a cell shared with another sequence stays for it).</summary>
    public void Truncate(Slot s, int keep)
    {
        if (s.Tokens.Count <= keep)
        {
            return;
        }

        NativeMethods.llama_memory_seq_rm(mem, s.SeqId, keep, -1);
        for (var i = keep; i < s.Cells.Count; i++)
        {
            var id = s.Cells[i];
            if (--cellRefs[id] == 0)
            {
                cellRefs.Remove(id);
            }
        }

        s.Tokens.RemoveRange(keep, s.Tokens.Count - keep);
        s.Cells.RemoveRange(keep, s.Cells.Count - keep);
    }

    /// <summary>Empties every sequence and the KV cache, and forgets every saved state (tests that share an engine).</summary>
    public void Clear()
    {
        foreach (var s in slots)
        {
            s.Tokens.Clear();
            s.Cells.Clear();
            s.LastUsed = 0;
        }

        cellRefs.Clear();
        NativeMethods.llama_memory_clear(mem, true);
        clock = 0;
        Store?.Clear();
    }

    // ------------------------------------------------------------------ admission

    /// <summary>
    /// Chooses the request's primary sequence among <paramref name="free"/> and the longest prefix it can reuse:
    /// held by a free sequence (used in place), by any other sequence (shared), or by a saved state (restored) when
    /// that reaches further by more than a block. At least one prompt token is always left to evaluate (its logits
    /// give the first sample). No side effects.
    /// </summary>
    public PrefixPlan Plan(Job job, List<Slot> free, bool allowStore = true)
    {
        var prompt = job.Request.Prompt;
        var limit = prompt.Count - 1;
        var empty = free.Where(s => s.Tokens.Count == 0).FirstOrDefault();
        var lru = free.OrderBy(s => s.Tokens.Count == 0 ? 0 : 1).ThenBy(s => s.LastUsed).First();
        if (!enabled)
        {
            return new PrefixPlan(lru, 0, PrefixSource.None, null, null);
        }

        // Resident: the best free sequence (used in place), and the best of all (its cells can be shared).
        Slot? bestFree = null, bestAny = null;
        int freeMatch = 0, anyMatch = 0;
        foreach (var s in slots)
        {
            if (s.Tokens.Count == 0 || s.Scope != job.Scope)
            {
                continue;
            }

            var m = PrefixHashing.CommonPrefix(s.Tokens, prompt, limit);
            var isFree = s.Job == null && free.Contains(s);
            if (isFree && (m > freeMatch || (m == freeMatch && m > 0 && s.LastUsed < bestFree!.LastUsed)))
            {
                bestFree = s;
                freeMatch = m;
            }

            if (m > anyMatch || (m == anyMatch && m > 0 && isFree && bestAny!.Job != null))
            {
                bestAny = s;
                anyMatch = m;
            }
        }

        // Saved: the deepest state in RAM or on disk.
        if (allowStore && Store is not null && Store.Count > 0 && limit >= PrefixHashing.BlockTokens)
        {
            job.EnsureBlocks();
            var (entry, m) = Store.Find(job.Scope, prompt, job.Blocks, limit);
            if (entry is not null && m > Math.Max(freeMatch, anyMatch) + PrefixHashing.BlockTokens
                && entry.Tokens.Length < nCtx)
            {
                var dest = Destination(free, null);
                return new PrefixPlan(dest, m, entry.State is not null ? PrefixSource.Ram : PrefixSource.Disk, null, entry);
            }
        }

        if (bestAny is not null && anyMatch > freeMatch && anyMatch >= PrefixHashing.BlockTokens)
        {
            var dest = Destination(free, bestAny);
            if (dest != bestAny)
            {
                return new PrefixPlan(dest, anyMatch, PrefixSource.Shared, bestAny, null);
            }
        }

        if (bestFree is not null && freeMatch > 0)
        {
            // The free sequence holds more than this prompt uses (another conversation's tail): share its prefix into
            // an empty sequence instead, so that conversation stays whole.
            if (empty is not null && empty != bestFree && freeMatch >= PrefixHashing.BlockTokens
                && bestFree.Tokens.Count - freeMatch > PrefixHashing.BlockTokens)
            {
                return new PrefixPlan(empty, freeMatch, PrefixSource.Shared, bestFree, null);
            }

            return new PrefixPlan(bestFree, freeMatch, PrefixSource.Resident, null, null);
        }

        return new PrefixPlan(lru, 0, PrefixSource.None, null, null);
    }

    /// <summary>A free sequence to receive shared or restored cells: an empty one, else the least recently used (not the source).</summary>
    private static Slot Destination(List<Slot> free, Slot? source)
    {
        Slot? best = null;
        foreach (var s in free)
        {
            if (s == source)
            {
                continue;
            }

            if (best is null || (s.Tokens.Count == 0 ? 0 : 1, s.LastUsed).CompareTo((best.Tokens.Count == 0 ? 0 : 1, best.LastUsed)) < 0)
            {
                best = s;
            }
        }

        return best ?? source!;
    }

    /// <summary>
    /// Carries out a plan: what the chosen sequence held beyond the reused part is saved first (when worth it), then
    /// cells are shared or a state restored and trimmed to the match. A restore that fails leaves nothing behind (the
    /// sequence is emptied and the entry dropped) and falls back to the best plan without saved states.
    /// </summary>
    public PrefixOutcome Apply(PrefixPlan plan, Job job, List<Slot> free)
    {
        var s = plan.Slot;
        switch (plan.Source)
        {
            case PrefixSource.Resident:
                if (s.Tokens.Count - plan.Reuse > PrefixHashing.BlockTokens)
                {
                    Save(s);
                }

                Truncate(s, plan.Reuse);
                Counters.ReusedResident += plan.Reuse;
                break;
            case PrefixSource.Shared:
                Save(s);
                Truncate(s, 0);
                Share(plan.From!, s, plan.Reuse);
                Counters.ReusedShared += plan.Reuse;
                break;
            case PrefixSource.Ram or PrefixSource.Disk:
                Save(s);
                Truncate(s, 0);
                var t0 = Stopwatch.GetTimestamp();
                var restored = Restore(s, plan.Entry!, plan.Reuse);
                if (restored != RestoreResult.Restored)
                {
                    // Explicitly not restored: the sequence is empty, so the best plan without saved states is safe.
                    if (restored == RestoreResult.Unusable)
                    {
                        Counters.RestoreFailures++;
                    }

                    return Apply(Plan(job, free, allowStore: false), job, free);
                }

                var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                Counters.Restores++;
                Counters.RestoreMs += ms;
                if (plan.Source == PrefixSource.Ram)
                {
                    Counters.ReusedRam += plan.Reuse;
                }
                else
                {
                    Counters.ReusedDisk += plan.Reuse;
                }

                s.Scope = job.Scope;
                s.Adapter = job.Adapter;
                LogRestored(job.Request.Id ?? "-", plan.Reuse, plan.Source, ms);
                return new PrefixOutcome(plan.Reuse, plan.Source, plan.Reuse, ms);
            default:
                Save(s);
                Truncate(s, 0);
                break;
        }

        s.Scope = job.Scope;
        s.Adapter = job.Adapter;
        return new PrefixOutcome(plan.Reuse, plan.Source, 0, 0);
    }

    private enum RestoreResult
    {
        Restored,
        /// <summary>The file was unusable or llama.cpp refused the state: the entry is gone.</summary>
        Unusable,
        /// <summary>Not enough idle cells for the whole state right now, or the entry was replaced meanwhile.</summary>
        NotNow,
    }

    private RestoreResult Restore(Slot s, CacheEntry entry, int reuse)
    {
        // The state brings all its cells; the part past the match is trimmed right after. Making room saves other
        // sequences, which may replace or drop this very entry.
        if (!EnsureFreeCells(entry.Tokens.Length, s, null) || !Store!.Holds(entry))
        {
            return RestoreResult.NotNow;
        }

        var state = Store.Load(entry);
        if (state is null)
        {
            return RestoreResult.Unusable;
        }

        nuint read;
        unsafe
        {
            fixed (byte* p = state)
            {
                read = NativeMethods.llama_state_seq_set_data_ext(ctx, p, (nuint)state.Length, s.SeqId, LlamaConstants.StateSeqFlagsNone);
            }
        }

        if (read == 0 || NativeMethods.llama_memory_seq_pos_max(mem, s.SeqId) != entry.Tokens.Length - 1)
        {
            // Refused (layout mismatch, no room): llama.cpp left the sequence empty; make sure of it and drop the entry.
            NativeMethods.llama_memory_seq_rm(mem, s.SeqId, -1, -1);
            LogRestoreRefused(entry.Tokens.Length);
            Store.Discard(entry);
            return RestoreResult.Unusable;
        }

        foreach (var t in entry.Tokens)
        {
            Append(s, t);
        }

        Truncate(s, reuse);
        return RestoreResult.Restored;
    }

    /// <summary>
    /// Saves an idle sequence's state to the saved tiers before its cells go, unless it is too short, already saved,
    /// or held whole by another sequence (which is saved when its own turn comes).
    /// </summary>
    public void Save(Slot s)
    {
        if (Store is null || s.Job != null || s.Tokens.Count < MinSaveTokens)
        {
            return;
        }

        foreach (var o in slots)
        {
            if (o != s && o.Scope == s.Scope && o.Tokens.Count >= s.Tokens.Count
                && PrefixHashing.CommonPrefix(o.Tokens, s.Tokens) == s.Tokens.Count)
            {
                return;
            }
        }

        if (Store.Covers(s.Scope, s.Tokens, scratch))
        {
            return;
        }

        var t0 = Stopwatch.GetTimestamp();
        var size = NativeMethods.llama_state_seq_get_size_ext(ctx, s.SeqId, LlamaConstants.StateSeqFlagsNone);
        if (size == 0 || !Store.Accepts((long)size))
        {
            return; // a state no tier can hold (or beyond one array: very long contexts of big models) is not copied
        }

        var state = GC.AllocateUninitializedArray<byte>(checked((int)size));
        nuint written;
        unsafe
        {
            fixed (byte* p = state)
            {
                written = NativeMethods.llama_state_seq_get_data_ext(ctx, p, size, s.SeqId, LlamaConstants.StateSeqFlagsNone);
            }
        }

        if (written == 0)
        {
            return;
        }

        if (written < size)
        {
            Array.Resize(ref state, (int)written);
        }

        Store.Put(s.Scope, [.. s.Tokens], state);
        Counters.Saves++;
        Counters.SaveMs += Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }

    /// <summary>
    /// Takes idle sequences' cells (least recently used first, pinned prefixes last, each saved first) until
    /// <paramref name="need"/> cells are free. False when no idle sequence is left to take.
    /// </summary>
    public bool EnsureFreeCells(int need, Slot? keep, Slot? keep2)
    {
        while (nCtx - UsedCells < need)
        {
            Slot? victim = null;
            var victimPinned = true;
            foreach (var s in slots)
            {
                if (s.Job != null || s == keep || s == keep2 || s.Tokens.Count == 0)
                {
                    continue;
                }

                var pinned = isPinned(s.Scope, s.Tokens);
                if (victim == null || (victimPinned && !pinned) || (pinned == victimPinned && s.LastUsed < victim.LastUsed))
                {
                    victim = s;
                    victimPinned = pinned;
                }
            }

            if (victim == null)
            {
                return false;
            }

            Save(victim);
            Truncate(victim, 0);
            Counters.KvEvictions++;
        }

        return true;
    }

    /// <summary>At shutdown: saves every idle sequence and writes the RAM tier to disk, so sessions survive a restart.</summary>
    public void SaveAllForRestart()
    {
        if (Store?.Disk is null)
        {
            return;
        }

        foreach (var s in slots)
        {
            if (s.Job == null)
            {
                Save(s);
            }
        }

        // DisposeAsync waits 30 s for the loop: leave time for the rest of the shutdown.
        var left = Store.FlushToDisk(TimeSpan.FromSeconds(15));
        if (left > 0)
        {
            LogFlushCut(left);
        }
    }

    public PrefixCacheStats Snapshot(int pins) => new()
    {
        ReusedTokensResident = Counters.ReusedResident,
        ReusedTokensShared = Counters.ReusedShared,
        ReusedTokensRam = Counters.ReusedRam,
        ReusedTokensDisk = Counters.ReusedDisk,
        Restores = Counters.Restores,
        RestoreFailures = Counters.RestoreFailures,
        RestoreMsTotal = Counters.RestoreMs,
        Saves = Counters.Saves,
        SaveMsTotal = Counters.SaveMs,
        Spills = Counters.Spills,
        KvEvictions = Counters.KvEvictions,
        RamEvictions = Counters.RamEvictions,
        DiskEvictions = Counters.DiskEvictions,
        FilesRejected = Store?.Disk?.Rejected ?? 0,
        RamBytes = Store?.RamBytes ?? 0,
        RamLimitBytes = Store?.RamLimitBytes ?? 0,
        RamEntries = Store?.RamEntries ?? 0,
        DiskBytes = Store?.DiskBytes ?? 0,
        DiskLimitBytes = Store?.Disk?.LimitBytes ?? 0,
        DiskEntries = Store?.DiskEntries ?? 0,
        DiskWritingStopped = Store?.Disk?.WritingStopped ?? false,
        Pins = pins,
    };

    [LoggerMessage(EventId = 2110, Level = LogLevel.Debug, Message = "prefix cache: {Id} restored {Tokens} tokens from {Source} in {Ms:F1} ms")]
    private partial void LogRestored(string id, int tokens, PrefixSource source, double ms);

    [LoggerMessage(EventId = 2112, Level = LogLevel.Warning, Message = "prefix cache: {Left} saved states were not written to the disk tier at shutdown (time or space ran out); they are lost")]
    private partial void LogFlushCut(int left);

    [LoggerMessage(EventId = 2111, Level = LogLevel.Warning, Message = "prefix cache: llama.cpp refused a saved state of {Tokens} tokens; it was dropped and the prompt is evaluated instead")]
    private partial void LogRestoreRefused(int tokens);
}
