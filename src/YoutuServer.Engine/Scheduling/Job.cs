using System.Diagnostics;
using System.Threading.Channels;

namespace YoutuServer.Engine.Scheduling;

/// <summary>A submitted request as the loop sees it. Cancelled is set from any thread; the rest only by the loop.</summary>
internal sealed class Job
{
    private long admittedAt;
    private long promptDoneAt;

    public Job(GenerationRequest request, long enqueuedAt)
    {
        Request = request;
        EnqueuedAt = enqueuedAt;
        Output = Channel.CreateUnbounded<GenerationEvent>(new UnboundedChannelOptions { SingleWriter = true, SingleReader = true });
    }

    public GenerationRequest Request { get; }
    /// <summary>0 = the base model, k = the scheduler's k-th adapter.</summary>
    public int Adapter { get; init; }
    public Channel<GenerationEvent> Output { get; }
    public long EnqueuedAt { get; }
    public volatile bool Cancelled;
    public CancellationTokenRegistration Registration { get; set; }
    public List<Slot> Slots { get; private set; } = [];
    public int CachedTokens { get; private set; }
    /// <summary>The prefix-cache scope of the request (adapter and tenant salt).</summary>
    public UInt128 Scope { get; init; }
    /// <summary>Chained block keys of the prompt (computed once, when a saved state is looked up).</summary>
    public List<UInt128> Blocks { get; } = [];
    /// <summary>Prompt tokens restored from a saved state (RAM or disk), and how long that took.</summary>
    public int RestoredTokens { get; set; }
    public double RestoreMs { get; set; }
    public bool Prefilling { get; private set; }
    /// <summary>The scheduler step in which the job was admitted (the prefill policy ages waiting prompts by it).</summary>
    public long AdmitStep { get; set; }
    public int FinishedChoices { get; set; }
    public int CompletionTokens { get; set; }
    public bool IsComplete { get; private set; }

    public void Admit(List<Slot> slots, int cached, long now)
    {
        Slots = slots;
        CachedTokens = cached;
        Prefilling = true;
        admittedAt = now;
    }

    public void EnsureBlocks()
    {
        if (Blocks.Count == 0)
        {
            Caching.PrefixHashing.Chain(Scope, Request.Prompt, Request.Prompt.Count, Blocks);
        }
    }

    public void PromptDone(long now)
    {
        Prefilling = false;
        promptDoneAt = now;
    }

    public GenerationUsage Usage(long now)
    {
        static double Ms(long a, long b) => a == 0 || b == 0 ? 0 : Stopwatch.GetElapsedTime(a, b).TotalMilliseconds;
        var end = now == 0 ? Stopwatch.GetTimestamp() : now;
        return new GenerationUsage(Request.Prompt.Count, CachedTokens, CompletionTokens,
            Ms(EnqueuedAt, admittedAt == 0 ? end : admittedAt), Ms(admittedAt, promptDoneAt), Ms(EnqueuedAt, end))
        {
            RestoredTokens = RestoredTokens,
            RestoreMs = RestoreMs,
        };
    }

    public void Complete()
    {
        IsComplete = true;
        Registration.Dispose();
        Output.Writer.TryComplete();
    }
}

/// <summary>The caller's view of a submitted request: its event stream and a way to cancel it.</summary>
public sealed class GenerationHandle
{
    private readonly Job job;

    internal GenerationHandle(ChannelReader<GenerationEvent> events, Job job)
    {
        Events = events;
        this.job = job;
    }

    public ChannelReader<GenerationEvent> Events { get; }

    /// <summary>Asks the loop to drop the request at its next step (same as cancelling the token).</summary>
    public void Cancel() => job.Cancelled = true;

    public IAsyncEnumerable<GenerationEvent> ReadAllAsync(CancellationToken cancellationToken = default)
        => Events.ReadAllAsync(cancellationToken);
}
