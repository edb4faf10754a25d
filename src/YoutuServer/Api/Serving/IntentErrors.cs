using YoutuServer.Api.Common;
using YoutuServer.Generation;
using YoutuServer.Http;
using YoutuServer.State;

namespace YoutuServer.Api.Serving;

/// <summary>The neutral failures of the pipeline as <see cref="ApiException"/>s, with a wire format's field names; each error shape writes them its way.</summary>
internal static class IntentErrors
{
    public static ApiException ToApi(IntentException e, FieldNamer names)
    {
        ArgumentNullException.ThrowIfNull(e);
        ArgumentNullException.ThrowIfNull(names);
        var f = e.Failure;
        var message = f.Message(names);
        var param = f.Field == IntentField.None ? null : names(f.Field, f.Index);
        if (param is { Length: 0 })
        {
            param = null;
        }

        return f.Kind switch
        {
            IntentFailureKind.ModelNotFound => new ApiException(404, message, "invalid_request_error", "model", "model_not_found"),
            IntentFailureKind.QueueFull => new ApiException(429, message, "rate_limit_error", null, "queue_full", e.RetryAfterSeconds ?? 1),
            IntentFailureKind.ShuttingDown => new ApiException(503, message, "server_error", null, "shutting_down", e.RetryAfterSeconds ?? 5),
            IntentFailureKind.ContextLengthExceeded => ApiException.BadRequest(message, param, "context_length_exceeded"),
            IntentFailureKind.UnsupportedSchema => ApiException.BadRequest(message, param, "unsupported_schema"),
            _ => ApiException.BadRequest(message, param),
        };
    }

    /// <summary>The error code of <see cref="Unavailable"/>.</summary>
    public const string StateStoreUnavailable = "state_store_unavailable";

    /// <summary>A state service that cannot answer: 503, retry later (never a 500, never a silent miss).</summary>
    public static ApiException Unavailable(StateUnavailableException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return new ApiException(503,
            "The session state store is unavailable; requests that need stored state (previous_response_id, stored responses) can be retried shortly.",
            "server_error", null, StateStoreUnavailable, e.RetryAfterSeconds);
    }

    /// <summary>The engine failed a choice.</summary>
    public static ApiException GenerationFailed(string error) => new(500, "Generation failed: " + error, "server_error", null, "generation_failed");

    /// <summary>Something broke after the stream began (the details are logged, not sent).</summary>
    public static ApiException StreamFailed { get; } = new(500, "The server had an error while processing your request.", "server_error", null, "server_error");
}
