using YoutuServer.Chat.Messages;
using YoutuServer.Generation;
using YoutuServer.Hosting;
using YoutuServer.Operations;

namespace YoutuServer.Api.OpenAI.Responses;

/// <summary>A stored response: its JSON, its input items, the conversation it continues, and who made it.</summary>
internal sealed class StoredResponse
{
    public required string Id { get; init; }

    /// <summary>The response object as returned (UTF-8 JSON).</summary>
    public required byte[] Json { get; init; }

    /// <summary>This request's input items, in order, each as UTF-8 JSON with its id.</summary>
    public required IReadOnlyList<(string Id, byte[] Json)> InputItems { get; init; }

    /// <summary>
    /// The whole conversation up to and including this response's output (earlier turns, this input, this output with
    /// its reasoning), as chat messages without the instructions: what a continuation renders in front of its input.
    /// </summary>
    public required IReadOnlyList<ChatMessage> Conversation { get; init; }

    /// <summary>The text this turn's prompt and output rendered to, with the exact tokens evaluated and generated.</summary>
    public PromptPrefix? Prefix { get; init; }

    /// <summary>The API key id that made it (null when keys are off); only that key sees it.</summary>
    public string? KeyId { get; init; }

    /// <summary>Approximate memory held (JSON bytes plus the conversation's text as UTF-16).</summary>
    public long Bytes { get; init; }

    public static long Estimate(byte[] json, IReadOnlyList<(string Id, byte[] Json)> items, IReadOnlyList<ChatMessage> conversation)
    {
        long bytes = 256 + json.Length;
        foreach (var (id, j) in items)
        {
            bytes += 48 + (id.Length * 2) + j.Length;
        }

        foreach (var m in conversation)
        {
            bytes += 96 + (2L * ((m.Content?.Length ?? 0) + (m.Reasoning?.Length ?? 0) + (m.ToolCallId?.Length ?? 0)));
            foreach (var c in m.ToolCalls ?? [])
            {
                bytes += 64 + (2L * (c.Name.Length + (c.Id?.Length ?? 0))) + c.Arguments.GetRawText().Length;
            }
        }

        return bytes;
    }
}

/// <summary>
/// Stored responses for <c>previous_response_id</c> and GET/DELETE: in memory, bounded by count and by bytes, the
/// least recently used evicted first (reading or continuing a response counts as use). Sizes: <c>--responses-store-items</c>,
/// <c>--responses-store-bytes</c>. Figures on /metrics (youtu_responses_store_items, _size_bytes, _evictions_total).
/// </summary>
internal sealed class ResponseStore : IDisposable
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, LinkedListNode<StoredResponse>> index = new(StringComparer.Ordinal);
    private readonly LinkedList<StoredResponse> lru = new(); // most recent first
    private readonly IDisposable metrics;
    private long bytes;

    public ResponseStore(ServerOptions options)
        : this(options.ResponsesStoreItems, options.ResponsesStoreBytes)
    {
    }

    public ResponseStore(int maxItems, long maxBytes)
    {
        MaxItems = Math.Max(0, maxItems);
        MaxBytes = Math.Max(0, maxBytes);
        metrics = ServerMetrics.AddResponseStore(() => (Count, Bytes));
    }

    public int MaxItems { get; }
    public long MaxBytes { get; }

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

    public long Evictions { get; private set; }

    /// <summary>Stores a response, evicting the least recently used until both bounds hold; false when it alone is too big.</summary>
    public bool Add(StoredResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (MaxItems == 0 || response.Bytes > MaxBytes)
        {
            return false;
        }

        var evicted = 0;
        lock (gate)
        {
            if (index.Remove(response.Id, out var old))
            {
                lru.Remove(old);
                Interlocked.Add(ref bytes, -old.Value.Bytes);
            }

            while (lru.Count > 0 && (index.Count + 1 > MaxItems || Bytes + response.Bytes > MaxBytes))
            {
                var last = lru.Last!;
                lru.RemoveLast();
                index.Remove(last.Value.Id);
                Interlocked.Add(ref bytes, -last.Value.Bytes);
                evicted++;
            }

            index[response.Id] = lru.AddFirst(response);
            Interlocked.Add(ref bytes, response.Bytes);
            Evictions += evicted;
        }

        if (evicted > 0)
        {
            ServerMetrics.ResponseStoreEvictions.Add(evicted);
        }

        return true;
    }

    /// <summary>The response, if stored and made by <paramref name="keyId"/> (null = keys off); marks it recently used.</summary>
    public StoredResponse? Get(string id, string? keyId)
    {
        lock (gate)
        {
            if (!index.TryGetValue(id, out var node) || !string.Equals(node.Value.KeyId, keyId, StringComparison.Ordinal))
            {
                return null;
            }

            lru.Remove(node);
            lru.AddFirst(node);
            return node.Value;
        }
    }

    /// <summary>Deletes the response if it is visible to <paramref name="keyId"/>.</summary>
    public bool Remove(string id, string? keyId)
    {
        lock (gate)
        {
            if (!index.TryGetValue(id, out var node) || !string.Equals(node.Value.KeyId, keyId, StringComparison.Ordinal))
            {
                return false;
            }

            index.Remove(id);
            lru.Remove(node);
            Interlocked.Add(ref bytes, -node.Value.Bytes);
            return true;
        }
    }

    public void Dispose() => metrics.Dispose();
}
