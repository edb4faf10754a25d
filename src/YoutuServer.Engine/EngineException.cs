namespace YoutuServer.Engine;

/// <summary>Why the engine refused a request; the caller maps it to a protocol status.</summary>
public enum RejectionReason
{
    /// <summary>The admission queue is full (HTTP 429 + Retry-After).</summary>
    QueueFull,
    /// <summary>Prompt plus requested tokens exceed the context (HTTP 400 context_length_exceeded).</summary>
    ContextLengthExceeded,
    /// <summary>The engine is draining or stopped (HTTP 503 + Retry-After).</summary>
    ShuttingDown,
    /// <summary>A parameter the engine cannot honour (HTTP 400).</summary>
    InvalidRequest,
}

/// <summary>The part of a <see cref="Scheduling.GenerationRequest"/> a refusal is about.</summary>
public enum RequestField
{
    None,
    Prompt,
    /// <summary>The number of completions (N).</summary>
    Count,
    MaxTokens,
    /// <summary>The output constraint (a grammar llama.cpp cannot parse).</summary>
    Grammar,
    /// <summary>The LoRA adapter (not loaded).</summary>
    Adapter,
}

public sealed class EngineRejectedException : Exception
{
    public EngineRejectedException(RejectionReason reason, string message, RequestField field = RequestField.None) : base(message)
    {
        Reason = reason;
        Field = field;
    }

    public EngineRejectedException() : this(RejectionReason.InvalidRequest, "rejected") { }
    public EngineRejectedException(string message) : this(RejectionReason.InvalidRequest, message) { }
    public EngineRejectedException(string message, Exception inner) : base(message, inner) { }

    public RejectionReason Reason { get; }
    public RequestField Field { get; }
    /// <summary>For ContextLengthExceeded: the tokens asked for (prompt + max tokens) and the limit.</summary>
    public int RequestedTokens { get; init; }
    public int ContextLimit { get; init; }
}

/// <summary>A model file that cannot be loaded; the message names the problem.</summary>
public sealed class ModelLoadException : Exception
{
    public ModelLoadException(string message) : base(message) { }
    public ModelLoadException() { }
    public ModelLoadException(string message, Exception inner) : base(message, inner) { }
}
