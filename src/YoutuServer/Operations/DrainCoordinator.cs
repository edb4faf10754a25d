using YoutuServer.Hosting;

namespace YoutuServer.Operations;

/// <summary>
/// Graceful drain on SIGTERM / StopApplication, so a rolling update never cuts a stream mid-sentence:
/// <list type="number">
/// <item>ApplicationStopping (the first thing SIGTERM triggers): the engine stops admitting. New completions get
/// 503 + Retry-After, /health/ready answers 503; Kestrel still listens, so clients get that answer instead of a
/// refused connection.</item>
/// <item>StoppingAsync (the host runs it before it stops Kestrel): wait until the in-flight API requests are done,
/// for at most <see cref="ServerOptions.DrainTimeoutSeconds"/>.</item>
/// <item>Past the deadline the engine's FinishAll ends every running and queued request with finish_reason
/// "length"; the endpoints write their last chunk, usage and [DONE] and close the responses normally.</item>
/// <item>Then Kestrel stops (anything left is bounded by HostOptions.ShutdownTimeout = drain + margin), the
/// engine is disposed (EngineHost.StopAsync) and the process exits 0.</item>
/// </list>
/// </summary>
internal sealed partial class DrainCoordinator : IHostedLifecycleService
{
    /// <summary>Added to the drain timeout for HostOptions.ShutdownTimeout: closing streams, stopping Kestrel and the engine.</summary>
    public static readonly TimeSpan ShutdownMargin = TimeSpan.FromSeconds(15);

    private static readonly TimeSpan FinishGrace = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);

    private readonly EngineHost host;
    private readonly ServerOptions options;
    private readonly IHostApplicationLifetime lifetime;
    private readonly ILogger<DrainCoordinator> logger;
    private readonly TimeProvider time = TimeProvider.System;
    private int inFlight;
    private int draining;
    private CancellationTokenRegistration stoppingRegistration;

    public DrainCoordinator(EngineHost host, ServerOptions options, IHostApplicationLifetime lifetime, ILogger<DrainCoordinator> logger)
    {
        this.host = host;
        this.options = options;
        this.lifetime = lifetime;
        this.logger = logger;
    }

    /// <summary>API requests between the request observer's entry and exit.</summary>
    public int InFlight => Volatile.Read(ref inFlight);

    public bool IsDraining => Volatile.Read(ref draining) != 0;

    internal void Enter() => Interlocked.Increment(ref inFlight);

    internal void Exit() => Interlocked.Decrement(ref inFlight);

    /// <summary>Stops admitting (idempotent; runs on ApplicationStopping and again at the start of StoppingAsync).</summary>
    public void BeginDrain()
    {
        Volatile.Write(ref draining, 1);
        if (host.IsReady)
        {
            host.Engine.BeginDrain();
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        stoppingRegistration = lifetime.ApplicationStopping.Register(static self => ((DrainCoordinator)self!).BeginDrain(), this);
        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Runs before Kestrel stops; the token fires when HostOptions.ShutdownTimeout is spent.</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        BeginDrain();
        LogDrainStarted(InFlight, options.DrainTimeoutSeconds);
        var start = time.GetTimestamp();
        var deadline = TimeSpan.FromSeconds(Math.Max(0, options.DrainTimeoutSeconds));
        if (await WaitIdleAsync(deadline, cancellationToken))
        {
            var elapsedMs = Elapsed(start);
            LogDrained(elapsedMs);
            return;
        }

        LogDrainTimeout(InFlight, options.DrainTimeoutSeconds);
        if (host.IsReady)
        {
            host.Engine.FinishAll();
        }

        if (await WaitIdleAsync(FinishGrace, cancellationToken))
        {
            var elapsedMs = Elapsed(start);
            LogDrained(elapsedMs);
        }
        else
        {
            LogDrainIncomplete(InFlight);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        stoppingRegistration.Dispose();
        return Task.CompletedTask;
    }

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private int Elapsed(long start) => (int)time.GetElapsedTime(start).TotalMilliseconds;

    private async Task<bool> WaitIdleAsync(TimeSpan limit, CancellationToken cancellationToken)
    {
        var start = time.GetTimestamp();
        while (InFlight > 0)
        {
            if (cancellationToken.IsCancellationRequested || time.GetElapsedTime(start) >= limit)
            {
                return false;
            }

            try
            {
                await Task.Delay(Poll, time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        return true;
    }

    [LoggerMessage(EventId = 1111, Level = LogLevel.Information, Message = "Draining: no new requests; {InFlight} in flight may finish within {Timeout} s")]
    private partial void LogDrainStarted(int inFlight, int timeout);

    [LoggerMessage(EventId = 1112, Level = LogLevel.Information, Message = "Drained in {ElapsedMs} ms")]
    private partial void LogDrained(int elapsedMs);

    [LoggerMessage(EventId = 1113, Level = LogLevel.Warning, Message = "Drain timeout ({Timeout} s): ending {InFlight} requests with finish_reason \"length\"")]
    private partial void LogDrainTimeout(int inFlight, int timeout);

    [LoggerMessage(EventId = 1114, Level = LogLevel.Warning, Message = "{InFlight} requests still open after the drain; the server stops anyway")]
    private partial void LogDrainIncomplete(int inFlight);
}
