using System.Text.Json;
using YoutuServer.Api.OpenAI.Dtos;
using YoutuServer.Generation;
using YoutuServer.Http;
using YoutuServer.Http.Sse;

namespace YoutuServer.Api.OpenAI;

/// <summary>OpenAI's error body: <c>{"error":{"message","type","param","code"}}</c>.</summary>
internal sealed class OpenAIErrorShape : IErrorShape
{
    public static OpenAIErrorShape Instance { get; } = new();

    public static ErrorResponse Body(ApiException e) => new() { Error = new ErrorBody { Message = e.Message, Type = e.Type, Param = e.Param, Code = e.Code } };

    public Task WriteAsync(HttpContext http, ApiException error)
    {
        ErrorWriter.Begin(http, error);
        return JsonSerializer.SerializeAsync(http.Response.Body, Body(error), ApiJsonContext.Wire.ErrorResponse, http.RequestAborted);
    }

    public ValueTask WriteEventAsync(SseWriter sse, ApiException error, CancellationToken cancellationToken) =>
        sse.WriteAsync(Body(error), ApiJsonContext.Wire.ErrorResponse, flush: false, cancellationToken);
}

/// <summary>The OpenAI names of the intent's fields, and intent failures as OpenAI errors.</summary>
internal static class OpenAIErrors
{
    /// <summary>Chat Completions' names; <paramref name="maxTokensName"/> is whichever of max_tokens / max_completion_tokens the client sent.</summary>
    public static FieldNamer ChatFields(string maxTokensName = "max_tokens") => (field, index) => field switch
    {
        IntentField.MaxTokens => maxTokensName,
        IntentField.Prompt => "messages",
        IntentField.Output => "response_format",
        IntentField.ToolName => $"tools[{index}].function.name",
        IntentField.ToolParameters => $"tools[{index}].function.parameters",
        _ => Common(field, index),
    };

    /// <summary>Legacy completions' names.</summary>
    public static FieldNamer CompletionFields { get; } = (field, index) => field switch
    {
        IntentField.Prompt => index is { } i ? $"prompt[{i}]" : "prompt",
        _ => Common(field, index),
    };

    internal static string Common(IntentField field, int? index) => field switch
    {
        IntentField.Model => "model",
        IntentField.Messages => "messages",
        IntentField.Prompt => "prompt",
        IntentField.Tools => "tools",
        IntentField.ToolName => $"tools[{index}].name",
        IntentField.ToolParameters => $"tools[{index}].parameters",
        IntentField.ToolChoice => "tool_choice",
        IntentField.Output => "response_format",
        IntentField.Temperature => "temperature",
        IntentField.TopP => "top_p",
        IntentField.TopK => "top_k",
        IntentField.MinP => "min_p",
        IntentField.PresencePenalty => "presence_penalty",
        IntentField.FrequencyPenalty => "frequency_penalty",
        IntentField.RepetitionPenalty => "repetition_penalty",
        IntentField.LogitBias => "logit_bias",
        IntentField.Stop => "stop",
        IntentField.N => "n",
        IntentField.MaxTokens => "max_tokens",
        IntentField.MinTokens => "min_tokens",
        IntentField.Logprobs => "logprobs",
        IntentField.TopLogprobs => "top_logprobs",
        IntentField.ReasoningBudget => "reasoning_budget",
        IntentField.CacheSalt => "cache_salt",
        _ => "",
    };

    /// <summary>A generation that failed inside the engine (a 500: never the client's mistake).</summary>
    public static ApiException GenerationFailed(string error) => new(500, "Generation failed: " + error, "server_error", null, "generation_failed");

    /// <summary>An intent failure as an OpenAI error, its param named with <paramref name="names"/>.</summary>
    public static ApiException ToApi(IntentException e, FieldNamer names)
    {
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
}
