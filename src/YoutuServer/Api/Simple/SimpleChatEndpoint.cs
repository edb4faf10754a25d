using System.Text.Json;
using YoutuServer.Api.Common;
using System.Text.Json.Serialization.Metadata;
using YoutuServer.Api.Serving;
using YoutuServer.Chat.Messages;
using YoutuServer.Generation;
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
internal sealed class SimpleChatEndpoint : GenerationAdapter<SimpleChatRequest>
{
    private static readonly GenerationOperation Span = new("chat", "chat");

    public override JsonTypeInfo<SimpleChatRequest> RequestType => SimpleJsonContext.Default.SimpleChatRequest;
    public override GenerationOperation Operation => Span;
    public override IErrorShape ErrorShape => OpenAIErrorShape.Instance;

    public override FieldNamer Names { get; } = (field, index) => field switch
    {
        IntentField.Messages or IntentField.Prompt => "prompt",
        _ => FieldNames.SnakeCase(field, index),
    };

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGeneration("/chat", new SimpleChatEndpoint())
            .WithName("SimpleChat")
            .WithTags("Simple chat")
            .WithSummary("One prompt in, one answer out (no streaming, no OpenAI client needed).")
            .WithDescription(
                "A single user message to the served model. `prompt` is required; `max_tokens` (>= 1) defaults to the " +
                "server's default; `enable_thinking` switches Youtu's thinking mode (server default when omitted). " +
                "The answer comes back in `response`, the model's reasoning (thinking mode) in `reasoning`. Validation " +
                "and errors are those of /v1/chat/completions: OpenAI-shaped `{\"error\":{message,type,param,code}}`, " +
                "400 with `param` naming the field, `context_length_exceeded` when prompt plus max_tokens exceed the context.")
            .Produces<SimpleChatResponse>(StatusCodes.Status200OK, "application/json")
            .WithOpenAIErrors(400, 401, 413, 429, 500, 503);

    public override string? Model(SimpleChatRequest request) => null;

    public override ValueTask<GenerationCall> PrepareAsync(GenerationContext context, SimpleChatRequest request)
    {
        if (request.Prompt is null)
        {
            throw ApiException.BadRequest("'prompt' is required.", "prompt");
        }

        if (string.IsNullOrWhiteSpace(request.Prompt))
        {
            throw ApiException.BadRequest("'prompt' must not be empty.", "prompt");
        }

        var intent = new GenerationIntent
        {
            Messages = [new ChatMessage(ChatRoles.User, request.Prompt)],
            MaxTokens = request.MaxTokens,
            Thinking = new ThinkingIntent(request.EnableThinking),
        };
        return ValueTask.FromResult(new GenerationCall(intent, Stream: false, new SimpleResultWriter()));
    }

    private static string FinishReason(ChoiceOutput c) => c.Finish switch
    {
        ChoiceFinish.Length => "length",
        ChoiceFinish.ToolCalls => "tool_calls",
        _ => "stop",
    };

    /// <summary>One JSON body: the answer, its reasoning, why it ended and the token counts.</summary>
    private sealed class SimpleResultWriter() : ResultWriter(stream: false)
    {
        public override ValueTask CompleteAsync(GenerationRun run, IResultSink sink, CancellationToken cancellationToken)
        {
            var choice = run.Choices[0];
            var usage = run.Usage;
            return sink.WriteBodyAsync(new SimpleChatResponse
            {
                Response = choice.Output.Content ?? "",
                Reasoning = choice.Output.Reasoning,
                FinishReason = FinishReason(choice),
                Usage = new SimpleChatUsage { PromptTokens = usage.PromptTokens, CompletionTokens = usage.CompletionTokens, TotalTokens = usage.TotalTokens },
            }, SimpleJsonContext.Default.SimpleChatResponse, cancellationToken);
        }

        public override ValueTask FailAsync(GenerationRun run, ApiException error, IResultSink sink, CancellationToken cancellationToken) =>
            throw error; // never streams: the lifecycle answers failures with a status
    }
}
