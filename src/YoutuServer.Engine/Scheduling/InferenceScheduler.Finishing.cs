using System.Diagnostics;

namespace YoutuServer.Engine.Scheduling;

/// <summary>Finish rules: a choice ends (stop, length, cancelled, error), its sequence is kept as a prefix cache or freed, and the job completes with its usage.</summary>
public sealed partial class InferenceScheduler
{
    private void DropCancelled()
    {
        for (var node = pending.First; node != null;)
        {
            var next = node.Next;
            if (node.Value.Cancelled)
            {
                pending.Remove(node);
                Interlocked.Decrement(ref queued);
                var j = node.Value;
                for (var c = 0; c < j.Request.N; c++)
                {
                    j.Output.Writer.TryWrite(new ChoiceFinishedEvent(c, FinishReason.Cancelled, 0, ""));
                }

                j.Output.Writer.TryWrite(new RequestCompletedEvent(j.Usage(0)));
                j.Complete();
            }

            node = next;
        }

        for (var i = running.Count - 1; i >= 0; i--)
        {
            var j = running[i];
            if (!j.Cancelled)
            {
                continue;
            }

            foreach (var s in j.Slots)
            {
                if (s.Job == j && !s.Finished)
                {
                    FinishChoice(s, FinishReason.Cancelled, null);
                }
            }
        }
    }

    private void FinishChoice(Slot s, FinishReason reason, string? error, bool stopString = false)
    {
        var job = s.Job!;
        var tail = "";
        if (reason is FinishReason.Stop or FinishReason.Length && !stopString)
        {
            tail = s.Stop!.Push(s.Decoder.Flush(), out _) + s.Stop.Flush();
        }

        s.Finished = true;
        s.PendingToken = -1;
        s.LogitRow = -1;
        job.Output.Writer.TryWrite(new ChoiceFinishedEvent(s.Choice, reason, s.Generated, tail, error) { StopString = stopString ? s.Stop!.Matched : null });
        job.CompletionTokens += s.Generated;
        s.ReleaseSampler();
        s.Job = null;
        s.LastUsed = Interlocked.Increment(ref stepClock);
        if (reason is FinishReason.Cancelled or FinishReason.Error || !options.PrefixCache)
        {
            cache.Truncate(s, 0);
        }

        if (++job.FinishedChoices == job.Request.N)
        {
            running.Remove(job);
            job.Output.Writer.TryWrite(new RequestCompletedEvent(job.Usage(Stopwatch.GetTimestamp())));
            job.Complete();
        }
    }

    private void FailJob(Job j, string message)
    {
        foreach (var s in j.Slots)
        {
            if (s.Job == j && !s.Finished)
            {
                try
                {
                    FinishChoice(s, FinishReason.Error, message);
                }
                catch
                {
                    // best effort while crashing
                }
            }
        }

        if (!j.IsComplete)
        {
            FailQueuedJob(j, message);
        }
    }

    private void FailQueuedJob(Job job, string message)
    {
        for (var c = 0; c < job.Request.N; c++)
        {
            job.Output.Writer.TryWrite(new ChoiceFinishedEvent(c, FinishReason.Error, 0, "", message));
        }

        job.Output.Writer.TryWrite(new RequestCompletedEvent(job.Usage(0)));
        job.Complete();
    }
}
