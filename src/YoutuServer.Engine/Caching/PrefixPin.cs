namespace YoutuServer.Engine.Caching;

/// <summary>
/// Keeps a prefix (a session's tokens so far) in the cache while a client holds its session open: the sequence and
/// saved states holding the whole prefix are evicted only after every unpinned one. Dispose to unpin; disposing twice
/// is harmless. Made by <see cref="InferenceEngine.PinPrefix"/>.
/// </summary>
public sealed class PrefixPin : IDisposable
{
    private readonly Action<PrefixPin> release;
    private int disposed;

    internal PrefixPin(UInt128 scope, int[] tokens, Action<PrefixPin> release)
    {
        Scope = scope;
        Tokens = tokens;
        this.release = release;
    }

    internal UInt128 Scope { get; }
    internal int[] Tokens { get; }

    /// <summary>Number of pinned tokens.</summary>
    public int Length => Tokens.Length;

    /// <summary>Whether a sequence or state of this scope holding these tokens holds the whole pinned prefix.</summary>
    internal bool Holds(UInt128 scope, IReadOnlyList<int> tokens)
        => scope == Scope && tokens.Count >= Tokens.Length && PrefixHashing.CommonPrefix(tokens, Tokens) == Tokens.Length;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0)
        {
            release(this);
        }
    }
}
