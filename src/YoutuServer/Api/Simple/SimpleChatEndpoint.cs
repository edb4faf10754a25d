using System.Text.Json;
using YoutuServer.Api.OpenAI;
using YoutuServer.Api.OpenAI.Chat;
using YoutuServer.Api.OpenAI.Dtos;
using YoutuServer.Chat.Messages;
using YoutuServer.Generation;
using YoutuServer.Hosting;
using YoutuServer.Http;
using YoutuServer.Operations;

namespace YoutuServer.Api.Simple;

/// <summary>
/// POST /chat: `{"prompt", "max_tokens"?, "enable_thinking"?}` → `{"response", "reasoning"?, "finish_reason", "usage"}`.
/// </summary>
/// <remarks>
/// The body becomes a one-message intent and goes through the same planner and result stream as every other
/// wire format, so validation, thinking defaults, limits and errors are the same; errors name this body's fields
/// ("prompt", "max_tokens") in OpenAI's error shape.
/// </remarks>
internal static class SimpleChatEndpoint
{
    private static readonly FieldNamer Names = (field, index) => field switch
    {
        IntentField.Messages or IntentField.Prompt => "prompt",
        _ => OpenAIErrors.Common(field, index),
    };

    public static void Map(WebApplication app)
    {
        app.MapPost("/chat", SimpleChatEndpoint.HandleAsync)
            .WithName("SimpleChat")
            .WithTags("Simple chat")
            .WithSummary("One prompt in, one answer out (no streaming, no OpenAI client needed).")
            .WithDescription(
                "A single user message to the served model. `prompt` is required; `max_tokens` (>= 1) defaults to the " +
                "server's default; `enable_thinking` switches Youtu's thinking mode (server default when omitted). " +
                "The answer comes back in `response`, the model's reasoning (thinking mode) in `reasoning`. Validation " +
                "and errors are those of /v1/chat/completions: OpenAI-shaped `{\"error\":{message,type,param,code}}`, " +
                "400 with `param` naming the field, `context_length_exceeded` when prompt plus max_tokens exceed the context.")
            .Accepts<SimpleChatRequest>("application/json")
            .Produces<SimpleChatResponse>(StatusCodes.Status200OK, "application/json")
            .Produces<ErrorResponse>(StatusCodes.Status400BadRequest, "application/json")
            .Produces<ErrorResponse>(StatusCodes.Status401Unauthorized, "application/json")
            .Produces<ErrorResponse>(StatusCodes.Status413PayloadTooLarge, "application/json")
            .Produces<ErrorResponse>(StatusCodes.Status429TooManyRequests, "application/json")
            .Produces<ErrorResponse>(StatusCodes.Status500InternalServerError, "application/json")
            .Produces<ErrorResponse>(StatusCodes.Status503ServiceUnavailable, "application/json");

        // Accepts() makes routing match /chat only for JSON bodies; any other content type would fall through to
        // the JSON 404 fallback. This twin (same handler, lower priority, undocumented) answers those requests,
        // and the handler's body reader turns them into the API's usual 400.
        app.MapPost("/chat", SimpleChatEndpoint.HandleAsync)
            .WithOrder(1)
            .ExcludeFromDescription();
    }

    public static async Task HandleAsync(HttpContext http, EngineHost host, GenerationPlanner planner, RequestTelemetry telemetry)
    {
        var body = await RequestBody.ReadAsync(http, SimpleJsonContext.Default.SimpleChatRequest);
        if (body.Prompt is null)
        {
            throw ApiException.BadRequest("'prompt' is required.", "prompt");
        }

        if (string.IsNullOrWhiteSpace(body.Prompt))
        {
            throw ApiException.BadRequest("'prompt' must not be empty.", "prompt");
        }

        GenerationRun run;
        try
        {
            var plan = planner.Plan(new GenerationIntent
            {
                Messages = [new ChatMessage(ChatRoles.User, body.Prompt)],
                MaxTokens = body.MaxTokens,
                Thinking = new ThinkingIntent(body.EnableThinking),
            });
            telemetry.Begin(http, host.ServedModelId, plan.PromptTokens, stream: false);
            run = GenerationRun.Start(host.Engine, plan, http.RequestAborted, telemetry);
        }
        catch (IntentException e)
        {
            throw OpenAIErrors.ToApi(e, Names);
        }

        await run.CompleteAsync(http.RequestAborted);
        if (run.Error is { } error)
        {
            throw OpenAIErrors.GenerationFailed(error);
        }

        var choice = run.Choices[0];
        var usage = run.Usage;
        var response = new SimpleChatResponse
        {
            Response = choice.Output.Content ?? "",
            Reasoning = choice.Output.Reasoning,
            FinishReason = ChatCompletionsEndpoint.FinishReason(choice),
            Usage = new SimpleChatUsage { PromptTokens = usage.PromptTokens, CompletionTokens = usage.CompletionTokens, TotalTokens = usage.TotalTokens },
        };
        telemetry.End(http, 200, usage);
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, response, SimpleJsonContext.Default.SimpleChatResponse, http.RequestAborted);
    }
}
