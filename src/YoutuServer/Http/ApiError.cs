namespace YoutuServer.Http;

/// <summary>
/// An HTTP error in no wire format's shape: status, OpenAI-style type and code (the richest vocabulary of the
/// three), the field it is about and an optional Retry-After. Thrown inside handlers and middleware; written by
/// <see cref="ErrorWriter"/> in the shape of the wire format the request came through (<see cref="IErrorShape"/>).
/// </summary>
internal sealed class ApiException : Exception
{
    public ApiException(int status, string message, string type = "invalid_request_error", string? param = null, string? code = null, int? retryAfterSeconds = null)
        : base(message)
    {
        Status = status;
        Type = type;
        Param = param;
        Code = code;
        RetryAfterSeconds = retryAfterSeconds;
    }

    public ApiException() : this(500, "internal error") { }
    public ApiException(string message) : this(400, message) { }
    public ApiException(string message, Exception inner) : base(message, inner)
    {
        Status = 400;
        Type = "invalid_request_error";
    }

    public int Status { get; }
    public string Type { get; }
    public string? Param { get; }
    public string? Code { get; }
    public int? RetryAfterSeconds { get; }

    public static ApiException BadRequest(string message, string? param = null, string? code = null) => new(400, message, "invalid_request_error", param, code);
}

/// <summary>Writes an <see cref="ApiException"/> as one wire format's error body (status, headers, JSON).</summary>
internal interface IErrorShape
{
    Task WriteAsync(HttpContext http, ApiException error);

    /// <summary>The same error as one server-sent event, for failures after a stream began.</summary>
    ValueTask WriteEventAsync(Sse.SseWriter sse, ApiException error, CancellationToken cancellationToken);
}

/// <summary>
/// Which error shape a request gets: the one its endpoint carries as metadata (each wire format puts its own on its
/// routes), else the default (OpenAI's). Middleware (keys, limits, body size) runs after routing and writes through it;
/// the exception handler's re-execution looks at the endpoint that failed.
/// </summary>
internal sealed class ErrorShapes(IErrorShape fallback)
{
    public IErrorShape For(HttpContext http)
    {
        var endpoint = http.GetEndpoint()
            ?? http.Features.Get<Microsoft.AspNetCore.Diagnostics.IExceptionHandlerPathFeature>()?.Endpoint;
        return endpoint?.Metadata.GetMetadata<IErrorShape>() ?? fallback;
    }
}

internal static class ErrorWriter
{
    public static Task WriteAsync(HttpContext http, ApiException e)
    {
        if (http.Response.HasStarted)
        {
            return Task.CompletedTask;
        }

        var shapes = http.RequestServices.GetRequiredService<ErrorShapes>();
        return shapes.For(http).WriteAsync(http, e);
    }

    /// <summary>Sets the status and Retry-After; shapes call this before writing their body.</summary>
    public static void Begin(HttpContext http, ApiException e, int? status = null)
    {
        http.Response.StatusCode = status ?? e.Status;
        if (e.RetryAfterSeconds is { } s)
        {
            http.Response.Headers.RetryAfter = s.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        http.Response.ContentType = "application/json";
    }

    public static IResult Result(ApiException e) => new ApiErrorResult(e);

    private sealed class ApiErrorResult(ApiException e) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext) => WriteAsync(httpContext, e);
    }
}
