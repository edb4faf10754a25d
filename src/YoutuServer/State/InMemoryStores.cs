namespace YoutuServer.State;

/// <summary>The in-memory <see cref="IResponseStore"/>: one <see cref="BoundedCache{TKey,TValue}"/> keyed by tenant and id.</summary>
internal sealed class InMemoryResponseStore(CacheBounds bounds) : IResponseStore, IDisposable
{
    public const string StoreName = "responses";

    private readonly BoundedCache<(TenantId Tenant, string Id), StoredResponse> cache =
        new(StoreName, bounds, static r => r.Bytes, static k => k.Tenant);

    public BoundedCache<(TenantId Tenant, string Id), StoredResponse> Cache => cache;

    public ValueTask<bool> PutAsync(TenantId tenant, StoredResponse response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        return ValueTask.FromResult(cache.Set((tenant, response.Id), response));
    }

    public ValueTask<StoredResponse?> GetAsync(TenantId tenant, string id, CancellationToken cancellationToken) =>
        ValueTask.FromResult(cache.TryGet((tenant, id), out var r) ? r : null);

    public ValueTask<bool> DeleteAsync(TenantId tenant, string id, CancellationToken cancellationToken) =>
        ValueTask.FromResult(cache.Remove((tenant, id)));

    /// <summary>In this process: never down.</summary>
    public void ThrowIfDown()
    {
    }

    public void Dispose() => cache.Dispose();
}

/// <summary>The in-memory <see cref="IKeyedMemory{T}"/>: one <see cref="BoundedCache{TKey,TValue}"/> keyed by tenant and key.</summary>
internal abstract class InMemoryKeyedMemory<T>(string storeName, CacheBounds bounds, Func<T, long> sizeOf) : IKeyedMemory<T>, IDisposable
    where T : class
{
    private readonly BoundedCache<(TenantId Tenant, string Key), T> cache = new(storeName, bounds, sizeOf, static k => k.Tenant);

    public BoundedCache<(TenantId Tenant, string Key), T> Cache => cache;

    public ValueTask RememberAsync(TenantId tenant, string key, T value, CancellationToken cancellationToken)
    {
        cache.Set((tenant, key), value);
        return ValueTask.CompletedTask;
    }

    public ValueTask<T?> RecallAsync(TenantId tenant, string key, CancellationToken cancellationToken) =>
        ValueTask.FromResult(cache.TryGet((tenant, key), out var v) ? v : null);

    public ValueTask<IReadOnlyDictionary<string, T>> RecallManyAsync(TenantId tenant, IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var found = new Dictionary<string, T>(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            if (!found.ContainsKey(key) && cache.TryGet((tenant, key), out var v))
            {
                found[key] = v;
            }
        }

        return ValueTask.FromResult<IReadOnlyDictionary<string, T>>(found);
    }

    public void Dispose() => cache.Dispose();
}

/// <summary>The in-memory <see cref="IOutputMemory"/>.</summary>
internal sealed class InMemoryOutputMemory(CacheBounds bounds)
    : InMemoryKeyedMemory<RememberedOutput>(StoreName, bounds, static o => o.Bytes), IOutputMemory
{
    public const string StoreName = "output_memory";
}

/// <summary>The in-memory <see cref="IToolUseMemory"/>.</summary>
internal sealed class InMemoryToolUseMemory(CacheBounds bounds)
    : InMemoryKeyedMemory<RememberedToolUse>(StoreName, bounds, static c => c.Bytes), IToolUseMemory
{
    public const string StoreName = "tool_use_memory";
}
