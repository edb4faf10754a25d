using System.Text.Json;
using YoutuServer.Api.Common;
using YoutuServer.Generation;
using YoutuServer.Http;
using YoutuServer.Http.Sse;

namespace YoutuServer.Api.Messages;

/// <summary>
/// Anthropic's error shape, <c>{"type":"error","error":{"type","message"},"request_id"}</c>, with its types and
/// statuses: 400 invalid_request_error, 401 authentication_error, 403 permission_error, 404 not_found_error,
/// 413 request_too_large, 429 rate_limit_error (Retry-After kept), 500 api_error, 529 overloaded_error (a full queue;
/// a draining server keeps its 503 with the same type). Middleware errors (keys, limits, body size) come here too.
/// </summary>
internal sealed class AnthropicErrorShape : IErrorShape
{
    public static AnthropicErrorShape Instance { get; } = new();

    /// <summary>Anthropic's status for an error (a full queue is 529, not 429).</summary>
    public static int Status(ApiException e) => e.Code == "queue_full" ? 529 : e.Status;

    public static string Type(ApiException e) => Status(e) switch
    {
        529 or 503 => "overloaded_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        >= 500 => "api_error",
        _ => "invalid_request_error",
    };

    public static AnthropicErrorResponse Body(ApiException e, string? requestId) => new()
    {
        Error = new AnthropicErrorBody { Type = Type(e), Message = e.Message },
        RequestId = requestId,
    };

    public Task WriteAsync(HttpContext http, ApiException error)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(error);
        ErrorWriter.Begin(http, error, Status(error));
        return JsonSerializer.SerializeAsync(http.Response.Body, Body(error, RequestId(http)), AnthropicJsonContext.Wire.AnthropicErrorResponse, http.RequestAborted);
    }

    public ValueTask WriteEventAsync(SseWriter sse, ApiException error, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sse);
        ArgumentNullException.ThrowIfNull(error);
        return sse.WriteEventAsync("error", Body(error, null), AnthropicJsonContext.Wire.AnthropicErrorResponse, flush: true, cancellationToken);
    }

    private static string? RequestId(HttpContext http) =>
        http.Response.Headers[Operations.RequestObserver.RequestIdHeader].ToString() is { Length: > 0 } id ? id : null;
}

/// <summary>The Messages API's names of the intent's fields (max_tokens, messages.3.content, tools.2.name).</summary>
internal static class AnthropicFields
{
    /// <summary>Field names; <paramref name="toolIndex"/> maps an intent tool's index to its place in the request's tools (server tools are skipped).</summary>
    public static FieldNamer Names(IReadOnlyList<int>? toolIndex = null) => (field, index) =>
    {
        var tool = index is { } i && toolIndex is not null && i >= 0 && i < toolIndex.Count ? toolIndex[i] : index;
        return field switch
        {
            IntentField.Model => "model",
            IntentField.Messages or IntentField.Prompt => "messages",
            IntentField.Tools => "tools",
            IntentField.ToolName => $"tools.{tool}.name",
            IntentField.ToolParameters => $"tools.{tool}.input_schema",
            IntentField.ToolChoice => "tool_choice",
            IntentField.Output => "output_config.format",
            IntentField.Temperature => "temperature",
            IntentField.TopP => "top_p",
            IntentField.TopK => "top_k",
            IntentField.Stop => "stop_sequences",
            IntentField.MaxTokens => "max_tokens",
            IntentField.ReasoningBudget => "thinking.budget_tokens",
            _ => FieldNames.SnakeCase(field, index),
        };
    };
}

/// <summary>OpenAPI documentation of Anthropic-shaped errors.</summary>
internal static class AnthropicRoutes
{
    public static RouteHandlerBuilder WithAnthropicErrors(this RouteHandlerBuilder builder, params int[] statuses)
    {
        foreach (var s in statuses)
        {
            builder.Produces<AnthropicErrorResponse>(s, "application/json");
        }

        return builder;
    }
}
