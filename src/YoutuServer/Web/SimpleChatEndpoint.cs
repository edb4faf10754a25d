using System.Text.Json;
using YoutuServer.Api;
using YoutuServer.Api.Chat;
using YoutuServer.Api.Dtos;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Hosting;

namespace YoutuServer.Web;

/// <summary>
/// POST /chat: `{"prompt", "max_tokens"?, "enable_thinking"?}` → `{"response", "reasoning"?, "finish_reason", "usage"}`.
/// </summary>
/// <remarks>
/// The body becomes a one-message <see cref="ChatCompletionRequest"/> and goes through the same planner, engine
/// submission and output parser as a non-streaming /v1/chat/completions call, so validation, thinking defaults,
/// limits and errors are the API's own. Errors the planner reports against the message ("messages",
/// "messages[0].content") are reported against "prompt", the field the caller actually sent.
/// </remarks>
internal static class SimpleChatEndpoint
{
    public static async Task HandleAsync(HttpContext http, EngineHost host, ChatRequestPlanner planner, RequestTelemetry telemetry)
    {
        var body = await RequestBody.ReadAsync(http, WebJsonContext.Default.SimpleChatRequest);
        if (body.Prompt is null)
        {
            throw ApiException.BadRequest("'prompt' is required.", "prompt");
        }

        if (string.IsNullOrWhiteSpace(body.Prompt))
        {
            throw ApiException.BadRequest("'prompt' must not be empty.", "prompt");
        }

        var request = new ChatCompletionRequest
        {
            Messages =
            [
                new ChatMessageDto { Role = "user", Content = JsonSerializer.SerializeToElement(body.Prompt, ApiJsonContext.Wire.String) },
            ],
            MaxTokens = body.MaxTokens,
            EnableThinking = body.EnableThinking,
        };

        ChatPlan plan;
        GenerationHandle handle;
        try
        {
            plan = planner.Plan(request);
            telemetry.Begin(http, host.ServedModelId, plan.Generation.Prompt.Count, stream: false);
            handle = EngineErrors.Submit(host.Engine, plan.Generation, http.RequestAborted);
        }
        catch (ApiException e) when (e.Param is not null && (e.Param == "messages" || e.Param.StartsWith("messages[0]", StringComparison.Ordinal)))
        {
            throw new ApiException(e.Status, e.Message.Replace("the messages", "the prompt", StringComparison.Ordinal), e.Type, "prompt", e.Code, e.RetryAfterSeconds);
        }

        var choice = new ChoiceState(0, plan.Parser, logprobs: false, host.Engine);
        GenerationUsage? usage = null;
        await foreach (var e in handle.ReadAllAsync(http.RequestAborted))
        {
            switch (e)
            {
                case TokenEvent t:
                    telemetry.Token();
                    choice.OnToken(t, null);
                    break;
                case ChoiceFinishedEvent f:
                    choice.OnFinished(f, null);
                    break;
                case RequestCompletedEvent c:
                    usage = c.Usage;
                    break;
            }
        }

        if (choice.Error is not null)
        {
            throw new ApiException(500, "Generation failed: " + choice.Error, "server_error", null, "generation_failed");
        }

        var full = ChatCompletionsEndpoint.BuildUsage(usage, [choice]);
        var message = choice.ToChoice().Message;
        var response = new SimpleChatResponse
        {
            Response = message.Content ?? "",
            Reasoning = message.ReasoningContent,
            FinishReason = choice.FinishReason,
            Usage = new SimpleChatUsage { PromptTokens = full.PromptTokens, CompletionTokens = full.CompletionTokens, TotalTokens = full.TotalTokens },
        };
        telemetry.End(http, 200, full);
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, response, WebJsonContext.Default.SimpleChatResponse, http.RequestAborted);
    }
}
