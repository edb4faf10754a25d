using YoutuServer.State.Redis;

namespace YoutuServer.State;

/// <summary>Which state store this server uses and whether it answers (for /health/ready and start-up checks).</summary>
internal sealed class StateStoreStatus(StateStoreSettings settings, RedisStateConnection? connection) : IAsyncDisposable
{
    public StateStoreSettings Settings { get; } = settings;

    /// <summary>The shared store's connection; null with the in-memory store.</summary>
    public RedisStateConnection? Connection { get; } = connection;

    /// <summary>"memory" or "redis".</summary>
    public string Kind => Connection is null ? "memory" : "redis";

    /// <summary>Null with the in-memory store (always there), else whether the shared store is connected.</summary>
    public bool? Up => Connection?.IsUp;

    public ValueTask DisposeAsync() => Connection?.DisposeAsync() ?? ValueTask.CompletedTask;
}
