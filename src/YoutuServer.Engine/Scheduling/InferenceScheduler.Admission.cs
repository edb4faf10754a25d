using Microsoft.Extensions.Logging;
using System.Diagnostics;
using YoutuServer.Engine.Caching;

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
            // The KV-cache manager picks the primary slot and the longest reusable prefix (in place, shared from
            // another sequence, or restored from a saved state); at least one prompt token is left to evaluate.
            var plan = cache.Plan(job, free);
            // Count the prompt cells already-admitted requests will still take, so admission never overbooks the pool.
            var need = prompt.Count - plan.Reuse + job.Request.N + PendingPromptCells();
            if (!cache.EnsureFreeCells(need, plan.Slot, plan.From))
            {
                if (running.Count > 0)
                {
                    return; // wait until running sequences free their cells
                }
            }

            pending.RemoveFirst();
            Interlocked.Decrement(ref queued);
            var outcome = cache.Apply(plan, job, free);
            var primary = plan.Slot;
            var reuse = outcome.Reused;
            var chosen = new List<Slot> { primary };
            foreach (var s in free.Where(s => s != primary).OrderBy(s => s.Tokens.Count == 0 ? 0 : 1).ThenBy(s => s.LastUsed).Take(job.Request.N - 1))
            {
                cache.Save(s);
                cache.Truncate(s, 0);
                chosen.Add(s);
            }

            foreach (var s in chosen)
            {
                s.Adapter = job.Adapter;
                s.Scope = job.Scope;
            }

            job.RestoredTokens = outcome.Restored;
            job.RestoreMs = outcome.RestoreMs;
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
            LogAdmitted(job.Request.Id ?? "-", prompt.Count, reuse, outcome.Source, primary.SeqId);
        next:;
        }
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

    [LoggerMessage(EventId = 2201, Level = LogLevel.Debug, Message = "admitted {Id}: {Prompt} prompt tokens, {Cached} reused from cache ({Source}), seq {Seq}")]
    private partial void LogAdmitted(string id, int prompt, int cached, PrefixSource source, int seq);
}
