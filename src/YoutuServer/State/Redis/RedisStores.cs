namespace YoutuServer.State.Redis;

/// <summary>
/// <see cref="IResponseStore"/> on the shared store: every replica reads what any replica stored. Per tenant and model:
/// the tenant's share of <c>--responses-store-items/-bytes</c>, least recently used first out; each response lives
/// <c>--state-ttl</c> after its last use. A store that is down throws <see cref="StateUnavailableException"/>.
/// </summary>
internal sealed class RedisResponseStore(RedisStateConnection connection, Func<string> model, CacheBounds bounds, TimeSpan ttl) : IResponseStore
{
    private readonly RedisStateMap<StoredResponse> map = new(connection, "resp", new StoredResponseCodec(), ttl, bounds.TenantMaxItems, bounds.TenantMaxBytes);

    public async ValueTask<bool> PutAsync(TenantId tenant, StoredResponse response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        return await map.PutAsync(tenant.Value, model(), response.Id, response).WaitAsync(cancellationToken).ConfigureAwait(false) == StatePut.Stored;
    }

    public async ValueTask<StoredResponse?> GetAsync(TenantId tenant, string id, CancellationToken cancellationToken)
    {
        var r = await map.GetAsync(tenant.Value, model(), id).WaitAsync(cancellationToken).ConfigureAwait(false);
        StateMetrics.Looked(InMemoryResponseStore.StoreName, r is not null);
        return r;
    }

    public async ValueTask<bool> DeleteAsync(TenantId tenant, string id, CancellationToken cancellationToken) =>
        await map.DeleteAsync(tenant.Value, model(), id).WaitAsync(cancellationToken).ConfigureAwait(false);

    public void ThrowIfDown() => connection.ThrowIfDown("responses");

    /// <summary>v1.0: id, body, input items (id, JSON), continuation, created-at (Unix ms).</summary>
    private sealed class StoredResponseCodec : IStateCodec<StoredResponse>
    {
        public byte Kind => 1;
        public byte Major => 1;
        public byte Minor => 0;

        public void Write(StoredResponse value, CompactWriter writer)
        {
            writer.WriteString(value.Id);
            writer.WriteBytes(value.Body);
            writer.WriteVarInt(value.InputItems.Count);
            foreach (var item in value.InputItems)
            {
                writer.WriteString(item.Id);
                writer.WriteBytes(item.Json);
            }

            writer.WriteBytes(value.Continuation);
            writer.WriteVarInt(value.CreatedAt.ToUnixTimeMilliseconds());
        }

        public StoredResponse Read(ref CompactReader reader, byte minor)
        {
            var id = reader.ReadString() ?? throw new InvalidDataException("response without id");
            var body = reader.ReadBytes();
            var count = reader.ReadVarInt();
            if (count is < 0 or > 1_000_000)
            {
                throw new InvalidDataException("input item count out of range");
            }

            var items = new List<StoredItem>((int)count);
            for (var i = 0; i < count; i++)
            {
                items.Add(new StoredItem(reader.ReadString() ?? "", reader.ReadBytes()));
            }

            return new StoredResponse
            {
                Id = id,
                Body = body,
                InputItems = items,
                Continuation = reader.ReadBytes(),
                CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(reader.ReadVarInt()),
            };
        }
    }
}

/// <summary><see cref="IKeyedMemory{T}"/> on the shared store (per tenant and model; a down store throws, callers treat it as a miss).</summary>
internal abstract class RedisKeyedMemory<T>(RedisStateConnection connection, string kind, string storeName, IStateCodec<T> codec, Func<string> model, CacheBounds bounds, TimeSpan ttl)
    : IKeyedMemory<T>
    where T : class
{
    private readonly RedisStateMap<T> map = new(connection, kind, codec, ttl, bounds.TenantMaxItems, bounds.TenantMaxBytes);

    public async ValueTask RememberAsync(TenantId tenant, string key, T value, CancellationToken cancellationToken) =>
        await map.PutAsync(tenant.Value, model(), key, value).WaitAsync(cancellationToken).ConfigureAwait(false);

    public async ValueTask<T?> RecallAsync(TenantId tenant, string key, CancellationToken cancellationToken)
    {
        var r = await map.GetAsync(tenant.Value, model(), key).WaitAsync(cancellationToken).ConfigureAwait(false);
        StateMetrics.Looked(storeName, r is not null);
        return r;
    }

    public async ValueTask<IReadOnlyDictionary<string, T>> RecallManyAsync(TenantId tenant, IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var ids = keys.Distinct(StringComparer.Ordinal).ToList();
        var values = await map.GetManyAsync(tenant.Value, model(), ids).WaitAsync(cancellationToken).ConfigureAwait(false);
        var found = new Dictionary<string, T>(StringComparer.Ordinal);
        for (var i = 0; i < ids.Count; i++)
        {
            StateMetrics.Looked(storeName, values[i] is not null);
            if (values[i] is { } v)
            {
                found[ids[i]] = v;
            }
        }

        return found;
    }
}

/// <summary><see cref="IOutputMemory"/> on the shared store.</summary>
internal sealed class RedisOutputMemory(RedisStateConnection connection, Func<string> model, CacheBounds bounds, TimeSpan ttl)
    : RedisKeyedMemory<RememberedOutput>(connection, "out", InMemoryOutputMemory.StoreName, new Codec(), model, bounds, ttl), IOutputMemory
{
    /// <summary>v1.0: text, token ids (4 bytes each).</summary>
    private sealed class Codec : IStateCodec<RememberedOutput>
    {
        public byte Kind => 2;
        public byte Major => 1;
        public byte Minor => 0;

        public void Write(RememberedOutput value, CompactWriter writer)
        {
            writer.WriteString(value.Text);
            writer.WriteInts(value.Tokens as int[] ?? [.. value.Tokens]);
        }

        public RememberedOutput Read(ref CompactReader reader, byte minor) => new(reader.ReadString() ?? "", reader.ReadInts());
    }
}

/// <summary><see cref="IToolUseMemory"/> on the shared store.</summary>
internal sealed class RedisToolUseMemory(RedisStateConnection connection, Func<string> model, CacheBounds bounds, TimeSpan ttl)
    : RedisKeyedMemory<RememberedToolUse>(connection, "tool", InMemoryToolUseMemory.StoreName, new Codec(), model, bounds, ttl), IToolUseMemory
{
    /// <summary>v1.0: the model's argument text, the whitespace-only turn content (or null).</summary>
    private sealed class Codec : IStateCodec<RememberedToolUse>
    {
        public byte Kind => 3;
        public byte Major => 1;
        public byte Minor => 0;

        public void Write(RememberedToolUse value, CompactWriter writer)
        {
            writer.WriteString(value.Arguments);
            writer.WriteString(value.TurnContent);
        }

        public RememberedToolUse Read(ref CompactReader reader, byte minor) => new(reader.ReadString() ?? "", reader.ReadString());
    }
}
