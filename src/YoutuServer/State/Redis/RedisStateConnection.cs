using System.Diagnostics;
using StackExchange.Redis;

namespace YoutuServer.State.Redis;

/// <summary>
/// The one connection (multiplexer) to the shared Redis-protocol store. It is opened without waiting
/// (<c>abortConnect=false</c>): the server starts while the store is down, and StackExchange.Redis reconnects by
/// itself with backoff. Every operation goes through <see cref="RunAsync{T}"/>, which times it and turns an
/// unreachable or timed-out store into <see cref="StateUnavailableException"/>.
/// </summary>
internal sealed partial class RedisStateConnection : IAsyncDisposable
{
    private readonly ConnectionMultiplexer multiplexer;
    private readonly IDisposable gauge;
    private readonly ILogger logger;

    private RedisStateConnection(ConnectionMultiplexer multiplexer, StateStoreSettings settings, ILogger logger)
    {
        this.multiplexer = multiplexer;
        this.logger = logger;
        Settings = settings;
        gauge = StateStoreMetrics.AddStore(() => IsUp);
        multiplexer.ConnectionFailed += (_, e) => Log.Failed(logger, Settings.Display, e.FailureType.ToString(), e.Exception?.Message ?? "");
        multiplexer.ConnectionRestored += (_, _) =>
        {
            Log.Restored(logger, Settings.Display);
            _ = CheckScriptingAsync(); // the store that came back may be another one (a restart with other settings)
        };
    }

    /// <summary>What a request that needs the store is told to wait (Retry-After) while it is down: about one reconnect try.</summary>
    public const int RetryAfterSeconds = 2;

    public StateStoreSettings Settings { get; }

    /// <summary>True while the store answers (the multiplexer has a connected server).</summary>
    public bool IsUp => multiplexer.IsConnected;

    public IDatabase Database => multiplexer.GetDatabase();

    /// <summary>Opens the connection; returns at once even when the store is unreachable (it keeps trying).</summary>
    public static async Task<RedisStateConnection> ConnectAsync(StateStoreSettings settings, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var config = settings.Redis ?? throw new ArgumentException("not a redis:// state store", nameof(settings));
        var multiplexer = await ConnectionMultiplexer.ConnectAsync(config.Clone());
        var connection = new RedisStateConnection(multiplexer, settings, logger);
        if (connection.IsUp)
        {
            Log.Connected(logger, settings.Display);
            await connection.CheckScriptingAsync().ConfigureAwait(false);
        }
        else
        {
            Log.NotYet(logger, settings.Display);
        }

        return connection;
    }

    /// <summary>Completes when the store is connected (at once if it is now): an event, not a poll.</summary>
    public async Task WaitUpAsync(CancellationToken cancellationToken)
    {
        while (!IsUp)
        {
            var restored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            void OnRestored(object? sender, ConnectionFailedEventArgs e) => restored.TrySetResult();
            multiplexer.ConnectionRestored += OnRestored;
            try
            {
                if (IsUp)
                {
                    return;
                }

                await restored.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                multiplexer.ConnectionRestored -= OnRestored;
            }
        }
    }

    /// <summary>Throws <see cref="StateUnavailableException"/> (no round trip) while the connection is known lost.</summary>
    public void ThrowIfDown(string operation)
    {
        if (!IsUp)
        {
            StateStoreMetrics.Errors.Add(1, new KeyValuePair<string, object?>("operation", operation));
            throw new StateUnavailableException($"The session state store ({Settings.Display}) is unavailable: not connected.")
            {
                Store = operation,
                RetryAfterSeconds = RetryAfterSeconds,
            };
        }
    }

    /// <summary>Runs one store operation, timed by <paramref name="operation"/>; a store known to be down fails at once
    /// (no command is queued to wait for a reconnect), an unreachable one throws <see cref="StateUnavailableException"/>.</summary>
    public async Task<T> RunAsync<T>(string operation, Func<IDatabase, Task<T>> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        ThrowIfDown(operation);
        var started = Stopwatch.GetTimestamp();
        try
        {
            var result = await action(Database).ConfigureAwait(false);
            StateStoreMetrics.Latency.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("operation", operation));
            return result;
        }
        catch (Exception e) when (e is RedisConnectionException or RedisTimeoutException or ObjectDisposedException)
        {
            StateStoreMetrics.Errors.Add(1, new KeyValuePair<string, object?>("operation", operation));
            Log.OperationFailed(logger, operation, e.Message);
            throw new StateUnavailableException($"The session state store ({Settings.Display}) is unavailable: {e.GetType().Name}.", e)
            {
                Store = operation,
                RetryAfterSeconds = RetryAfterSeconds,
            };
        }
        catch (RedisServerException e)
        {
            // The store answered but refused: still loading, read-only, out of memory, scripting disabled, a wrong
            // password... Not the client's fault and not ours to hide: a 503 that says what the store said.
            StateStoreMetrics.Errors.Add(1, new KeyValuePair<string, object?>("operation", operation));
            Log.OperationFailed(logger, operation, e.Message);
            throw new StateUnavailableException($"The session state store ({Settings.Display}) refused the request: {e.Message}", e)
            {
                Store = operation,
                RetryAfterSeconds = RetryAfterSeconds,
            };
        }
    }

    /// <summary>
    /// Checks once that the store runs the Lua scripts every bounded write uses (EVAL): Garnet has them off unless
    /// started with <c>--lua</c>, and a store without them would refuse every stored response. Logs an error that
    /// names the fix; returns whether scripts run (null when the store does not answer now).
    /// </summary>
    public async Task<bool?> CheckScriptingAsync()
    {
        try
        {
            await RunAsync("script-check", db => db.ScriptEvaluateAsync("return 1")).ConfigureAwait(false);
            return true;
        }
        catch (StateUnavailableException e) when (e.InnerException is RedisServerException refusal)
        {
            Log.NoScripting(logger, Settings.Display, refusal.Message);
            return false;
        }
        catch (StateUnavailableException)
        {
            return null;
        }
    }

    /// <summary>One PING (for readiness probes and tests); the round trip, or null when the store does not answer.</summary>
    public async Task<TimeSpan?> PingAsync()
    {
        try
        {
            return await RunAsync("ping", db => db.PingAsync()).ConfigureAwait(false);
        }
        catch (StateUnavailableException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        gauge.Dispose();
        await multiplexer.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
        multiplexer.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2301, Level = LogLevel.Information, Message = "State store {Store} connected")]
        public static partial void Connected(ILogger logger, string store);

        [LoggerMessage(EventId = 2302, Level = LogLevel.Warning, Message = "State store {Store} is not reachable yet; stateless requests are served, stateful ones get 503 until it is")]
        public static partial void NotYet(ILogger logger, string store);

        [LoggerMessage(EventId = 2303, Level = LogLevel.Warning, Message = "State store {Store} connection failed ({FailureType}): {Reason}; reconnecting")]
        public static partial void Failed(ILogger logger, string store, string failureType, string reason);

        [LoggerMessage(EventId = 2304, Level = LogLevel.Information, Message = "State store {Store} connection restored")]
        public static partial void Restored(ILogger logger, string store);

        [LoggerMessage(EventId = 2305, Level = LogLevel.Warning, Message = "State store operation {Operation} failed: {Reason}")]
        public static partial void OperationFailed(ILogger logger, string operation, string reason);

        [LoggerMessage(EventId = 2306, Level = LogLevel.Error, Message = "State store {Store} does not run Lua scripts ({Reason}): every stored response, output memory and tool-use write needs EVAL, so stateful requests get 503 until it does (Garnet: start it with --lua; Redis/Valkey: allow EVAL in the ACL)")]
        public static partial void NoScripting(ILogger logger, string store, string reason);
    }
}
