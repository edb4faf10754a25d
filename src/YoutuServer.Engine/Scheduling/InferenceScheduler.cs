using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using YoutuServer.Engine.Caching;
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
    private readonly ConcurrentDictionary<PrefixPin, byte> pins = new();
    private KvCacheManager cache = null!;
    private string layoutFingerprint = "";
    private string[] adapterIdentities = [];

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
        var adapter = AdapterIndex(request);
        var job = new Job(request, Stopwatch.GetTimestamp()) { Adapter = adapter, Scope = ScopeOf(adapter, request.CacheSalt) };
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

        cache.Clear();
        stepClock = 0;
        PublishStats();
        Interlocked.Exchange(ref clearRequest, null);
        request.TrySetResult();
    }

    /// <summary>The prefix-cache scope of an adapter (0 = base) and a tenant salt: everything a cached prefix is valid for.</summary>
    private UInt128 ScopeOf(int adapter, string? salt)
        => PrefixHashing.Scope(layoutFingerprint, adapter == 0 ? "base" : adapterIdentities[adapter - 1], salt);

    /// <inheritdoc cref="InferenceEngine.PinPrefix"/>
    public PrefixPin PinPrefix(IReadOnlyList<int> tokens, string? adapter = null, string? cacheSalt = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (!started.Task.IsCompletedSuccessfully)
        {
            throw new InvalidOperationException("The engine has not started.");
        }

        var index = AdapterIndex(new GenerationRequest { Prompt = tokens, Adapter = adapter });
        var pin = new PrefixPin(ScopeOf(index, cacheSalt), [.. tokens], p => pins.TryRemove(p, out _));
        pins[pin] = 0;
        return pin;
    }

    private bool IsPinned(UInt128 scope, IReadOnlyList<int> tokens)
    {
        if (pins.IsEmpty)
        {
            return false;
        }

        foreach (var p in pins.Keys)
        {
            if (p.Holds(scope, tokens))
            {
                return true;
            }
        }

        return false;
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
            // A failure after the context exists (e.g. an unusable cache directory) must not leak it.
            if (batch.Token != null)
            {
                NativeMethods.llama_batch_free(batch);
                batch = default;
            }

            context?.Dispose();
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
            SaveCacheForRestart();
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

    /// <summary>At shutdown, with a disk tier: idle sequences and the RAM tier are written so sessions survive a restart.</summary>
    private void SaveCacheForRestart()
    {
        if (context is null || running.Count > 0)
        {
            return;
        }

        try
        {
            cache.SaveAllForRestart();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            LogCacheFlushFailed(e);
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
        CreateCache();
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

    /// <summary>The KV-cache manager and its saved tiers (RAM, disk) for this context.</summary>
    private void CreateCache()
    {
        layoutFingerprint = CacheIdentity.LayoutFingerprint(model.Path, model.LayerCount, options, model.GpuLayers);
        adapterIdentities = [.. adapters.Select(a => CacheIdentity.Adapter(a.Path, a.Scale))];
        var counters = new PrefixCacheCounters();
        StateStore? store = null;
        if (options.PrefixCache)
        {
            var ram = options.ResolveCacheRamBytes();
            DiskTier? disk = null;
            if (!string.IsNullOrEmpty(options.CacheDir) && options.CacheDiskMiB > 0)
            {
                try
                {
                    disk = new DiskTier(options.CacheDir, (long)options.CacheDiskMiB << 20, layoutFingerprint, logger);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
                {
                    throw new ModelLoadException($"The prefix cache directory '{options.CacheDir}' cannot be used: {e.Message}", e);
                }
            }

            if (ram > 0 || disk is not null)
            {
                store = new StateStore(ram, disk, counters, e => IsPinned(e.Scope, e.Tokens));
                store.LoadDiskIndex(nCtx - 1);
            }

            LogCacheTiers(ram >> 20, disk?.Directory ?? "off", store?.DiskEntries ?? 0, disk?.Rejected ?? 0);
        }

        cache = new KvCacheManager(ctx, mem, nCtx, slots, options.PrefixCache, store, IsPinned, counters, logger);
    }

    [LoggerMessage(EventId = 2204, Level = LogLevel.Information, Message = "prefix cache: RAM tier {RamMiB} MiB, disk tier {Dir} ({Files} states found, {Rejected} files removed)")]
    private partial void LogCacheTiers(long ramMiB, string dir, int files, long rejected);

    [LoggerMessage(EventId = 2205, Level = LogLevel.Warning, Message = "prefix cache: could not save the cache at shutdown")]
    private partial void LogCacheFlushFailed(Exception e);

    [LoggerMessage(EventId = 2203, Level = LogLevel.Critical, Message = "the inference loop crashed")]
    private partial void LogLoopCrashed(Exception e);
}
