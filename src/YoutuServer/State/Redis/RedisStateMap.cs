using StackExchange.Redis;

namespace YoutuServer.State.Redis;

/// <summary>How one record type is framed and encoded (see <see cref="StateEnvelope"/> for the versioning rules).</summary>
internal interface IStateCodec<T>
{
    /// <summary>The record kind byte in the frame (distinct per type).</summary>
    byte Kind { get; }

    /// <summary>The schema major this replica writes and reads; a newer major is ignored.</summary>
    byte Major { get; }

    /// <summary>The schema minor this replica writes (fields appended at the end).</summary>
    byte Minor { get; }

    void Write(T value, CompactWriter writer);

    /// <summary>Reads a payload written with <paramref name="minor"/> (older: defaults for the missing tail; newer: stop early).</summary>
    T Read(ref CompactReader reader, byte minor);
}

/// <summary>What a put did.</summary>
internal enum StatePut
{
    Stored,

    /// <summary><c>ifAbsent</c> and the id was already there: nothing written.</summary>
    Exists,

    /// <summary>The value alone is over the per-tenant byte bound (or the bound is zero): nothing written.</summary>
    TooLarge,
}

/// <summary>
/// A per-tenant, per-model bounded map of records on the shared store: at most <c>maxItems</c> entries and about
/// <c>maxBytes</c> of values per tenant and model, the least recently used evicted first, each entry and its index
/// expiring <c>ttl</c> after its last use. Every operation is one script (one round trip, atomic on the server), so
/// two replicas writing the same tenant at once keep the bounds and the index consistent.
/// </summary>
internal sealed class RedisStateMap<T>(RedisStateConnection connection, string kind, IStateCodec<T> codec, TimeSpan ttl, int maxItems, long maxBytes)
    where T : class
{
    // KEYS: 1 entry, 2 index, 3 sizes. ARGV: 1 id, 2 value, 3 ttl ms, 4 now ms, 5 max items, 6 max bytes, 7 if absent, 8 prefix.
    private const string PutScript = """
        local id, val = ARGV[1], ARGV[2]
        local ttl, now = tonumber(ARGV[3]), tonumber(ARGV[4])
        local maxItems, maxBytes, prefix = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[8]
        local size = string.len(val)
        if maxItems < 1 or size > maxBytes then return -2 end
        if ARGV[7] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
        local function drop(m)
          local s = redis.call('HGET', KEYS[3], m)
          if s then
            redis.call('HINCRBY', KEYS[3], '#total', -tonumber(s))
            redis.call('HDEL', KEYS[3], m)
          end
          redis.call('ZREM', KEYS[2], m)
        end
        local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
        for _, m in ipairs(stale) do
          drop(m)
          redis.call('DEL', prefix .. m)
        end
        drop(id)
        redis.call('SET', KEYS[1], val, 'PX', ttl)
        -- Strictly most recent, even within one millisecond (ties would evict by name, not by use).
        local top = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
        local score = now
        if top[1] then score = math.max(now, tonumber(top[2]) + 0.01) end
        redis.call('ZADD', KEYS[2], string.format('%.3f', score), id)
        redis.call('HSET', KEYS[3], id, size)
        local total = redis.call('HINCRBY', KEYS[3], '#total', size)
        local evicted = 0
        while redis.call('ZCARD', KEYS[2]) > maxItems or total > maxBytes do
          local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
          if not oldest or oldest == id then break end
          drop(oldest)
          redis.call('DEL', prefix .. oldest)
          total = tonumber(redis.call('HGET', KEYS[3], '#total') or '0')
          evicted = evicted + 1
        end
        redis.call('PEXPIRE', KEYS[2], ttl)
        redis.call('PEXPIRE', KEYS[3], ttl)
        return evicted
        """;

    // KEYS: 1 entry, 2 index, 3 sizes. ARGV: 1 id, 2 ttl ms, 3 now ms. Reading counts as use (sliding expiry, LRU).
    private const string GetScript = """
        local v = redis.call('GET', KEYS[1])
        if not v then
          local s = redis.call('HGET', KEYS[3], ARGV[1])
          if s then
            redis.call('HINCRBY', KEYS[3], '#total', -tonumber(s))
            redis.call('HDEL', KEYS[3], ARGV[1])
          end
          redis.call('ZREM', KEYS[2], ARGV[1])
          return false
        end
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        local top = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
        local score = tonumber(ARGV[3])
        if top[1] == ARGV[1] then
          score = math.max(score, tonumber(top[2]))
        elseif top[1] then
          score = math.max(score, tonumber(top[2]) + 0.01)
        end
        if redis.call('ZADD', KEYS[2], string.format('%.3f', score), ARGV[1]) == 1 then
          redis.call('HSET', KEYS[3], ARGV[1], string.len(v))
          redis.call('HINCRBY', KEYS[3], '#total', string.len(v))
        end
        redis.call('PEXPIRE', KEYS[2], ARGV[2])
        redis.call('PEXPIRE', KEYS[3], ARGV[2])
        return v
        """;

    // KEYS: 1 entry, 2 index, 3 sizes. ARGV: 1 id.
    private const string DeleteScript = """
        local n = redis.call('DEL', KEYS[1])
        local s = redis.call('HGET', KEYS[3], ARGV[1])
        if s then
          redis.call('HINCRBY', KEYS[3], '#total', -tonumber(s))
          redis.call('HDEL', KEYS[3], ARGV[1])
        end
        redis.call('ZREM', KEYS[2], ARGV[1])
        return n
        """;

    // KEYS: 1 entry, 2 sizes. ARGV: 1 id, 2 expected value, 3 new value, 4 ttl ms.
    private const string ReplaceScript = """
        if redis.call('GET', KEYS[1]) ~= ARGV[2] then return 0 end
        redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
        local s = redis.call('HGET', KEYS[2], ARGV[1])
        if s then
          redis.call('HINCRBY', KEYS[2], '#total', string.len(ARGV[3]) - tonumber(s))
          redis.call('HSET', KEYS[2], ARGV[1], string.len(ARGV[3]))
        end
        return 1
        """;

    private readonly long ttlMs = (long)ttl.TotalMilliseconds;

    public int MaxItems => maxItems;

    public long MaxBytes => maxBytes;

    /// <summary>The record, or null when absent, expired, corrupt or written by a newer major (the last two counted).</summary>
    public async Task<T?> GetAsync(string? tenant, string model, string id)
    {
        var (entry, index, sizes) = Keys(tenant, model, id);
        var result = await connection.RunAsync(kind + ".get", db => db.ScriptEvaluateAsync(GetScript, [entry, index, sizes], [id, ttlMs, Now()])).ConfigureAwait(false);
        if (result.IsNull)
        {
            return null;
        }

        var frame = (byte[])result!;
        return Decode(frame);
    }

    /// <summary>Several records (null where absent, as <see cref="GetAsync"/>), in order, sent as one batch: one round trip.</summary>
    public async Task<T?[]> GetManyAsync(string? tenant, string model, IReadOnlyList<string> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Count == 0)
        {
            return [];
        }

        var now = Now();
        var results = await connection.RunAsync(kind + ".get_many", db =>
        {
            var batch = db.CreateBatch();
            var pending = new Task<RedisResult>[ids.Count];
            for (var i = 0; i < ids.Count; i++)
            {
                var (entry, index, sizes) = Keys(tenant, model, ids[i]);
                pending[i] = batch.ScriptEvaluateAsync(GetScript, [entry, index, sizes], [ids[i], ttlMs, now]);
            }

            batch.Execute();
            return Task.WhenAll(pending);
        }).ConfigureAwait(false);
        return [.. results.Select(r => r.IsNull ? null : Decode((byte[])r!))];
    }

    /// <summary>Stores a record (replacing one with the same id unless <paramref name="ifAbsent"/>), evicting the
    /// tenant's least recently used entries until its bounds hold.</summary>
    public async Task<StatePut> PutAsync(string? tenant, string model, string id, T value, bool ifAbsent = false)
    {
        var frame = Encode(value);
        var (entry, index, sizes) = Keys(tenant, model, id);
        var prefix = RedisKeys.Scope(kind, tenant, model) + RedisKeys.EntryMark;
        var result = (long)await connection.RunAsync(kind + ".put", db => db.ScriptEvaluateAsync(PutScript, [entry, index, sizes],
            [id, frame, ttlMs, Now(), maxItems, maxBytes, ifAbsent ? "1" : "0", prefix])).ConfigureAwait(false);
        return result switch
        {
            -1 => StatePut.Exists,
            -2 => StatePut.TooLarge,
            _ => StatePut.Stored,
        };
    }

    /// <summary>Replaces a record only if it is still exactly <paramref name="expected"/> (compare-and-set).</summary>
    public async Task<bool> ReplaceAsync(string? tenant, string model, string id, T expected, T next)
    {
        var (entry, _, sizes) = Keys(tenant, model, id);
        var result = (long)await connection.RunAsync(kind + ".replace", db => db.ScriptEvaluateAsync(ReplaceScript, [entry, sizes],
            [id, Encode(expected), Encode(next), ttlMs])).ConfigureAwait(false);
        return result == 1;
    }

    public async Task<bool> DeleteAsync(string? tenant, string model, string id)
    {
        var (entry, index, sizes) = Keys(tenant, model, id);
        var result = (long)await connection.RunAsync(kind + ".delete", db => db.ScriptEvaluateAsync(DeleteScript, [entry, index, sizes], [id])).ConfigureAwait(false);
        return result > 0;
    }

    /// <summary>Entries the tenant holds now (for tests and diagnostics).</summary>
    public async Task<long> CountAsync(string? tenant, string model)
    {
        var (_, index, _) = Keys(tenant, model, "");
        return await connection.RunAsync(kind + ".count", db => db.SortedSetLengthAsync(index)).ConfigureAwait(false);
    }

    private byte[] Encode(T value)
    {
        var w = new CompactWriter();
        codec.Write(value, w);
        return StateEnvelope.Wrap(codec.Kind, codec.Major, codec.Minor, w.WrittenSpan);
    }

    private T? Decode(byte[] frame)
    {
        switch (StateEnvelope.Unwrap(frame, codec.Kind, codec.Major, out var payload, out var minor))
        {
            case EnvelopeRead.Newer:
                StateStoreMetrics.Skipped.Add(1, new KeyValuePair<string, object?>("reason", "newer"));
                return null;
            case EnvelopeRead.Corrupt:
                StateStoreMetrics.Skipped.Add(1, new KeyValuePair<string, object?>("reason", "corrupt"));
                return null;
        }

        try
        {
            var reader = new CompactReader(payload.Span);
            return codec.Read(ref reader, minor);
        }
        catch (InvalidDataException)
        {
            StateStoreMetrics.Skipped.Add(1, new KeyValuePair<string, object?>("reason", "corrupt"));
            return null;
        }
    }

    private (RedisKey Entry, RedisKey Index, RedisKey Sizes) Keys(string? tenant, string model, string id)
    {
        var scope = RedisKeys.Scope(kind, tenant, model);
        return (scope + RedisKeys.EntryMark + id, scope + "#index", scope + "#sizes");
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
}
