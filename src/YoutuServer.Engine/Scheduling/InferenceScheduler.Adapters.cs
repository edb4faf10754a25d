using YoutuServer.Engine.Model;
using YoutuServer.Native;

namespace YoutuServer.Engine.Scheduling;

/// <summary>
/// LoRA adapter groups. llama.cpp applies adapters to a whole context, so sequences of different adapters cannot
/// share one llama_decode: each step decodes one group (the base model is group 0, adapter k is group k). Groups
/// with work are served in turn, round-robin, for <see cref="EngineOptions.AdapterQuantumSteps"/> steps each, so no
/// adapter starves under load from another; the context's adapter set is switched only when the served group
/// changes. Prefix reuse never crosses groups (<see cref="Slot.Adapter"/>).
/// </summary>
public sealed partial class InferenceScheduler
{
    private readonly LoraAdapter[] adapters;
    private int currentAdapter;
    private int appliedAdapter;
    private int stepsOnCurrent;
    private long adapterSwitches;
    private string[] lastRunningAdapters = [];
    private string[] lastWaitingAdapters = [];
    private DateTimeOffset adaptersChangedAt = DateTimeOffset.UtcNow;
    private bool otherGroupsGenerating;

    public IReadOnlyList<LoraAdapter> Adapters => adapters;

    /// <summary>0 for the base model, k for the k-th adapter; unknown ids are refused.</summary>
    private int AdapterIndex(GenerationRequest r)
    {
        if (r.Adapter is null)
        {
            return 0;
        }

        for (var i = 0; i < adapters.Length; i++)
        {
            if (string.Equals(adapters[i].Id, r.Adapter, StringComparison.Ordinal))
            {
                return i + 1;
            }
        }

        throw new EngineRejectedException(RejectionReason.InvalidRequest, $"no LoRA adapter '{r.Adapter}' is loaded", RequestField.Adapter);
    }

    /// <summary>Picks this step's group and batches its work; tries the other groups when it has nothing batchable.</summary>
    private void BuildAdapterGroupBatch()
    {
        if (adapters.Length == 0)
        {
            otherGroupsGenerating = false;
            BuildBatch();
            return;
        }

        var groups = adapters.Length + 1;
        var stay = stepsOnCurrent < Math.Max(1, options.AdapterQuantumSteps) && GroupHasWork(currentAdapter);
        var start = stay ? currentAdapter : currentAdapter + 1;
        for (var k = 0; k < groups; k++)
        {
            var g = (start + k) % groups;
            if (k > 0 && !GroupHasWork(g))
            {
                continue;
            }

            if (g != currentAdapter)
            {
                currentAdapter = g;
                stepsOnCurrent = 0;
            }

            otherGroupsGenerating = OthersGenerating(g);
            BuildBatch();
            if (entries.Count > 0)
            {
                stepsOnCurrent++;
                return;
            }
        }
    }

    private bool OthersGenerating(int group)
    {
        foreach (var j in running)
        {
            if (j.Adapter == group)
            {
                continue;
            }

            foreach (var s in j.Slots)
            {
                if (s.Job == j && !s.Finished && s.PendingToken >= 0)
                {
                    return true;
                }
            }
        }

        return false;
    }

    private bool GroupHasWork(int group)
    {
        foreach (var j in running)
        {
            if (j.Adapter != group)
            {
                continue;
            }

            foreach (var s in j.Slots)
            {
                if (s.Job == j && !s.Finished && (s.PendingToken >= 0 || j.Prefilling))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Sets the context's adapters to the served group's, only when that changes.</summary>
    private unsafe void ApplyAdapter()
    {
        if (currentAdapter == appliedAdapter)
        {
            return;
        }

        int rc;
        if (currentAdapter == 0)
        {
            rc = NativeMethods.llama_set_adapters_lora(ctx, null, 0, null);
        }
        else
        {
            var a = adapters[currentAdapter - 1];
            var handle = a.Handle;
            var scale = a.Scale;
            rc = NativeMethods.llama_set_adapters_lora(ctx, &handle, 1, &scale);
        }

        if (rc != 0)
        {
            // Always 0 in the pinned release; anything else is a bug the loop's crash handler reports to every client.
            throw new InvalidOperationException($"llama_set_adapters_lora returned {rc}");
        }

        appliedAdapter = currentAdapter;
        adapterSwitches++;
    }

    /// <summary>Adapter ids of running and waiting requests, and when either set last changed (for the LoRA info metric).</summary>
    private (string[] Running, string[] Waiting, DateTimeOffset ChangedAt) AdapterSets()
    {
        if (adapters.Length == 0)
        {
            return ([], [], adaptersChangedAt);
        }

        var runningSet = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var j in running)
        {
            if (j.Adapter > 0)
            {
                runningSet.Add(adapters[j.Adapter - 1].Id);
            }
        }

        var waitingSet = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var j in pending)
        {
            if (j.Adapter > 0)
            {
                waitingSet.Add(adapters[j.Adapter - 1].Id);
            }
        }

        if (!runningSet.SequenceEqual(lastRunningAdapters) || !waitingSet.SequenceEqual(lastWaitingAdapters))
        {
            lastRunningAdapters = [.. runningSet];
            lastWaitingAdapters = [.. waitingSet];
            adaptersChangedAt = DateTimeOffset.UtcNow;
        }

        return (lastRunningAdapters, lastWaitingAdapters, adaptersChangedAt);
    }
}
