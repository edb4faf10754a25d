using System.Text.Json;
using YoutuServer.Api.Dtos;

namespace YoutuServer.Api;

/// <summary>An OpenAI-shaped error with its HTTP status. Thrown inside handlers, written by ErrorWriter.</summary>
public sealed class ApiException : Exception
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

    public ErrorResponse ToBody() => new() { Error = new ErrorBody { Message = Message, Type = Type, Param = Param, Code = Code } };
}

public static class ErrorWriter
{
    public static async Task WriteAsync(HttpContext http, ApiException e)
    {
        if (http.Response.HasStarted)
        {
            return;
        }

        http.Response.StatusCode = e.Status;
        if (e.RetryAfterSeconds is { } s)
        {
            http.Response.Headers.RetryAfter = s.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, e.ToBody(), ApiJsonContext.Wire.ErrorResponse, http.RequestAborted);
    }

    public static IResult Result(ApiException e) => new ApiErrorResult(e);

    private sealed class ApiErrorResult(ApiException e) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext) => WriteAsync(httpContext, e);
    }
}
