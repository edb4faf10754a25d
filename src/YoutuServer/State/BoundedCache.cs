namespace YoutuServer.State;

/// <summary>
/// Bounds of a <see cref="BoundedCache{TKey,TValue}"/>: entries and approximate bytes, in all and per tenant.
/// A bound of 0 items stores nothing.
/// </summary>
internal readonly record struct CacheBounds(int MaxItems, long MaxBytes, int TenantMaxItems, long TenantMaxBytes)
{
    /// <summary>Bounds where one tenant may hold <paramref name="tenantShare"/> (0-1] of each global bound.</summary>
    public static CacheBounds Of(int maxItems, long maxBytes, double tenantShare = 1.0)
    {
        maxItems = Math.Max(0, maxItems);
        maxBytes = Math.Max(0, maxBytes);
        var share = double.IsFinite(tenantShare) ? Math.Clamp(tenantShare, 0.0, 1.0) : 1.0;
        return new CacheBounds(maxItems, maxBytes, (int)Math.Ceiling(maxItems * share), (long)Math.Ceiling(maxBytes * share));
    }
}

/// <summary>
/// The one in-memory cache of cross-request state: bounded by entries and bytes, in all and per tenant, the least
/// recently used evicted first (reading counts as use; a tenant over its share loses its own oldest entries, the
/// store over its bound the oldest of anyone's). Thread-safe. Reports its size, evictions, hits and misses on
/// /metrics under its store name (<see cref="StateMetrics"/>).
/// </summary>
internal sealed class BoundedCache<TKey, TValue> : IDisposable
    where TKey : notnull
{
    private readonly Lock gate = new();
    private readonly Dictionary<TKey, Entry> index;
    private readonly LinkedList<Entry> order = new(); // most recent first
    private readonly Dictionary<TenantId, Partition> tenants = [];
    private readonly Func<TValue, long> sizeOf;
    private readonly Func<TKey, TenantId> tenantOf;
    private readonly IDisposable metrics;
    private long bytes;

    /// <param name="store">The name on /metrics (store="...").</param>
    /// <param name="sizeOf">Approximate bytes an entry holds (key included).</param>
    /// <param name="tenantOf">The tenant an entry belongs to (null: one tenant).</param>
    public BoundedCache(string store, CacheBounds bounds, Func<TValue, long> sizeOf, Func<TKey, TenantId>? tenantOf = null, IEqualityComparer<TKey>? comparer = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(store);
        Store = store;
        Bounds = bounds;
        this.sizeOf = sizeOf;
        this.tenantOf = tenantOf ?? (static _ => TenantId.Anonymous);
        index = new Dictionary<TKey, Entry>(comparer);
        metrics = StateMetrics.Register(store, () => (Count, Bytes));
    }

    public string Store { get; }
    public CacheBounds Bounds { get; }

    public int Count
    {
        get
        {
            lock (gate)
            {
                return index.Count;
            }
        }
    }

    public long Bytes => Interlocked.Read(ref bytes);

    /// <summary>Entries evicted to keep the bounds (removals by <see cref="Remove"/> not counted).</summary>
    public long Evictions { get; private set; }

    /// <summary>Stores (or replaces) an entry, evicting until every bound holds; false when it alone exceeds a bound.</summary>
    public bool Set(TKey key, TValue value)
    {
        var size = Math.Max(0, sizeOf(value));
        var tenant = tenantOf(key);
        if (Bounds.MaxItems == 0 || Bounds.TenantMaxItems == 0 || size > Bounds.MaxBytes || size > Bounds.TenantMaxBytes)
        {
            return false;
        }

        var evicted = 0;
        lock (gate)
        {
            if (index.TryGetValue(key, out var old))
            {
                Unlink(old);
            }

            if (!tenants.TryGetValue(tenant, out var partition))
            {
                tenants[tenant] = partition = new Partition();
            }

            while (partition.Order.Count > 0 && (partition.Order.Count + 1 > Bounds.TenantMaxItems || partition.Bytes + size > Bounds.TenantMaxBytes))
            {
                Unlink(partition.Order.Last!.Value);
                evicted++;
            }

            while (order.Count > 0 && (order.Count + 1 > Bounds.MaxItems || Bytes + size > Bounds.MaxBytes))
            {
                Unlink(order.Last!.Value);
                evicted++;
            }

            if (!tenants.ContainsKey(tenant))
            {
                tenants[tenant] = partition; // emptied by the evictions above
            }

            var entry = new Entry(key, value, size, tenant);
            entry.Global = order.AddFirst(entry);
            entry.InTenant = partition.Order.AddFirst(entry);
            partition.Bytes += size;
            index[key] = entry;
            Interlocked.Add(ref bytes, size);
            Evictions += evicted;
        }

        if (evicted > 0)
        {
            StateMetrics.Evicted(Store, evicted);
        }

        return true;
    }

    /// <summary>The entry, marked most recently used.</summary>
    public bool TryGet(TKey key, out TValue value)
    {
        lock (gate)
        {
            if (index.TryGetValue(key, out var entry))
            {
                order.Remove(entry.Global!);
                order.AddFirst(entry.Global!);
                var partition = tenants[entry.Tenant];
                partition.Order.Remove(entry.InTenant!);
                partition.Order.AddFirst(entry.InTenant!);
                value = entry.Value;
                StateMetrics.Looked(Store, hit: true);
                return true;
            }
        }

        StateMetrics.Looked(Store, hit: false);
        value = default!;
        return false;
    }

    public bool Remove(TKey key)
    {
        lock (gate)
        {
            if (!index.TryGetValue(key, out var entry))
            {
                return false;
            }

            Unlink(entry);
            return true;
        }
    }

    /// <summary>Entries and bytes one tenant holds.</summary>
    public (int Items, long Bytes) TenantUsage(TenantId tenant)
    {
        lock (gate)
        {
            return tenants.TryGetValue(tenant, out var p) ? (p.Order.Count, p.Bytes) : (0, 0);
        }
    }

    public void Dispose() => metrics.Dispose();

    private void Unlink(Entry entry)
    {
        index.Remove(entry.Key);
        order.Remove(entry.Global!);
        var partition = tenants[entry.Tenant];
        partition.Order.Remove(entry.InTenant!);
        partition.Bytes -= entry.Size;
        if (partition.Order.Count == 0)
        {
            tenants.Remove(entry.Tenant);
        }

        Interlocked.Add(ref bytes, -entry.Size);
    }

    private sealed class Entry(TKey key, TValue value, long size, TenantId tenant)
    {
        public TKey Key { get; } = key;
        public TValue Value { get; } = value;
        public long Size { get; } = size;
        public TenantId Tenant { get; } = tenant;
        public LinkedListNode<Entry>? Global { get; set; }
        public LinkedListNode<Entry>? InTenant { get; set; }
    }

    private sealed class Partition
    {
        public LinkedList<Entry> Order { get; } = new();
        public long Bytes { get; set; }
    }
}
