namespace YoutuServer.State;

/// <summary>
/// Stored responses of the Responses API (previous_response_id, GET/DELETE /v1/responses/{id}, input_items), in no wire
/// format's types: bytes the adapter wrote plus what the store needs to index them. Every call names the tenant; an
/// entry is visible to its tenant only. Implementations: <see cref="InMemoryResponseStore"/> (bounded, LRU); a shared
/// store may back it for several replicas. A store that cannot answer throws <see cref="StateUnavailableException"/>.
/// </summary>
internal interface IResponseStore
{
    /// <summary>Stores (or replaces) a response; false when the store refused it (larger than its bounds).</summary>
    ValueTask<bool> PutAsync(TenantId tenant, StoredResponse response, CancellationToken cancellationToken);

    /// <summary>The response if the tenant stored it and it is still held; reading counts as use.</summary>
    ValueTask<StoredResponse?> GetAsync(TenantId tenant, string id, CancellationToken cancellationToken);

    /// <summary>Deletes the tenant's response; false when there was none.</summary>
    ValueTask<bool> DeleteAsync(TenantId tenant, string id, CancellationToken cancellationToken);

    /// <summary>
    /// Throws <see cref="StateUnavailableException"/> when the store is known to be down now (a shared store's
    /// connection lost), without a round trip: a request that will need it is refused before it generates.
    /// </summary>
    void ThrowIfDown();
}

/// <summary>One input item of a stored response: its id and its JSON as the adapter wrote it.</summary>
internal sealed record StoredItem(string Id, byte[] Json);

/// <summary>
/// A stored response: the response object's JSON, its input items, and the adapter's continuation payload (what a
/// later request continuing it needs, e.g. the conversation and the exact tokens; opaque to the store).
/// </summary>
internal sealed record StoredResponse
{
    public required string Id { get; init; }

    /// <summary>The response object as returned (UTF-8 JSON).</summary>
    public required byte[] Body { get; init; }

    /// <summary>This request's input items, in order.</summary>
    public IReadOnlyList<StoredItem> InputItems { get; init; } = [];

    /// <summary>The adapter's continuation state (UTF-8 JSON it reads back); empty when it has none.</summary>
    public byte[] Continuation { get; init; } = [];

    public DateTimeOffset CreatedAt { get; init; } = DateTimeOffset.UtcNow;

    /// <summary>Approximate memory held.</summary>
    public long Bytes
    {
        get
        {
            long bytes = 256 + (2L * Id.Length) + Body.Length + Continuation.Length;
            foreach (var item in InputItems)
            {
                bytes += 48 + (2L * item.Id.Length) + item.Json.Length;
            }

            return bytes;
        }
    }
}
