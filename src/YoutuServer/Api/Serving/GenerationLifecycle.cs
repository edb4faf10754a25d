using YoutuServer.Api.Common;
using YoutuServer.Generation;
using YoutuServer.Hosting;
using YoutuServer.Http;
using YoutuServer.Operations;
using YoutuServer.State;

namespace YoutuServer.Api.Serving;

/// <summary>
/// The lifecycle of a generation request, the same for every wire format: read the body, resolve the model, let the
/// adapter map it, plan (fetching remembered turns first), submit (admission), then stream or collect the result
/// stream through the adapter's <see cref="ResultWriter"/>: keep-alives after each quiet spell of a stream
/// (<c>--stream-ping</c> seconds), a client that goes away cancels the run (499), a failure after the stream began
/// becomes the format's error event. Fills the request's <see cref="RequestRecord"/> for logs, metrics and the span.
/// </summary>
internal sealed partial class GenerationLifecycle(EngineHost host, GenerationPlanner planner, ServerOptions options, ILogger<GenerationLifecycle> logger)
{
    /// <summary>Quiet time after which a stream sends a keep-alive.</summary>
    public TimeSpan KeepAliveEvery { get; } = TimeSpan.FromSeconds(Math.Max(0.01, options.StreamPingSeconds));

    public async Task RunAsync<TRequest>(HttpContext http, GenerationAdapter<TRequest> adapter)
        where TRequest : class
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(adapter);
        var request = await RequestBody.ReadAsync(http, adapter.RequestType);
        await RunAsync(new GenerationContext(http), adapter, request, new HttpResultSink(http.Response));
    }

    /// <summary>
    /// One request already read, its result going to <paramref name="sink"/>: the HTTP routes above, and transports that
    /// carry several requests (the Responses WebSocket mode: one context per message, its own cancellation).
    /// </summary>
    public async Task RunAsync<TRequest>(GenerationContext context, GenerationAdapter<TRequest> adapter, TRequest request, IResultSink sink)
        where TRequest : class
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(adapter);
        var http = context.Http;
        var ct = context.Aborted;
        var telemetry = new RequestTelemetry(http.Record());
        var names = adapter.Names;
        GenerationCall call;
        GenerationRun run;
        try
        {
            ModelResolver.Check(host, adapter.Model(request));
            call = await adapter.PrepareAsync(context, request);
            names = call.Names ?? names;
            var plan = await planner.PlanAsync(call.Intent with { Tenant = context.Tenant }, ct);
            if (call.Adjust is { } adjust)
            {
                plan = adjust(plan);
            }

            telemetry.Begin(plan.ModelId, plan.PromptTokens, call.Stream);
            run = GenerationRun.Start(host.Engine, plan, ct, telemetry);
        }
        catch (IntentException e)
        {
            throw IntentErrors.ToApi(e, names);
        }
        catch (StateUnavailableException e)
        {
            LogStateUnavailable(logger, e.Store ?? "state", e);
            throw IntentErrors.Unavailable(e);
        }

        var writer = call.Writer;
        try
        {
            await writer.StartAsync(run, sink, ct);
            await sink.FlushAsync(ct);
            try
            {
                await foreach (var r in run.ReadAsync(call.Stream ? KeepAliveEvery : null, ct))
                {
                    if (r.Kind == ResultKind.KeepAlive)
                    {
                        await writer.KeepAliveAsync(sink, ct);
                        await sink.FlushAsync(ct);
                        continue;
                    }

                    await writer.OnResultAsync(run, r, sink, ct);
                    if (r.Kind == ResultKind.Flush)
                    {
                        await sink.FlushAsync(ct);
                    }
                }
            }
            catch (Exception e) when (e is not OperationCanceledException && sink.Started)
            {
                // Whatever broke after the stream began, the client gets the format's error event and its end.
                LogStreamFailed(logger, http.Request.Path.Value ?? "", e);
                await writer.FailAsync(run, IntentErrors.StreamFailed, sink, ct);
                await sink.FlushAsync(ct);
                telemetry.End(500, run.Usage);
                return;
            }

            if (run.Error is { } error)
            {
                var failed = IntentErrors.GenerationFailed(error);
                if (!sink.Started)
                {
                    telemetry.End(failed.Status, run.Usage);
                    throw failed;
                }

                await writer.FailAsync(run, failed, sink, ct);
                await sink.FlushAsync(ct);
                telemetry.End(200, run.Usage);
                return;
            }

            try
            {
                await writer.CompleteAsync(run, sink, ct);
            }
            catch (StateUnavailableException e) when (sink.Started)
            {
                // The state to save after generating (a stored response) could not be saved and the stream has begun:
                // it ends with the format's error event, never with a completion that claims it was stored.
                LogStateUnavailable(logger, e.Store ?? "state", e);
                await writer.FailAsync(run, IntentErrors.Unavailable(e), sink, ct);
                await sink.FlushAsync(ct);
                telemetry.End(200, run.Usage);
                return;
            }
            catch (StateUnavailableException e)
            {
                LogStateUnavailable(logger, e.Store ?? "state", e);
                telemetry.End(503, run.Usage);
                throw IntentErrors.Unavailable(e);
            }

            await sink.FlushAsync(ct);
            telemetry.End(200, run.Usage);
        }
        catch (OperationCanceledException e) when (ct.IsCancellationRequested || e.CancellationToken.IsCancellationRequested)
        {
            // Client gone (possibly noticed by a write before RequestAborted fired): the engine drops the sequence.
            run.Cancel();
            telemetry.End(499, run.Usage);
        }
    }

    [LoggerMessage(EventId = 1201, Level = LogLevel.Error, Message = "{Path}: the result stream failed after it began")]
    private static partial void LogStreamFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Warning, Message = "the {Store} store is unavailable; answered 503")]
    private static partial void LogStateUnavailable(ILogger logger, string store, Exception exception);
}

/// <summary>Registers a wire format's generation routes: one call per route, the same metadata and body handling for all.</summary>
internal static class GenerationRoutes
{
    /// <summary>
    /// POST <paramref name="pattern"/> served by the lifecycle through <paramref name="adapter"/>: the documented route
    /// (JSON bodies) and an undocumented lower-priority twin for any other content type (the body reader answers those
    /// with the format's usual 400). Both carry the adapter's error shape and span. Returns the documented route.
    /// </summary>
    public static RouteHandlerBuilder MapGeneration<TRequest>(this IEndpointRouteBuilder app, string pattern, GenerationAdapter<TRequest> adapter)
        where TRequest : class
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(adapter);
        Task Handle(HttpContext http, GenerationLifecycle lifecycle) => lifecycle.RunAsync(http, adapter);
        app.MapPost(pattern, Handle).WithOrder(1).ExcludeFromDescription().WithMetadata(adapter.ErrorShape, adapter.Operation);
        return app.MapPost(pattern, Handle).Accepts<TRequest>("application/json").WithMetadata(adapter.ErrorShape, adapter.Operation);
    }

    /// <summary>Unknown routes under <paramref name="prefix"/> answer 404 in <paramref name="shape"/> (a format's own corner of the URL space).</summary>
    public static void MapUnknownRoutes(this IEndpointRouteBuilder app, string prefix, IErrorShape shape)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapFallback(prefix.TrimEnd('/') + "/{**rest}", UnknownRoute).WithErrorShape(shape);
    }

    /// <summary>The 404 of a route nobody serves.</summary>
    public static IResult UnknownRoute(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        return ErrorWriter.Result(new ApiException(404, $"Unknown route {http.Request.Method} {http.Request.Path}.", "invalid_request_error", null, "not_found"));
    }

    /// <summary>Puts a format's error shape on routes it serves outside the lifecycle (stored responses, count_tokens).</summary>
    public static TBuilder WithErrorShape<TBuilder>(this TBuilder builder, IErrorShape shape)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(shape);
}
