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
/// Which error shape a request gets: the one registered for the longest matching path prefix, else the default
/// (OpenAI's). Each wire format registers its own at start-up; middleware (keys, limits, body size) writes through it.
/// </summary>
internal sealed class ErrorShapes(IErrorShape fallback)
{
    private readonly List<(PathString Prefix, IErrorShape Shape)> shapes = [];

    public ErrorShapes Register(PathString prefix, IErrorShape shape)
    {
        shapes.Add((prefix, shape));
        shapes.Sort((a, b) => b.Prefix.Value!.Length.CompareTo(a.Prefix.Value!.Length));
        return this;
    }

    public IErrorShape For(HttpContext http)
    {
        foreach (var (prefix, shape) in shapes)
        {
            if (http.Request.Path.StartsWithSegments(prefix, StringComparison.OrdinalIgnoreCase))
            {
                return shape;
            }
        }

        return fallback;
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
