using System.Text.Json.Serialization.Metadata;
using YoutuServer.Api.Common;
using YoutuServer.Generation;
using YoutuServer.Http;
using YoutuServer.Operations;
using YoutuServer.State;

namespace YoutuServer.Api.Serving;

/// <summary>
/// One wire format's front door on the shared <see cref="GenerationLifecycle"/>. An adapter supplies only what is
/// its own: how its body reads (<see cref="RequestType"/>), what it asks for (<see cref="PrepareAsync"/>: DTO to
/// <see cref="GenerationIntent"/> plus its <see cref="ResultWriter"/>), its error shape and field names, and the name
/// of its trace span. Model resolution, planning, admission, keep-alives, disconnects (499), failures after the
/// stream began and the request's telemetry are the lifecycle's. Routes: <see cref="GenerationRoutes.MapGeneration{TRequest}"/>.
/// </summary>
internal abstract class GenerationAdapter<TRequest>
    where TRequest : class
{
    public abstract JsonTypeInfo<TRequest> RequestType { get; }

    /// <summary>The span this format's requests get (name and gen_ai.operation.name).</summary>
    public abstract GenerationOperation Operation { get; }

    /// <summary>This format's error body (also for failures of middleware on its routes).</summary>
    public abstract IErrorShape ErrorShape { get; }

    /// <summary>This format's names for intent fields, for failures before <see cref="PrepareAsync"/> named its own.</summary>
    public abstract FieldNamer Names { get; }

    /// <summary>The model the request names (null or empty: the served model), resolved before anything else.</summary>
    public abstract string? Model(TRequest request);

    /// <summary>Maps the request (client mistakes are <see cref="ApiException"/>s or <see cref="IntentException"/>s).</summary>
    public abstract ValueTask<GenerationCall> PrepareAsync(GenerationContext context, TRequest request);
}

/// <summary>What an adapter asks the lifecycle to run.</summary>
internal sealed record GenerationCall(GenerationIntent Intent, bool Stream, ResultWriter Writer)
{
    /// <summary>Field names for this request's failures (e.g. with its tools' indexes); null: the adapter's.</summary>
    public FieldNamer? Names { get; init; }

    /// <summary>Changes the plan before admission (Messages clamps max_tokens to the room the prompt leaves).</summary>
    public Func<GenerationPlan, GenerationPlan>? Adjust { get; init; }
}

/// <summary>The request an adapter maps: its HTTP context, tenant and services.</summary>
internal sealed class GenerationContext(HttpContext http, CancellationToken? aborted = null)
{
    public HttpContext Http { get; } = http;

    /// <summary>Whose request it is (the state services are scoped by it).</summary>
    public TenantId Tenant { get; } = http.Tenant();

    /// <summary>The request's cancellation: the client went away (or, on a WebSocket, the turn's own token).</summary>
    public CancellationToken Aborted => aborted ?? Http.RequestAborted;

    public T Service<T>()
        where T : notnull => Http.RequestServices.GetRequiredService<T>();
}

/// <summary>
/// Writes one request's result stream in a wire format's shape, on any transport (<see cref="IResultSink"/>). The
/// lifecycle calls <see cref="StartAsync"/> once the request is submitted, <see cref="OnResultAsync"/> for each
/// result event (the sink is flushed after <see cref="ResultKind.Flush"/>), <see cref="KeepAliveAsync"/> in quiet
/// spells of a stream, then <see cref="CompleteAsync"/> or, once the stream began, <see cref="FailAsync"/>.
/// </summary>
internal abstract class ResultWriter
{
    /// <summary>Whether the client asked for a stream (events) or one body.</summary>
    protected ResultWriter(bool stream) => Stream = stream;

    public bool Stream { get; }

    /// <summary>The opening events of a stream (they go out at once: the client sees the request accepted while it is queued).</summary>
    public virtual ValueTask StartAsync(GenerationRun run, IResultSink sink, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public virtual ValueTask OnResultAsync(GenerationRun run, ResultEvent result, IResultSink sink, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>A quiet spell of a stream: the transport's keep-alive unless the format has its own (Anthropic's ping).</summary>
    public virtual ValueTask KeepAliveAsync(IResultSink sink, CancellationToken cancellationToken) => sink.KeepAliveAsync(cancellationToken);

    /// <summary>The run ended without error: the closing events, or the body.</summary>
    public abstract ValueTask CompleteAsync(GenerationRun run, IResultSink sink, CancellationToken cancellationToken);

    /// <summary>The run failed after the stream began: the format's error event and its end.</summary>
    public abstract ValueTask FailAsync(GenerationRun run, ApiException error, IResultSink sink, CancellationToken cancellationToken);
}
