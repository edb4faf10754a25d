using Microsoft.Extensions.Logging;
using System.Diagnostics;
using YoutuServer.Native;

namespace YoutuServer.Engine.Scheduling;

/// <summary>Batching: one decode token per generating sequence plus prompt chunks, one llama_decode per step, recovery from a failed decode.</summary>
public sealed partial class InferenceScheduler
{
    // ------------------------------------------------------------------ batching and decoding

    private void BuildBatch()
    {
        entries.Clear();
        // Streams of other adapter groups wait for this step too: keep its prompt chunk small for them as well.
        var generating = otherGroupsGenerating;
        foreach (var j in running)
        {
            if (j.Adapter != currentAdapter)
            {
                continue;
            }

            foreach (var s in j.Slots)
            {
                if (s.Job == j && !s.Finished && s.PendingToken >= 0)
                {
                    entries.Add(new BatchEntry(s, s.PendingToken, s.Tokens.Count, true));
                    generating = true;
                }
            }
        }

        // Prompts share what the decode tokens leave of the step budget, shortest remaining first (PrefillPolicy).
        var budget = PrefillPolicy.PromptBudget(nBatch, options.StepTokens, options.PromptChunkWhileGenerating, generating ? entries.Count : 0);
        if (generating && entries.Count == 0 && options.PromptChunkWhileGenerating > 0)
        {
            // Only other adapter groups are generating: their streams wait for this step, so the optional cap holds too.
            budget = Math.Min(budget, options.PromptChunkWhileGenerating);
        }
        prefillOrder.Clear();
        foreach (var j in running)
        {
            var first = j.Slots[0];
            if (j.Prefilling && first.Job == j && !first.Finished && j.Adapter == currentAdapter)
            {
                prefillOrder.Add((j, j.Request.Prompt.Count - first.Tokens.Count, j.AdmitStep));
            }
        }

        if (prefillOrder.Count > 1)
        {
            PrefillPolicy.Order(prefillOrder, steps);
        }

        foreach (var (j, _, _) in prefillOrder)
        {
            if (budget <= 0)
            {
                break;
            }

            var s = j.Slots[0];
            var prompt = j.Request.Prompt;
            var from = s.Tokens.Count;
            var take = Math.Min(budget, prompt.Count - from);
            // Make sure the KV pool can hold this chunk; otherwise wait for cells (or evict idle caches).
            if (!cache.EnsureFreeCells(take + entries.Count, null, null))
            {
                take = Math.Max(0, nCtx - cache.UsedCells - entries.Count);
            }

            for (var i = 0; i < take; i++)
            {
                var last = from + i == prompt.Count - 1;
                entries.Add(new BatchEntry(s, prompt[from + i], from + i, last));
            }

            budget -= take;
        }
    }

    private unsafe bool Decode(List<BatchEntry> list)
    {
        batch.NTokens = list.Count;
        for (var i = 0; i < list.Count; i++)
        {
            var e = list[i];
            batch.Token[i] = e.Token;
            batch.Pos[i] = e.Pos;
            batch.NSeqId[i] = 1;
            batch.SeqId[i][0] = e.Slot.SeqId;
            batch.Logits[i] = (sbyte)(e.Logits ? 1 : 0);
        }

        var rc = NativeMethods.llama_decode(ctx, batch);
        if (rc == 0)
        {
            // On a GPU llama_decode returns once the work is queued; wait here so decode time is the device's time
            // (the first logits read would wait anyway).
            NativeMethods.llama_synchronize(ctx);
        }
        else
        {
            LogDecodeFailed(rc, list.Count);
        }

        return rc == 0;
    }

    /// <summary>After a successful decode: KV now holds these tokens; remember which rows carry logits.</summary>
    private void CommitBatch(List<BatchEntry> list)
    {
        for (var i = 0; i < list.Count; i++)
        {
            var e = list[i];
            var s = e.Slot;
            cache.Append(s, e.Token);
            if (e.Logits)
            {
                s.LogitRow = i;
                var job = s.Job!;
                if (job.Prefilling && s == job.Slots[0])
                {
                    // Prompt done: copy its cells to the other choices, which then sample from the same logits row.
                    job.PromptDone(Stopwatch.GetTimestamp());
                    promptTokens += s.Tokens.Count - job.CachedTokens;
                    for (var c = 1; c < job.Slots.Count; c++)
                    {
                        var o = job.Slots[c];
                        cache.Share(s, o, s.Tokens.Count);
                        o.LogitRow = i;
                    }
                }
            }
        }
    }

    /// <summary>
    /// A failed llama_decode must only fail the requests that caused it: roll the batch back, then decode
    /// each request's part alone; a part that still fails ends its request with an error.
    /// </summary>
    private void RecoverFromDecodeFailure()
    {
        var byJob = entries.GroupBy(e => e.Slot.Job!).Select(g => (Job: g.Key, Entries: g.ToList())).ToList();
        foreach (var (job, list) in byJob)
        {
            foreach (var e in list)
            {
                NativeMethods.llama_memory_seq_rm(mem, e.Slot.SeqId, e.Slot.Tokens.Count, -1);
            }
        }

        foreach (var (job, list) in byJob)
        {
            if (Decode(list))
            {
                // Sample now: the next sub-decode overwrites these logits. SampleAll resets the rows it used,
                // so the step's own SampleAll afterwards finds nothing left to sample.
                CommitBatch(list);
                SampleAll();
                continue;
            }

            foreach (var e in list)
            {
                NativeMethods.llama_memory_seq_rm(mem, e.Slot.SeqId, e.Slot.Tokens.Count, -1);
            }

            foreach (var s in job.Slots)
            {
                if (s.Job == job && !s.Finished)
                {
                    FinishChoice(s, FinishReason.Error, "llama_decode failed for this request (invalid tokens or out of KV cells)");
                }
            }
        }
    }

    [LoggerMessage(EventId = 2202, Level = LogLevel.Warning, Message = "llama_decode returned {Rc} for a batch of {Count} tokens")]
    private partial void LogDecodeFailed(int rc, int count);

    private readonly record struct BatchEntry(Slot Slot, int Token, int Pos, bool Logits);
}
