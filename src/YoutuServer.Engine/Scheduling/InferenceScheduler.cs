using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using YoutuServer.Engine.Model;
using YoutuServer.Engine.Sampling;
using YoutuServer.Native;

namespace YoutuServer.Engine.Scheduling;

/// <summary>
/// The heart of the engine: one dedicated thread owns the llama_context and makes every native call.
/// Requests arrive through a channel; each step packs one decode token per generating sequence plus prompt
/// chunks of admitted ones into a single llama_batch, calls llama_decode once, and samples every sequence
/// with its own chain. Finished sequences keep their KV cells as a prefix cache (LRU) for later requests.
/// </summary>
/// <remarks>
/// Tokens go back through one unbounded channel per request, so the loop never waits on a slow reader.
/// Cancellation only marks a job; the loop drops it at its next step and frees its KV sequence.
/// </remarks>
public sealed partial class InferenceScheduler : IAsyncDisposable
{
    private readonly LlamaModel model;
    private readonly EngineOptions options;
    private readonly ILogger logger;
    private readonly Channel<Job> submissions;
    private readonly Thread thread;
    private readonly TaskCompletionSource started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource stopLoop = new();
    private readonly LinkedList<Job> pending = new();
    private readonly List<Job> running = [];
    private readonly Slot[] slots;
    private readonly List<BatchEntry> entries = [];
    private readonly List<Slot> toSample = [];
    private readonly List<(Job Job, int Remaining, long AdmitStep)> prefillOrder = [];
    private readonly Slot[] picks;
    private readonly SamplingWorkers? samplingWorkers;
    private int pickCount;
    private long parallelSampleSteps;
    private readonly int nBatch;
    private SafeLlamaContextHandle? context;
    private nint ctx;
    private nint mem;
    private LlamaBatch batch;
    private int nCtx;
    private int queued;
    private volatile bool draining;
    private volatile bool forceFinish;
    private long steps;
    private long promptTokens;
    private long generatedTokens;
    private long cachedTokens;
    private double decodeMs;
    private double sampleMs;
    private double overheadUs;
    private long lastStepTicks;
    private long stepClock;
    private volatile EngineStats snapshot = new();
    private TaskCompletionSource? clearRequest;
    private TaskCompletionSource wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string backend;

    public InferenceScheduler(LlamaModel model, EngineOptions options, ILogger? logger = null, IReadOnlyList<LoraAdapter>? adapters = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Parallel, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.CtxSize, 16);
        this.model = model;
        this.options = options;
        this.logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        nBatch = Math.Max(options.BatchSize, options.Parallel);
        backend = model.Backend;
        slots = new Slot[options.Parallel];
        for (var i = 0; i < slots.Length; i++)
        {
            slots[i] = new Slot(i);
        }

        picks = new Slot[options.Parallel];
        var samplingThreads = options.SamplingThreads > 0 ? options.SamplingThreads : Math.Min(Environment.ProcessorCount, 8);
        if (samplingThreads > 1 && options.Parallel > 1)
        {
            samplingWorkers = new SamplingWorkers(Math.Min(samplingThreads, options.Parallel) - 1, SampleOne);
        }

        submissions = Channel.CreateBounded<Job>(new BoundedChannelOptions(Math.Max(1, options.QueueSize))
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        thread = new Thread(Run) { IsBackground = true, Name = "youtu-inference" };
        this.adapters = [.. adapters ?? []];
    }

    public LlamaModel Model => model;
    public int ContextSize => nCtx;
    public EngineStats Stats => snapshot;

    /// <summary>Creates the context on the inference thread and waits until the loop runs.</summary>
    public Task StartAsync()
    {
        thread.Start();
        return started.Task;
    }

    /// <summary>Queues a request. Throws EngineRejectedException (queue full, too long, shutting down, invalid).</summary>
    public GenerationHandle Submit(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        if (draining || stopLoop.IsCancellationRequested)
        {
            throw new EngineRejectedException(RejectionReason.ShuttingDown, "The server is shutting down and accepts no new requests.");
        }

        Validate(request);
        var job = new Job(request, Stopwatch.GetTimestamp()) { Adapter = AdapterIndex(request) };
        if (Interlocked.Increment(ref queued) > options.QueueSize || !submissions.Writer.TryWrite(job))
        {
            Interlocked.Decrement(ref queued);
            throw new EngineRejectedException(RejectionReason.QueueFull,
                $"The server is busy: {options.QueueSize} requests are already waiting. Retry shortly.");
        }

        if (cancellationToken.CanBeCanceled)
        {
            job.Registration = cancellationToken.Register(static j => ((Job)j!).Cancelled = true, job);
        }

        return new GenerationHandle(job.Output.Reader, job);
    }

    private void Validate(GenerationRequest r)
    {
        if (r.Prompt.Count == 0)
        {
            throw new EngineRejectedException(RejectionReason.InvalidRequest, "The prompt is empty.", RequestField.Prompt);
        }

        if (r.N < 1 || r.N > options.Parallel)
        {
            throw new EngineRejectedException(RejectionReason.InvalidRequest,
                $"The number of completions must be between 1 and {options.Parallel} (the server's parallel sequences), got {r.N}.", RequestField.Count);
        }

        if (r.MaxTokens < 1)
        {
            throw new EngineRejectedException(RejectionReason.InvalidRequest, "The maximum number of tokens must be at least 1.", RequestField.MaxTokens);
        }

        var limit = options.CtxSize;
        var wanted = (long)r.Prompt.Count + r.MaxTokens;
        if (wanted > limit)
        {
            throw new EngineRejectedException(RejectionReason.ContextLengthExceeded,
                $"This model's maximum context length is {limit} tokens. However, you requested {wanted} tokens " +
                $"({r.Prompt.Count} in the prompt, {r.MaxTokens} in the completion). Please reduce the length of the prompt or completion.",
                RequestField.Prompt)
            { RequestedTokens = (int)Math.Min(int.MaxValue, wanted), ContextLimit = limit };
        }
    }

    /// <summary>
    /// Once nothing runs or waits, forgets every idle prefix cache and empties the KV cache, so the next request
    /// finds the engine as it was after start (same cells, same slot choice, nothing reused). For tests that share
    /// one engine: what a request computes must not depend on what ran before it.
    /// </summary>
    internal Task ClearPrefixCacheAsync()
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var existing = Interlocked.CompareExchange(ref clearRequest, tcs, null);
        if (existing is not null)
        {
            return existing.Task;
        }

        if (stopped.Task.IsCompleted)
        {
            Interlocked.Exchange(ref clearRequest, null);
            return Task.FromException(new ObjectDisposedException(nameof(InferenceScheduler)));
        }

        Interlocked.Exchange(ref wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        return tcs.Task;
    }

    private void ClearIfRequested()
    {
        if (Volatile.Read(ref clearRequest) is not { } request || running.Count > 0 || pending.Count > 0)
        {
            return;
        }

        foreach (var s in slots)
        {
            s.Tokens.Clear();
            s.LastUsed = 0;
        }

        NativeMethods.llama_memory_clear(mem, true);
        stepClock = 0;
        PublishStats();
        Interlocked.Exchange(ref clearRequest, null);
        request.TrySetResult();
    }

    /// <summary>Stops admitting new requests (HTTP 503); running and queued ones continue.</summary>
    public void BeginDrain() => draining = true;

    /// <summary>Ends every running and queued request now with finish reason "length".</summary>
    public void FinishAll() => forceFinish = true;

    public async ValueTask DisposeAsync()
    {
        draining = true;
        forceFinish = true;
        await stopLoop.CancelAsync();
        if (thread.IsAlive)
        {
            await stopped.Task.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }

        stopLoop.Dispose();
    }

    // ------------------------------------------------------------------ the loop

    private unsafe void Run()
    {
        try
        {
            CreateContext();
            started.TrySetResult();
        }
        catch (Exception e)
        {
            samplingWorkers?.Dispose();
            started.TrySetException(e);
            stopped.TrySetResult();
            return;
        }

        try
        {
            while (!stopLoop.IsCancellationRequested || running.Count > 0 || pending.Count > 0)
            {
                ClearIfRequested();
                if (running.Count == 0 && pending.Count == 0 && !WaitForWork())
                {
                    if (stopLoop.IsCancellationRequested)
                    {
                        break;
                    }

                    continue;
                }

                Step();
            }
        }
        catch (Exception e)
        {
            // A bug in the loop must not leave clients hanging: fail everything we hold.
            LogLoopCrashed(e);
            foreach (var j in running.Concat(pending).ToList())
            {
                FailJob(j, "internal error in the inference loop: " + e.Message);
            }
        }
        finally
        {
            DrainSubmissionsOnExit();
            batch.NTokens = 0;
            if (batch.Token != null)
            {
                NativeMethods.llama_batch_free(batch);
            }

            foreach (var s in slots)
            {
                s.ReleaseSampler();
            }

            samplingWorkers?.Dispose();
            context?.Dispose();
            snapshot = snapshot with { Running = false };
            stopped.TrySetResult();
            Interlocked.Exchange(ref clearRequest, null)?.TrySetException(new ObjectDisposedException(nameof(InferenceScheduler)));
        }
    }

    private void CreateContext()
    {
        var p = NativeMethods.llama_context_default_params();
        var threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        p.NCtx = (uint)options.CtxSize;
        p.NBatch = (uint)nBatch;
        p.NUbatch = (uint)Math.Min(nBatch, 512);
        p.NSeqMax = (uint)options.Parallel;
        p.NThreads = threads;
        p.NThreadsBatch = options.ThreadsBatch > 0 ? options.ThreadsBatch : threads;
        p.FlashAttnType = options.FlashAttention;
        // One shared pool of cells: a long conversation may use most of the context while others are short.
        p.KvUnified = true;
        p.NoPerf = true;
        var c = NativeMethods.llama_init_from_model(model.Handle.DangerousGetHandle(), p);
        if (c == 0)
        {
            throw new ModelLoadException($"llama.cpp could not create a context (n_ctx {options.CtxSize}, parallel {options.Parallel}); see the log.");
        }

        context = new SafeLlamaContextHandle(c, model.Handle);
        ctx = c;
        mem = NativeMethods.llama_get_memory(ctx);
        nCtx = (int)NativeMethods.llama_n_ctx(ctx);
        batch = NativeMethods.llama_batch_init(nBatch, 0, 1);
        snapshot = BuildStats();
        lastStepTicks = Stopwatch.GetTimestamp();
    }

    private bool WaitForWork()
    {
        PublishStats();
        try
        {
            var t = submissions.Reader.WaitToReadAsync(stopLoop.Token).AsTask();
            var woken = Volatile.Read(ref wake).Task;
            if (Volatile.Read(ref clearRequest) is not null)
            {
                return false; // handled at the top of the loop
            }

            // Wake periodically so a drain timeout (FinishAll) and stats stay responsive while idle.
            Task.WaitAny([t, woken], TimeSpan.FromMilliseconds(250));
            return t.IsCompletedSuccessfully && t.Result;
        }
        catch (AggregateException) when (stopLoop.IsCancellationRequested)
        {
            return false;
        }
    }

    private void Step()
    {
        var t0 = Stopwatch.GetTimestamp();
        while (submissions.Reader.TryRead(out var job))
        {
            pending.AddLast(job);
        }

        DropCancelled();
        if (forceFinish)
        {
            foreach (var j in running.ToList())
            {
                foreach (var s in j.Slots)
                {
                    if (s.Job == j && !s.Finished)
                    {
                        FinishChoice(s, FinishReason.Length, null);
                    }
                }
            }

            while (pending.First is { } node)
            {
                pending.RemoveFirst();
                Interlocked.Decrement(ref queued);
                node.Value.Output.Writer.TryWrite(new RequestCompletedEvent(new GenerationUsage(node.Value.Request.Prompt.Count, 0, 0, 0, 0, 0)));
                node.Value.Complete();
            }
        }

        Admit();
        BuildAdapterGroupBatch();
        if (entries.Count == 0)
        {
            // Nothing could be batched although prompts are pending: their cells together exceed the KV pool.
            // Fail the newest one so the others can finish (it gets a clear error instead of a hang).
            var stuck = running.LastOrDefault(j => j.Prefilling);
            if (stuck is not null)
            {
                FailJob(stuck, $"the KV cache ({nCtx} cells) is full with other requests' prompts; retry, or raise --ctx-size / lower --parallel");
            }

            PublishStats();
            return;
        }

        ApplyAdapter();
        var t1 = Stopwatch.GetTimestamp();
        var ok = Decode(entries);
        var t2 = Stopwatch.GetTimestamp();
        if (!ok)
        {
            RecoverFromDecodeFailure();
        }
        else
        {
            CommitBatch(entries);
        }

        var t3 = Stopwatch.GetTimestamp();
        SampleAll();
        var t4 = Stopwatch.GetTimestamp();

        steps++;
        var dMs = Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds;
        var sMs = Stopwatch.GetElapsedTime(t3, t4).TotalMilliseconds;
        decodeMs += dMs;
        sampleMs += sMs;
        var totalUs = Stopwatch.GetElapsedTime(t0, t4).TotalMicroseconds;
        overheadUs += totalUs - (dMs + sMs) * 1000.0;
        lastStepTicks = t4;
        PublishStats();
    }

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

    private void FailQueuedJob(Job job, string message)
    {
        for (var c = 0; c < job.Request.N; c++)
        {
            job.Output.Writer.TryWrite(new ChoiceFinishedEvent(c, FinishReason.Error, 0, "", message));
        }

        job.Output.Writer.TryWrite(new RequestCompletedEvent(job.Usage(0)));
        job.Complete();
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
            if (!EnsureFreeCells(take + entries.Count, keep: null))
            {
                take = Math.Max(0, nCtx - UsedCells() - entries.Count);
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
            s.Tokens.Add(e.Token);
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
                        NativeMethods.llama_memory_seq_cp(mem, s.SeqId, o.SeqId, -1, -1);
                        o.Tokens.Clear();
                        o.Tokens.AddRange(s.Tokens);
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

    // ------------------------------------------------------------------ sampling

    private unsafe void SampleAll()
    {
        toSample.Clear();
        foreach (var j in running)
        {
            foreach (var s in j.Slots)
            {
                if (s.Job == j && !s.Finished && s.LogitRow >= 0)
                {
                    toSample.Add(s);
                }
            }
        }

        // 1. On this thread (it owns the context): each row's address, and forced tokens, which need no sampling.
        pickCount = 0;
        foreach (var s in toSample)
        {
            var row = s.LogitRow;
            s.LogitRow = -1;
            s.Logits = (nint)NativeMethods.llama_get_logits_ith(ctx, row);
            s.Sampled = -1;
            if (s.Logits == 0)
            {
                continue;
            }

            if (s.Forced.Count > 0 && !s.Sampler!.GrammarAllows(s.Forced.Peek()))
            {
                // A reasoning budget ending where the grammar does not allow the close tag now (inside a UTF-8
                // character, or a tool-call grammar engaged inside text-level reasoning): the grammar wins this step,
                // and the budget tries again after the next token.
                s.Forced.Clear();
                s.RetryReasoningClose();
            }

            if (s.Forced.Count > 0)
            {
                s.Sampled = s.Forced.Dequeue();
                s.Sampler!.Accept(s.Sampled);
            }
            else
            {
                picks[pickCount++] = s;
            }
        }

        // 2. Sampling: each sequence has its own chain and only reads its row, so they may run side by side.
        if (samplingWorkers is not null && pickCount >= Math.Max(2, options.ParallelSamplingMinSequences)
            && model.VocabSize >= options.ParallelSamplingMinVocab)
        {
            samplingWorkers.Run(pickCount);
            parallelSampleSteps++;
        }
        else
        {
            for (var i = 0; i < pickCount; i++)
            {
                SampleOne(i);
            }
        }

        Array.Clear(picks, 0, pickCount);

        // 3. On this thread again: events, stop strings, finishing.
        foreach (var s in toSample)
        {
            var job = s.Job!;
            var r = job.Request;
            var logits = (float*)s.Logits;
            s.Logits = 0;
            if (logits == null)
            {
                FinishChoice(s, FinishReason.Error, "no logits for this sequence");
                continue;
            }

            var token = s.Sampled;
            if (token == SamplerChain.End)
            {
                // ignore_eos and min_tokens forbid the end, but a grammar that allows nothing else has ended the
                // output: that is a Stop, not a failure (SamplerChain relaxes conflicting constraints in a fixed order).
                FinishChoice(s, FinishReason.Stop, null);
                continue;
            }

            if (token < 0)
            {
                FinishChoice(s, FinishReason.Error, "no token is allowed by the grammar at this point");
                continue;
            }

            var logprobs = r.TopLogprobs >= 0 ? Logprobs.Prepare(logits, model.VocabSize, r.TopLogprobs) : default;
            generatedTokens++;
            s.Generated++;
            try
            {
                s.TrackDeferredGrammar(model, token);
            }
            catch (EngineRejectedException e)
            {
                FinishChoice(s, FinishReason.Error, e.Message);
                continue;
            }

            if (model.IsEndOfGeneration(token) && !r.IgnoreEos)
            {
                FinishChoice(s, FinishReason.Stop, null);
                continue;
            }

            var text = s.Decode(model, token);
            s.TrackReasoning(text);
            var emit = s.Stop!.Push(text, out var hitStop);
            var lp = r.TopLogprobs >= 0 ? logprobs.Of(logits, token) : 0f;
            job.Output.Writer.TryWrite(new TokenEvent(s.Choice, token, emit, lp, logprobs.Top));
            if (hitStop)
            {
                FinishChoice(s, FinishReason.Stop, null, stopString: true);
            }
            else if (r.EndUnlessRoom is { } room && s.OutputEndsWith(text, room.AfterText) && r.MaxTokens - s.Generated < room.MinRoom)
            {
                FinishChoice(s, FinishReason.Stop, null);
            }
            else if (s.Generated >= r.MaxTokens)
            {
                FinishChoice(s, FinishReason.Length, null);
            }
            else if (s.Tokens.Count + 1 >= nCtx)
            {
                FinishChoice(s, FinishReason.Length, null);
            }
            else
            {
                s.PendingToken = token;
            }
        }
    }

    /// <summary>Samples picks[i] from its row (any thread: touches only that slot's sampler and reads the row).</summary>
    private unsafe void SampleOne(int i)
    {
        var s = picks[i];
        var r = s.Job!.Request;
        // ignore_eos / min_tokens: end-of-generation tokens count as -inf (the row itself is not written); the result
        // may be SamplerChain.End (the grammar allows only the forbidden end) or -1, handled on the inference thread.
        s.Sampled = s.Sampler!.Sample((float*)s.Logits, endForbidden: r.IgnoreEos || s.Generated < r.MinTokens);
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
            TruncateSeq(s, 0);
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

    private void DrainSubmissionsOnExit()
    {
        while (submissions.Reader.TryRead(out var j))
        {
            pending.AddLast(j);
        }

        foreach (var j in pending)
        {
            FailQueuedJob(j, "the server stopped before this request could run");
        }

        pending.Clear();
    }

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
            KvCellsUsed = UsedCells(),
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

    [LoggerMessage(Level = LogLevel.Debug, Message = "admitted {Id}: {Prompt} prompt tokens, {Cached} reused from cache, seq {Seq}")]
    private partial void LogAdmitted(string id, int prompt, int cached, int seq);

    [LoggerMessage(Level = LogLevel.Warning, Message = "llama_decode returned {Rc} for a batch of {Count} tokens")]
    private partial void LogDecodeFailed(int rc, int count);

    [LoggerMessage(Level = LogLevel.Critical, Message = "the inference loop crashed")]
    private partial void LogLoopCrashed(Exception e);

    private readonly record struct BatchEntry(Slot Slot, int Token, int Pos, bool Logits);
}
