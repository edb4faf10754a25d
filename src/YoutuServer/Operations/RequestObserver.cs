using System.Diagnostics;
using System.Text;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Serilog.Context;
using YoutuServer.Generation;
using YoutuServer.Http;
using YoutuServer.Hosting;

namespace YoutuServer.Operations;

/// <summary>
/// The outermost middleware: request id, the early body-size check, drain accounting, the completion span,
/// and after the response one log line and the request metrics. Per-request numbers (model, tokens, TTFT, TPOT)
/// come from the request's <see cref="RequestRecord"/> feature, which the generation lifecycle fills.
/// </summary>
internal sealed partial class RequestObserver(RequestDelegate next, ServerOptions options, DrainCoordinator drain, ILogger<RequestObserver> logger)
{
    public const string RequestIdHeader = "x-request-id";
    private const int CaptureLimit = 16 * 1024;

    public async Task InvokeAsync(HttpContext http)
    {
        var start = Stopwatch.GetTimestamp();
        var requestId = RequestId(http);
        http.Response.Headers[RequestIdHeader] = requestId;
        var record = new RequestRecord();
        http.Features.Set(record);

        var api = Routes.IsApi(http.Request);
        if (api && http.Request.ContentLength > options.MaxRequestBodyBytes)
        {
            // Refuse before reading a byte; Kestrel's own limit (BadHttpRequestException 413) covers chunked bodies.
            ServerMetrics.Rejected("request_too_large");
            await ErrorWriter.WriteAsync(http, new ApiException(413,
                $"The request body is too large ({http.Request.ContentLength} bytes; this server accepts at most {options.MaxRequestBodyBytes}).",
                "invalid_request_error", null, "request_too_large"));
            Finish(http, start, requestId, api, null, null);
            return;
        }

        var operation = http.GetEndpoint()?.Metadata.GetMetadata<GenerationOperation>();
        using var activity = operation is null ? null : RequestTrace.Start(operation, http);
        activity?.SetTag("youtu.request_id", requestId);
        ResponseCapture? capture = null;
        if (options.LogPrompts && api)
        {
            http.Request.EnableBuffering(CaptureLimit, options.MaxRequestBodyBytes);
            capture = ResponseCapture.Install(http);
        }

        if (api)
        {
            drain.Enter();
        }

        int? failedStatus = null;
        try
        {
            await next(http);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            failedStatus = 499; // the client went away
            throw;
        }
        catch
        {
            failedStatus = 500;
            throw;
        }
        finally
        {
            if (api)
            {
                drain.Exit();
            }

            string? prompt = null;
            string? output = null;
            if (capture is not null)
            {
                output = await capture.UninstallAsync();
                prompt = await ReadRequestBodyAsync(http);
            }

            var status = Finish(http, start, requestId, api, prompt, output, failedStatus);
            if (activity is not null)
            {
                Annotate(activity, http, status);
            }
        }
    }

    /// <summary>
    /// Hook for the API's error handler: counts a refused request by reason (queue_full, shutting_down,
    /// context_length_exceeded, request_too_large, state_store_unavailable, or invalid for other client errors).
    /// </summary>
    public static void Refused(HttpContext http, ApiException e)
    {
        var reason = e.Code switch
        {
            "queue_full" or "shutting_down" or "context_length_exceeded" or "request_too_large" or "state_store_unavailable" => e.Code,
            _ when e.Status is >= 400 and < 500 => "invalid",
            _ => null,
        };
        if (reason is not null)
        {
            http.Record().Rejection = reason;
            ServerMetrics.Rejected(reason);
        }
    }

    private int Finish(HttpContext http, long start, string requestId, bool api, string? prompt, string? output, int? forcedStatus = null)
    {
        var record = http.Record();
        var status = forcedStatus ?? record.Status ?? http.Response.StatusCode;
        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var route = (http.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? (api ? "unmatched" : "other");
        if (route.StartsWith("{*", StringComparison.Ordinal))
        {
            route = "fallback";
        }

        var tags = ServerMetrics.Tags("route", route, "method", http.Request.Method, "status", status);
        ServerMetrics.Requests.Add(1, tags);
        ServerMetrics.RequestDuration.Record(seconds, tags);

        var model = record.Model;
        var usage = record.Usage;
        var ttft = record.TtftMs;
        var tpot = record.TpotMs;
        if (model is not null)
        {
            var modelTag = new KeyValuePair<string, object?>("model", model);
            if (usage is not null)
            {
                ServerMetrics.PromptTokens.Add(usage.PromptTokens, modelTag);
                ServerMetrics.GenerationTokens.Add(usage.CompletionTokens, modelTag);
                ServerMetrics.PrefixCacheHitTokens.Add(usage.CachedTokens, modelTag);
                if (usage.Engine is { RestoredTokens: > 0 } engineUsage)
                {
                    ServerMetrics.PrefixCacheRestoreDuration.Record(engineUsage.RestoreMs / 1000, modelTag);
                }
            }

            if (ttft is { } t)
            {
                ServerMetrics.TimeToFirstToken.Record(t / 1000, modelTag);
            }

            if (tpot is { } p)
            {
                ServerMetrics.TimePerOutputToken.Record(p / 1000, modelTag);
            }
        }

        // Probes and page reads at Debug; server faults (not refusals such as 503 shutting_down) at Warning.
        var level = !api ? LogLevel.Debug : status >= 500 && record.Rejection is null ? LogLevel.Warning : LogLevel.Information;
        if (!logger.IsEnabled(level))
        {
            return status;
        }

        var ms = seconds * 1000;
        var path = http.Request.Path.Value ?? "/";
        using (LogContext.PushProperty("KeyId", http.Features.Get<State.ITenantFeature>()?.Tenant.Value))
        using (LogContext.PushProperty("Route", route))
        using (LogContext.PushProperty("Rejection", record.Rejection))
        {
            if (model is null)
            {
                LogRequest(level, http.Request.Method, path, status, ms, requestId);
            }
            else
            {
                var completion = usage?.CompletionTokens;
                var cached = usage?.CachedTokens;
                var promptTokens = usage?.PromptTokens ?? record.PromptTokens;
                if (options.LogPrompts)
                {
                    LogCompletionWithText(level, http.Request.Method, path, status, ms, model, promptTokens, completion, cached, ttft, tpot, requestId, prompt, output);
                }
                else
                {
                    LogCompletion(level, http.Request.Method, path, status, ms, model, promptTokens, completion, cached, ttft, tpot, requestId);
                }
            }
        }

        return status;
    }

    private static void Annotate(Activity activity, HttpContext http, int status)
    {
        var record = http.Record();
        activity.SetTag("http.response.status_code", status);
        activity.SetTag("gen_ai.request.model", record.Model);
        if (record.Usage is { } usage)
        {
            activity.SetTag("gen_ai.usage.input_tokens", usage.PromptTokens);
            activity.SetTag("gen_ai.usage.output_tokens", usage.CompletionTokens);
            activity.SetTag("youtu.cached_tokens", usage.CachedTokens);
        }

        activity.SetTag("youtu.ttft_ms", record.TtftMs);
        activity.SetTag("youtu.tpot_ms", record.TpotMs);
        if (status >= 400)
        {
            activity.SetStatus(ActivityStatusCode.Error, status.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    /// <summary>The client's x-request-id when it is a sane token, else the server's own id.</summary>
    private static string RequestId(HttpContext http)
    {
        var sent = http.Request.Headers[RequestIdHeader].ToString();
        if (sent.Length is > 0 and <= 128 && sent.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
        {
            return sent;
        }

        return "req_" + http.TraceIdentifier.Replace(':', '_');
    }

    private static async Task<string?> ReadRequestBodyAsync(HttpContext http)
    {
        try
        {
            var body = http.Request.Body;
            if (!body.CanSeek)
            {
                return null;
            }

            body.Position = 0;
            var buffer = new byte[CaptureLimit];
            var n = 0;
            int read;
            while (n < buffer.Length && (read = await body.ReadAsync(buffer.AsMemory(n))) > 0)
            {
                n += read;
            }

            return Encoding.UTF8.GetString(buffer, 0, n);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or BadHttpRequestException or OperationCanceledException)
        {
            return null;
        }
    }

    [LoggerMessage(EventId = 1101, Message = "{Method} {Path} {Status} {DurationMs:0} ms id={RequestId}")]
    private partial void LogRequest(LogLevel level, string method, string path, int status, double durationMs, string requestId);

    [LoggerMessage(EventId = 1102, Message = "{Method} {Path} {Status} {DurationMs:0} ms model={Model} prompt={PromptTokens} completion={CompletionTokens} cached={CachedTokens} ttft={TtftMs:0.0} ms tpot={TpotMs:0.00} ms id={RequestId}")]
    private partial void LogCompletion(LogLevel level, string method, string path, int status, double durationMs, string model, int? promptTokens, int? completionTokens, int? cachedTokens, double? ttftMs, double? tpotMs, string requestId);

    [LoggerMessage(EventId = 1103, Message = "{Method} {Path} {Status} {DurationMs:0} ms model={Model} prompt={PromptTokens} completion={CompletionTokens} cached={CachedTokens} ttft={TtftMs:0.0} ms tpot={TpotMs:0.00} ms id={RequestId} request={RequestBody} response={ResponseBody}")]
    private partial void LogCompletionWithText(LogLevel level, string method, string path, int status, double durationMs, string model, int? promptTokens, int? completionTokens, int? cachedTokens, double? ttftMs, double? tpotMs, string requestId, string? requestBody, string? responseBody);

    /// <summary>Tees the first bytes of the response (only with Youtu:LogPrompts).</summary>
    private sealed class ResponseCapture : Stream
    {
        private readonly HttpContext http;
        private readonly IHttpResponseBodyFeature prior;
        private readonly StreamResponseBodyFeature feature;
        private readonly MemoryStream copy = new();

        private ResponseCapture(HttpContext http)
        {
            this.http = http;
            prior = http.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
            feature = new StreamResponseBodyFeature(this, prior);
        }

        public static ResponseCapture Install(HttpContext http)
        {
            var c = new ResponseCapture(http);
            http.Features.Set<IHttpResponseBodyFeature>(c.feature);
            return c;
        }

        public async Task<string> UninstallAsync()
        {
            try
            {
                await feature.CompleteAsync();
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
            {
                // The client went away; what was captured is still worth logging.
            }

            http.Features.Set(prior);
            return Encoding.UTF8.GetString(copy.GetBuffer(), 0, (int)copy.Length);
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() => prior.Stream.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => prior.Stream.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            Keep(buffer.AsSpan(offset, count));
            prior.Stream.Write(buffer, offset, count);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Keep(buffer.Span);
            await prior.Stream.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private void Keep(ReadOnlySpan<byte> bytes)
        {
            var room = CaptureLimit - (int)copy.Length;
            if (room > 0)
            {
                copy.Write(bytes[..Math.Min(room, bytes.Length)]);
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                copy.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
