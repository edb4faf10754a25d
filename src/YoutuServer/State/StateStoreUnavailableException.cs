namespace YoutuServer.State;

/// <summary>
/// The shared state store cannot be reached (down, timing out, or not yet reconnected). A request that needs stored
/// state answers it with a 503 in its API's shape and a <c>Retry-After</c>; requests that need none go on as usual.
/// </summary>
internal sealed class StateStoreUnavailableException : Exception
{
    /// <summary>Seconds a client should wait before trying again (the Retry-After value).</summary>
    public const int RetryAfterSeconds = 2;

    public StateStoreUnavailableException()
        : this("The session state store is unavailable.")
    {
    }

    public StateStoreUnavailableException(string message)
        : base(message)
    {
    }

    public StateStoreUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
