using System.Text.Json;
using YoutuServer.Generation;
using YoutuServer.Http;
using YoutuServer.Http.Sse;

namespace YoutuServer.Api.Common;

/// <summary>OpenAI's error body: <c>{"error":{"message","type","param","code"}}</c>.</summary>
internal sealed class OpenAIErrorShape : IErrorShape
{
    public static OpenAIErrorShape Instance { get; } = new();

    public static ErrorResponse Body(ApiException e) => new() { Error = new ErrorBody { Message = e.Message, Type = e.Type, Param = e.Param, Code = e.Code } };

    public Task WriteAsync(HttpContext http, ApiException error)
    {
        ErrorWriter.Begin(http, error);
        return JsonSerializer.SerializeAsync(http.Response.Body, Body(error), OpenAIJsonContext.Wire.ErrorResponse, http.RequestAborted);
    }

    public ValueTask WriteEventAsync(SseWriter sse, ApiException error, CancellationToken cancellationToken) =>
        sse.WriteAsync(Body(error), OpenAIJsonContext.Wire.ErrorResponse, flush: false, cancellationToken);
}

/// <summary>The OpenAI names of the intent's fields, and intent failures as OpenAI errors.</summary>
internal static class OpenAIErrors
{
    /// <summary>Chat Completions' names; <paramref name="maxTokensName"/> is whichever of max_tokens / max_completion_tokens the client sent.</summary>
    /// <summary>Documents OpenAI-shaped error bodies for the given statuses.</summary>
    public static RouteHandlerBuilder WithOpenAIErrors(this RouteHandlerBuilder builder, params int[] statuses)
    {
        ArgumentNullException.ThrowIfNull(builder);
        foreach (var s in statuses)
        {
            builder.Produces<ErrorResponse>(s, "application/json");
        }

        return builder;
    }
}
