using YoutuServer.State;

namespace YoutuServer.Tests.State;

/// <summary>The one bounded cache of the state services: count and byte bounds, recency, tenants.</summary>
public sealed class BoundedCacheTests
{
    private static readonly TenantId A = new("key:aaaa");
    private static readonly TenantId B = new("key:bbbb");

    private static BoundedCache<(TenantId Tenant, string Id), long> Cache(CacheBounds bounds) =>
        new("test_cache", bounds, static size => size, static k => k.Tenant);

    [Fact]
    public void Count_bound_evicts_the_least_recently_used()
    {
        using var cache = Cache(CacheBounds.Of(3, 1_000_000));
        Assert.True(cache.Set((A, "a"), 10));
        Assert.True(cache.Set((A, "b"), 10));
        Assert.True(cache.Set((A, "c"), 10));
        Assert.True(cache.TryGet((A, "a"), out _)); // a is now the most recent; b the least
        Assert.True(cache.Set((A, "d"), 10));
        Assert.False(cache.TryGet((A, "b"), out _));
        Assert.True(cache.TryGet((A, "a"), out _));
        Assert.True(cache.TryGet((A, "c"), out _));
        Assert.True(cache.TryGet((A, "d"), out _));
        Assert.Equal(3, cache.Count);
        Assert.Equal(1, cache.Evictions);
    }

    [Fact]
    public void Byte_bound_evicts_until_the_new_one_fits_and_refuses_one_too_big()
    {
        using var cache = Cache(CacheBounds.Of(100, 2500));
        cache.Set((A, "a"), 1000);
        cache.Set((A, "b"), 1000);
        Assert.Equal(2000, cache.Bytes);
        cache.Set((A, "c"), 1400); // 3400 > 2500: the least recent (a) goes, then it fits
        Assert.False(cache.TryGet((A, "a"), out _));
        Assert.True(cache.TryGet((A, "b"), out _));
        Assert.Equal(2400, cache.Bytes);
        cache.Set((A, "d"), 2000); // c (least recent now) and b go
        Assert.False(cache.TryGet((A, "b"), out _));
        Assert.False(cache.TryGet((A, "c"), out _));
        Assert.Equal(2000, cache.Bytes);
        Assert.False(cache.Set((A, "huge"), 3000));
        Assert.True(cache.TryGet((A, "d"), out _));
        Assert.True(cache.Remove((A, "d")));
        Assert.Equal(0, cache.Bytes);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Replacing_an_entry_counts_its_size_once()
    {
        using var cache = Cache(CacheBounds.Of(10, 1000));
        cache.Set((A, "a"), 400);
        cache.Set((A, "a"), 300);
        Assert.Equal(1, cache.Count);
        Assert.Equal(300, cache.Bytes);
        Assert.True(cache.TryGet((A, "a"), out var v));
        Assert.Equal(300, v);
    }

    [Fact]
    public void A_tenant_over_its_share_loses_its_own_oldest_entries_not_another_tenants()
    {
        using var cache = Cache(CacheBounds.Of(4, 1_000_000, tenantShare: 0.5)); // 2 entries per tenant
        cache.Set((B, "b1"), 10);
        cache.Set((A, "a1"), 10);
        cache.Set((A, "a2"), 10);
        cache.Set((A, "a3"), 10); // A over its 2: a1 goes, B's older b1 stays
        Assert.False(cache.TryGet((A, "a1"), out _));
        Assert.True(cache.TryGet((B, "b1"), out _));
        Assert.Equal((2, 20L), cache.TenantUsage(A));
        Assert.Equal((1, 10L), cache.TenantUsage(B));

        // Keys are per tenant: the same id under another tenant is another entry.
        Assert.False(cache.TryGet((B, "a2"), out _));
        Assert.False(cache.Remove((B, "a2")));
        Assert.True(cache.TryGet((A, "a2"), out _));
    }

    [Fact]
    public void The_store_bound_evicts_the_oldest_entry_of_anyone()
    {
        using var cache = Cache(CacheBounds.Of(2, 1_000_000));
        cache.Set((B, "b1"), 10);
        cache.Set((A, "a1"), 10);
        cache.Set((A, "a2"), 10);
        Assert.False(cache.TryGet((B, "b1"), out _));
        Assert.Equal((0, 0L), cache.TenantUsage(B));
        Assert.Equal(2, cache.Count);
    }

    [Fact]
    public void A_zero_bound_stores_nothing()
    {
        using var cache = Cache(CacheBounds.Of(0, 1000));
        Assert.False(cache.Set((A, "a"), 1));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public async Task The_response_store_scopes_every_operation_by_tenant()
    {
        using var store = new InMemoryResponseStore(CacheBounds.Of(10, 1_000_000));
        var response = new StoredResponse { Id = "resp_1", Body = "{}"u8.ToArray(), InputItems = [new StoredItem("msg_1", "{}"u8.ToArray())], Continuation = [1, 2] };
        Assert.True(await store.PutAsync(A, response, default));
        Assert.Null(await store.GetAsync(B, "resp_1", default));
        Assert.Null(await store.GetAsync(TenantId.Anonymous, "resp_1", default));
        Assert.False(await store.DeleteAsync(B, "resp_1", default));
        var got = await store.GetAsync(A, "resp_1", default);
        Assert.NotNull(got);
        Assert.Equal("msg_1", Assert.Single(got.InputItems).Id);
        Assert.True(await store.DeleteAsync(A, "resp_1", default));
        Assert.Null(await store.GetAsync(A, "resp_1", default));
    }
}
