namespace YoutuServer.State;

/// <summary>
/// A state service could not be reached or answered with an error (a shared store down, a timeout). The request
/// lifecycle answers it with 503 in the API's own error shape (never a 500, never a silent miss); a cache that can
/// do without its entry (<see cref="IOutputMemory"/>, <see cref="IToolUseMemory"/>) may instead degrade to a miss and log.
/// </summary>
internal sealed class StateUnavailableException : Exception
{
    public StateUnavailableException()
        : this("The state store is unavailable.")
    {
    }

    public StateUnavailableException(string message)
        : base(message)
    {
    }

    public StateUnavailableException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>The service that failed (e.g. "responses"), for logs and metrics.</summary>
    public string? Store { get; init; }

    /// <summary>Seconds a client should wait before retrying.</summary>
    public int RetryAfterSeconds { get; init; } = 5;
}
