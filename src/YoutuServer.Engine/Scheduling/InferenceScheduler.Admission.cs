using Microsoft.Extensions.Logging;
using System.Diagnostics;
using YoutuServer.Native;

namespace YoutuServer.Engine.Scheduling;

/// <summary>Admission: queued jobs get slots, the longest cached prefix is reused, idle caches are evicted when cells run short.</summary>
public sealed partial class InferenceScheduler
{
    // ------------------------------------------------------------------ admission and prefix reuse

    private void Admit()
    {
        while (pending.First is { } node)
        {
            var job = node.Value;
            var free = slots.Where(s => s.Job == null).ToList();
            if (free.Count < job.Request.N)
            {
                return;
            }

            var prompt = job.Request.Prompt;
            // Primary slot: the idle cache sharing the longest prefix; otherwise the least recently used one.
            Slot primary = free[0];
            var best = -1;
            foreach (var s in free)
            {
                var lcp = options.PrefixCache && s.Adapter == job.Adapter ? s.CommonPrefix(prompt) : 0;
                if (lcp > best || (lcp == best && s.LastUsed < primary.LastUsed))
                {
                    best = lcp;
                    primary = s;
                }
            }

            // At least one prompt token must be evaluated to get logits for the first sample.
            var reuse = Math.Min(best, prompt.Count - 1);
            // Count the prompt cells already-admitted requests will still take, so admission never overbooks the pool.
            var need = prompt.Count - reuse + job.Request.N + PendingPromptCells();
            if (!EnsureFreeCells(need, keep: primary))
            {
                if (running.Count > 0)
                {
                    return; // wait until running sequences free their cells
                }
            }

            pending.RemoveFirst();
            Interlocked.Decrement(ref queued);
            TruncateSeq(primary, reuse);
            var chosen = new List<Slot> { primary };
            foreach (var s in free.Where(s => s != primary).OrderBy(s => s.Tokens.Count == 0 ? 0 : 1).ThenBy(s => s.LastUsed).Take(job.Request.N - 1))
            {
                TruncateSeq(s, 0);
                chosen.Add(s);
            }

            foreach (var s in chosen)
            {
                s.Adapter = job.Adapter;
            }

            job.Admit(chosen, reuse, Stopwatch.GetTimestamp());
            job.AdmitStep = steps;
            for (var c = 0; c < chosen.Count; c++)
            {
                try
                {
                    chosen[c].Begin(job, c, model, c == 0 ? reuse : 0, options.SamplerMode);
                }
                catch (EngineRejectedException e)
                {
                    // e.g. a grammar llama.cpp cannot parse: this request fails, the loop goes on.
                    foreach (var s in chosen)
                    {
                        s.ReleaseSampler();
                        s.Job = null;
                    }

                    FailQueuedJob(job, e.Message);
                    goto next;
                }
            }

            cachedTokens += reuse;
            running.Add(job);
            job.Output.Writer.TryWrite(new AdmittedEvent(prompt.Count, reuse));
            LogAdmitted(job.Request.Id ?? "-", prompt.Count, reuse, primary.SeqId);
        next:;
        }
    }

    private int UsedCells()
    {
        var used = 0;
        foreach (var s in slots)
        {
            used += s.Tokens.Count;
        }

        return used;
    }

    private int PendingPromptCells()
    {
        var n = 0;
        foreach (var j in running)
        {
            if (j.Prefilling)
            {
                n += j.Request.Prompt.Count - j.Slots[0].Tokens.Count;
            }
        }

        return n;
    }

    /// <summary>Evicts idle prefix caches (LRU first) until <paramref name="need"/> cells are free.</summary>
    private bool EnsureFreeCells(int need, Slot? keep)
    {
        while (nCtx - UsedCells() < need)
        {
            Slot? victim = null;
            foreach (var s in slots)
            {
                if (s.Job == null && s != keep && s.Tokens.Count > 0 && (victim == null || s.LastUsed < victim.LastUsed))
                {
                    victim = s;
                }
            }

            if (victim == null)
            {
                return false;
            }

            TruncateSeq(victim, 0);
        }

        return true;
    }

    private void TruncateSeq(Slot s, int keep)
    {
        if (s.Tokens.Count > keep)
        {
            NativeMethods.llama_memory_seq_rm(mem, s.SeqId, keep, -1);
            s.Tokens.RemoveRange(keep, s.Tokens.Count - keep);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "admitted {Id}: {Prompt} prompt tokens, {Cached} reused from cache, seq {Seq}")]
    private partial void LogAdmitted(string id, int prompt, int cached, int seq);
}
