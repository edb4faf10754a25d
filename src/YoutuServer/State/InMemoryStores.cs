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

    public void Dispose() => cache.Dispose();
}

/// <summary>The in-memory <see cref="IOutputMemory"/>.</summary>
internal sealed class InMemoryOutputMemory(CacheBounds bounds) : IOutputMemory, IDisposable
{
    public const string StoreName = "output_memory";

    private readonly BoundedCache<(TenantId Tenant, string Key), RememberedOutput> cache =
        new(StoreName, bounds, static o => o.Bytes, static k => k.Tenant);

    public BoundedCache<(TenantId Tenant, string Key), RememberedOutput> Cache => cache;

    public ValueTask RememberAsync(TenantId tenant, string key, RememberedOutput output, CancellationToken cancellationToken)
    {
        cache.Set((tenant, key), output);
        return ValueTask.CompletedTask;
    }

    public ValueTask<RememberedOutput?> RecallAsync(TenantId tenant, string key, CancellationToken cancellationToken) =>
        ValueTask.FromResult(cache.TryGet((tenant, key), out var o) ? o : null);

    public void Dispose() => cache.Dispose();
}

/// <summary>The in-memory <see cref="IToolUseMemory"/>.</summary>
internal sealed class InMemoryToolUseMemory(CacheBounds bounds) : IToolUseMemory, IDisposable
{
    public const string StoreName = "tool_use_memory";

    private readonly BoundedCache<(TenantId Tenant, string Id), RememberedToolUse> cache =
        new(StoreName, bounds, static c => c.Bytes, static k => k.Tenant);

    public BoundedCache<(TenantId Tenant, string Id), RememberedToolUse> Cache => cache;

    public ValueTask RememberAsync(TenantId tenant, string callId, RememberedToolUse call, CancellationToken cancellationToken)
    {
        cache.Set((tenant, callId), call);
        return ValueTask.CompletedTask;
    }

    public ValueTask<RememberedToolUse?> RecallAsync(TenantId tenant, string callId, CancellationToken cancellationToken) =>
        ValueTask.FromResult(cache.TryGet((tenant, callId), out var c) ? c : null);

    public void Dispose() => cache.Dispose();
}
