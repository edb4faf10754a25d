namespace YoutuServer.Generation;

/// <summary>The input a failure is about, in no wire format's vocabulary; each adapter names it in its own.</summary>
internal enum IntentField
{
    None,
    Model,
    Messages,
    /// <summary>The conversation as a whole when it cannot be rendered or is too long.</summary>
    Prompt,
    Tools,
    ToolName,
    ToolParameters,
    ToolChoice,
    Output,
    Temperature,
    TopP,
    TopK,
    MinP,
    PresencePenalty,
    FrequencyPenalty,
    RepetitionPenalty,
    LogitBias,
    Stop,
    N,
    MaxTokens,
    MinTokens,
    Logprobs,
    TopLogprobs,
    ReasoningBudget,
    CacheSalt,
}

internal enum IntentFailureKind
{
    /// <summary>400: a value out of range or of the wrong shape.</summary>
    Invalid,
    /// <summary>400 context_length_exceeded.</summary>
    ContextLengthExceeded,
    /// <summary>400 unsupported_schema: a JSON Schema the grammar converter cannot enforce.</summary>
    UnsupportedSchema,
    /// <summary>404 model_not_found.</summary>
    ModelNotFound,
    /// <summary>429: the admission queue is full.</summary>
    QueueFull,
    /// <summary>503: the server is draining.</summary>
    ShuttingDown,
}

/// <summary>Names a field (with an index for list items, e.g. tools[2]) in one wire format's vocabulary.</summary>
internal delegate string FieldNamer(IntentField field, int? index = null);

/// <summary>
/// A typed refusal: which input, what kind, and a message composed with the adapter's own field names
/// (so "'max_tokens' must be…" on chat completions reads "'max_output_tokens' must be…" on Responses).
/// </summary>
internal sealed record IntentFailure(IntentField Field, IntentFailureKind Kind, Func<FieldNamer, string> Describe, int? Index = null)
{
    /// <summary>The failure's message in a wire format's vocabulary.</summary>
    public string Message(FieldNamer names) => Describe(names);

    public static IntentFailure Invalid(IntentField field, Func<FieldNamer, string> describe, int? index = null) => new(field, IntentFailureKind.Invalid, describe, index);
}

/// <summary>Thrown by the planner and the result stream's submission; every adapter catches it and writes its own error shape.</summary>
internal sealed class IntentException : Exception
{
    public IntentException(IntentFailure failure) : base(failure.Describe(static (f, i) => i is null ? f.ToString() : $"{f}[{i}]")) => Failure = failure;

    public IntentException() : this(IntentFailure.Invalid(IntentField.None, _ => "invalid request")) { }
    public IntentException(string message) : this(IntentFailure.Invalid(IntentField.None, _ => message)) { }
    public IntentException(string message, Exception inner) : base(message, inner) => Failure = IntentFailure.Invalid(IntentField.None, _ => message);

    public IntentFailure Failure { get; }

    /// <summary>Seconds a client should wait before retrying (queue full, draining).</summary>
    public int? RetryAfterSeconds { get; init; }
}
