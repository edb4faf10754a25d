using YoutuServer.Engine.Caching;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Hosting;

namespace YoutuServer.Generation;

/// <summary>
/// A conversation's id (OpenAI's <c>prompt_cache_key</c>, which Codex sends per conversation) as a hint to the prefix
/// cache: the latest prompt of each of the most recent conversations stays pinned (<see cref="Engine.InferenceEngine.PinPrefix"/>),
/// so the sequence and saved states holding it are evicted only after every unpinned one, and the conversation's next
/// turn finds its prefix although other sessions came between. A conversation's new turn replaces its pin. Bounded:
/// at most <see cref="Capacity"/> conversations (twice the sequence slots, at least 8), the least recently used
/// released first. A pin is scoped like the request (adapter, tenant and cache_salt), so a hint never widens reuse.
/// </summary>
internal sealed class ConversationPins(EngineHost host, ServerOptions options) : IDisposable
{
    private readonly Lock gate = new();
    private readonly LinkedList<(string Key, PrefixPin Pin)> recent = new();
    private readonly Dictionary<string, LinkedListNode<(string Key, PrefixPin Pin)>> byKey = new(StringComparer.Ordinal);

    public int Capacity => Math.Max(8, 2 * options.Parallel);

    /// <summary>Conversations pinned now.</summary>
    public int Count
    {
        get
        {
            lock (gate)
            {
                return recent.Count;
            }
        }
    }

    /// <summary>Pins the prompt of a finished turn of <paramref name="conversation"/>, releasing its earlier pin.</summary>
    public void Keep(string conversation, GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!options.PrefixCache || !host.IsReady || request.Prompt.Count == 0)
        {
            return;
        }

        var key = string.Join('\u0001', request.CacheSalt ?? "", request.Adapter ?? "", conversation);
        var pin = host.Engine.PinPrefix(request.Prompt, request.Adapter, request.CacheSalt);
        List<PrefixPin> released = [];
        lock (gate)
        {
            if (byKey.Remove(key, out var old))
            {
                recent.Remove(old);
                released.Add(old.Value.Pin);
            }

            byKey[key] = recent.AddFirst((key, pin));
            while (recent.Count > Capacity)
            {
                var last = recent.Last!;
                recent.RemoveLast();
                byKey.Remove(last.Value.Key);
                released.Add(last.Value.Pin);
            }
        }

        foreach (var p in released)
        {
            p.Dispose();
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            foreach (var (_, pin) in recent)
            {
                pin.Dispose();
            }

            recent.Clear();
            byKey.Clear();
        }
    }
}
