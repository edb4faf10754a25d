using System.Text.Json;
using YoutuServer.Api.Common;
using YoutuServer.Chat.Parsing;
using YoutuServer.Generation;
using YoutuServer.Hosting;
using YoutuServer.Http;
using System.Text.Json.Serialization.Metadata;
using YoutuServer.Api.Serving;
using YoutuServer.Operations;

namespace YoutuServer.Api.ChatCompletions;

/// <summary>
/// POST /v1/chat/completions (and POST /apply-template, the prompt a chat request renders to): the OpenAI request
/// mapped to an intent (<see cref="ChatRequestMapper"/>); the result stream written as one JSON body or as chunks.
/// </summary>
internal sealed class ChatCompletionsEndpoint : GenerationAdapter<ChatCompletionRequest>
{
    private static readonly GenerationOperation Span = new("chat.completions", "chat");

    public override JsonTypeInfo<ChatCompletionRequest> RequestType => ChatJsonContext.Wire.ChatCompletionRequest;
    public override GenerationOperation Operation => Span;
    public override IErrorShape ErrorShape => OpenAIErrorShape.Instance;
    public override FieldNamer Names { get; } = ChatRequestMapper.Fields();

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGeneration("/v1/chat/completions", new ChatCompletionsEndpoint()).WithName("CreateChatCompletion")
            .WithSummary("Chat completion (JSON, or SSE with stream=true)")
            .WithDescription("Youtu chat template, thinking (reasoning_content), Hermes tool calls (tool_calls), grammar-enforced tool_choice and response_format. " +
                "With stream=true the response is text/event-stream: `data: {chat.completion.chunk}` events, an optional usage chunk, then `data: [DONE]`.")
            .Produces<ChatCompletionResponse>(200, "application/json", "text/event-stream")
            .WithOpenAIErrors(400, 401, 404, 413, 429, 503);
        app.MapPost("/apply-template", ApplyTemplateAsync).WithName("ApplyTemplate").WithSummary("The exact prompt a chat request renders to")
            .Accepts<ChatCompletionRequest>("application/json").Produces<ApplyTemplateResponse>(200).WithOpenAIErrors(400);
        app.MapPost("/apply-template", ApplyTemplateAsync).WithOrder(1).ExcludeFromDescription();
    }

    public override string? Model(ChatCompletionRequest request) => request.Model;

    public override ValueTask<GenerationCall> PrepareAsync(GenerationContext context, ChatCompletionRequest request)
    {
        var stream = request.Stream ?? false;
        var writer = new ChatResultWriter(stream, request.StreamOptions?.IncludeUsage ?? false);
        return ValueTask.FromResult(new GenerationCall(ChatRequestMapper.ToIntent(request), stream, writer) { Names = ChatRequestMapper.Names(request) });
    }

    private static async Task<IResult> ApplyTemplateAsync(HttpContext http, EngineHost host, GenerationPlanner planner)
    {
        var r = await RequestBody.ReadAsync(http, ChatJsonContext.Wire.ChatCompletionRequest);
        try
        {
            ModelResolver.Check(host, r.Model);
            var plan = await planner.PlanAsync(ChatRequestMapper.ToIntent(r) with { Tenant = http.Tenant() }, http.RequestAborted);
            return WireJson.Result(new ApplyTemplateResponse { Prompt = plan.Prompt ?? "" }, ChatJsonContext.Wire.ApplyTemplateResponse);
        }
        catch (IntentException e)
        {
            throw IntentErrors.ToApi(e, ChatRequestMapper.Names(r));
        }
    }

    /// <summary>The result as one chat.completion, or as chat.completion.chunk events (role first, then deltas, finish, usage, [DONE]).</summary>
    private sealed class ChatResultWriter(bool stream, bool includeUsage) : ResultWriter(stream)
    {
        private readonly string id = Ids.Chat();
        private readonly long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        private ChunkWriter? chunks;

        public override async ValueTask StartAsync(GenerationRun run, IResultSink sink, CancellationToken cancellationToken)
        {
            if (!Stream)
            {
                return;
            }

            chunks = new ChunkWriter(sink, new ChatCompletionChunk { Id = id, Created = created, Model = run.Plan.ModelId, SystemFingerprint = Ids.Fingerprint }, cancellationToken);
            // The role chunk goes out at once: the client sees the request accepted even while it waits in the queue.
            foreach (var c in run.Choices)
            {
                await chunks.WriteAsync(c.Index, new ChunkDelta { Role = "assistant", Content = "" }, null, null);
            }
        }

        public override async ValueTask OnResultAsync(GenerationRun run, ResultEvent r, IResultSink sink, CancellationToken cancellationToken)
        {
            if (chunks is null)
            {
                return;
            }

            switch (r.Kind)
            {
                case ResultKind.Output:
                    chunks.Enqueue(r.Choice, Delta(r.Output), r.Logprob is { } lp ? Logprobs([lp]) : null);
                    break;
                case ResultKind.Logprobs:
                    chunks.Enqueue(r.Choice, new ChunkDelta { Content = "" }, Logprobs([r.Logprob!]));
                    break;
                case ResultKind.ChoiceFinished:
                    var choice = run.Choices[r.Choice];
                    if (choice.Error is null)
                    {
                        await chunks.WriteAsync(r.Choice, new ChunkDelta(), null, FinishReason(choice));
                    }

                    break;
                case ResultKind.Flush:
                    await chunks.DrainAsync();
                    break;
            }
        }

        public override async ValueTask CompleteAsync(GenerationRun run, IResultSink sink, CancellationToken cancellationToken)
        {
            var usage = run.Usage;
            if (!Stream)
            {
                await sink.WriteBodyAsync(new ChatCompletionResponse
                {
                    Id = id,
                    Created = created,
                    Model = run.Plan.ModelId,
                    SystemFingerprint = Ids.Fingerprint,
                    Choices = run.Choices.Select(ToChoice).ToList(),
                    Usage = ToUsage(usage),
                    Timings = TimingsDto.From(usage),
                }, ChatJsonContext.Wire.ChatCompletionResponse, cancellationToken);
                return;
            }

            await chunks!.DrainAsync();
            if (includeUsage)
            {
                var u = new ChatCompletionChunk { Id = id, Created = created, Model = run.Plan.ModelId, SystemFingerprint = Ids.Fingerprint, Choices = [], Usage = ToUsage(usage), Timings = TimingsDto.From(usage) };
                await sink.WriteEventAsync(null, u, ChatJsonContext.Wire.ChatCompletionChunk, cancellationToken);
            }

            await sink.WriteDoneAsync(cancellationToken);
        }

        public override async ValueTask FailAsync(GenerationRun run, ApiException error, IResultSink sink, CancellationToken cancellationToken)
        {
            if (chunks is not null)
            {
                await chunks.DrainAsync();
            }

            await sink.WriteEventAsync(null, OpenAIErrorShape.Body(error), OpenAIJsonContext.Wire.ErrorResponse, cancellationToken);
            await sink.WriteDoneAsync(cancellationToken);
        }
    }

    internal static string FinishReason(ChoiceOutput c) => c.Finish switch
    {
        ChoiceFinish.Length => "length",
        ChoiceFinish.ToolCalls => "tool_calls",
        _ => "stop",
    };

    internal static UsageDto ToUsage(UsageRecord usage) => new()
    {
        PromptTokens = usage.PromptTokens,
        CompletionTokens = usage.CompletionTokens,
        TotalTokens = usage.TotalTokens,
        PromptTokensDetails = new PromptTokensDetails { CachedTokens = usage.CachedTokens },
        CompletionTokensDetails = new CompletionTokensDetails { ReasoningTokens = usage.ReasoningTokens },
    };

    private static ChunkDelta Delta(OutputEvent e) => e.Kind switch
    {
        OutputEventKind.ContentDelta => new ChunkDelta { Content = e.Text },
        OutputEventKind.ReasoningDelta => new ChunkDelta { ReasoningContent = e.Text, Reasoning = e.Text },
        OutputEventKind.ToolCallStart => new ChunkDelta
        {
            ToolCalls = [new ToolCallOut { Index = e.ToolCallIndex, Id = e.ToolCallId, Type = "function", Function = new FunctionOut { Name = e.ToolCallName, Arguments = "" } }],
        },
        _ => new ChunkDelta { ToolCalls = [new ToolCallOut { Index = e.ToolCallIndex, Function = new FunctionOut { Arguments = e.Text } }] },
    };

    private static LogprobsDto Logprobs(IEnumerable<LogprobEntry> entries) => new()
    {
        Content = entries.Select(e => new TokenLogprobDto
        {
            Token = e.Token,
            Logprob = e.Logprob,
            Bytes = [.. e.Bytes.Select(b => (int)b)],
            TopLogprobs = e.Top.Select(a => new TopLogprobDto { Token = a.Token, Logprob = a.Logprob, Bytes = [.. a.Bytes.Select(b => (int)b)] }).ToList(),
        }).ToList(),
    };

    private static ChatChoice ToChoice(ChoiceOutput c)
    {
        var built = c.Output;
        var message = new ResponseMessage
        {
            Content = built.Content ?? (built.ToolCalls.Count > 0 ? null : ""),
            ReasoningContent = built.Reasoning,
            Reasoning = built.Reasoning,
            ToolCalls = built.ToolCalls.Count == 0 ? null : built.ToolCalls.Select(call => new ToolCallOut
            {
                Id = call.Id,
                Type = "function",
                Function = new FunctionOut { Name = call.Name, Arguments = call.Arguments },
            }).ToList(),
        };
        return new ChatChoice
        {
            Index = c.Index,
            Message = message,
            FinishReason = FinishReason(c),
            Logprobs = c.Logprobs is { } lps ? Logprobs(lps) : null,
        };
    }

    /// <summary>Reuses one chunk object per stream; queued writes go out together.</summary>
    private sealed class ChunkWriter(IResultSink sink, ChatCompletionChunk chunk, CancellationToken ct)
    {
        private readonly List<(int Index, ChunkDelta Delta, LogprobsDto? Logprobs, string? Finish)> queue = [];
        private readonly ChunkChoice choice = new();

        public void Enqueue(int index, ChunkDelta delta, LogprobsDto? logprobs) => queue.Add((index, delta, logprobs, null));

        public ValueTask WriteAsync(int index, ChunkDelta delta, LogprobsDto? logprobs, string? finish)
        {
            queue.Add((index, delta, logprobs, finish));
            return DrainAsync();
        }

        public async ValueTask DrainAsync()
        {
            foreach (var (index, delta, logprobs, finish) in queue)
            {
                choice.Index = index;
                choice.Delta = delta;
                choice.Logprobs = logprobs;
                choice.FinishReason = finish;
                chunk.Choices.Clear();
                chunk.Choices.Add(choice);
                await sink.WriteEventAsync(null, chunk, ChatJsonContext.Wire.ChatCompletionChunk, ct);
            }

            queue.Clear();
        }
    }
}
