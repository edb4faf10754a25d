using YoutuServer.Native;

namespace YoutuServer.Engine.Scheduling;

/// <summary>Stats: the snapshot any thread may read, rebuilt by the inference thread after each step.</summary>
public sealed partial class InferenceScheduler
{
    private void PublishStats() => snapshot = BuildStats();

    private EngineStats BuildStats()
    {
        var active = 0;
        var activeCells = 0;
        foreach (var s in slots)
        {
            if (s.Job != null)
            {
                active++;
                activeCells += s.Tokens.Count;
            }
        }

        var (runningAdapters, waitingAdapters, changedAt) = AdapterSets();

        return new EngineStats
        {
            QueueDepth = Math.Max(0, Volatile.Read(ref queued)),
            ActiveRequests = running.Count,
            ActiveSequences = active,
            Slots = slots.Length,
            KvCellsUsed = cache?.UsedCells ?? 0,
            KvCellsTotal = nCtx,
            KvCellsActive = activeCells,
            MaxAdapters = adapters.Length,
            RunningAdapters = runningAdapters,
            WaitingAdapters = waitingAdapters,
            AdaptersChangedAt = changedAt,
            AdapterSwitches = adapterSwitches,
            Steps = steps,
            PromptTokensEvaluated = promptTokens,
            TokensGenerated = generatedTokens,
            CachedPromptTokens = cachedTokens,
            PrefixCache = cache?.Snapshot(pins.Count) ?? new(),
            DecodeMsTotal = decodeMs,
            SampleMsTotal = sampleMs,
            ParallelSampledSteps = parallelSampleSteps,
            Backend = backend,
            GpuLayers = model.GpuLayers,
            LoopOverheadUsPerStep = steps == 0 ? 0 : overheadUs / steps,
            Draining = draining,
            Running = true,
            LastStepAt = DateTimeOffset.UtcNow,
        };
    }

    /// <summary>Cells the KV cache really holds for a sequence (for tests that prove cells are freed).</summary>
    internal (int PosMin, int PosMax) NativeSequenceRange(int seq)
        => (NativeMethods.llama_memory_seq_pos_min(mem, seq), NativeMethods.llama_memory_seq_pos_max(mem, seq));
}
