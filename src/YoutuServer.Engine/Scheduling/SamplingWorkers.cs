namespace YoutuServer.Engine.Scheduling;

/// <summary>
/// A few persistent threads that run one step's independent per-sequence sampling alongside the inference thread,
/// which takes part itself. Work items are claimed one at a time with a generation-tagged ticket, so a worker
/// that wakes late can never take an item of a later step twice or skip one. Nothing is allocated per step.
/// </summary>
/// <remarks>
/// The body must touch only per-item state (each sequence's own sampler and a logits row read, not written): the
/// llama_context stays with the inference thread, which reads the rows' addresses before <see cref="Run"/>.
/// </remarks>
internal sealed class SamplingWorkers : IDisposable
{
    private readonly Action<int> body;
    private readonly Thread[] threads;
    private readonly SemaphoreSlim wake = new(0);
    private readonly ManualResetEventSlim done = new(false);
    // High 32 bits: generation; low 32 bits: next item index.
    private long ticket;
    private int generation;
    private int count;
    private int remaining;
    private Exception? failure;
    private volatile bool stopping;

    public SamplingWorkers(int workerThreads, Action<int> body)
    {
        this.body = body;
        threads = new Thread[Math.Max(0, workerThreads)];
        for (var i = 0; i < threads.Length; i++)
        {
            threads[i] = new Thread(Loop) { IsBackground = true, Name = $"youtu-sampling-{i}" };
            threads[i].Start();
        }
    }

    /// <summary>Worker threads besides the caller.</summary>
    public int Workers => threads.Length;

    /// <summary>Runs body(0..n-1) across the workers and the calling thread; returns when all are done.</summary>
    public void Run(int n)
    {
        if (n <= 0)
        {
            return;
        }

        failure = null;
        done.Reset();
        var gen = generation + 1;
        generation = gen;
        count = n;
        Volatile.Write(ref remaining, n);
        Volatile.Write(ref ticket, (long)gen << 32);
        var helpers = Math.Min(threads.Length, n - 1);
        if (helpers > 0)
        {
            wake.Release(helpers);
        }
        Work(gen);
        done.Wait();
        if (failure is { } e)
        {
            throw new InvalidOperationException("parallel sampling failed: " + e.Message, e);
        }
    }

    private void Loop()
    {
        while (true)
        {
            wake.Wait();
            if (stopping)
            {
                return;
            }

            Work((int)(Volatile.Read(ref ticket) >> 32));
        }
    }

    private void Work(int gen)
    {
        while (true)
        {
            var t = Volatile.Read(ref ticket);
            if ((int)(t >> 32) != gen)
            {
                return; // a later step has begun; its own wake-ups cover it
            }

            var i = (int)(t & 0xFFFFFFFF);
            if (i >= Volatile.Read(ref count))
            {
                return;
            }

            if (Interlocked.CompareExchange(ref ticket, t + 1, t) != t)
            {
                continue;
            }

            try
            {
                body(i);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref failure, e, null);
            }

            if (Interlocked.Decrement(ref remaining) == 0)
            {
                done.Set();
            }
        }
    }

    public void Dispose()
    {
        stopping = true;
        if (threads.Length > 0)
        {
            wake.Release(threads.Length);
        }

        foreach (var t in threads)
        {
            t.Join(TimeSpan.FromSeconds(5));
        }

        wake.Dispose();
        done.Dispose();
    }
}
