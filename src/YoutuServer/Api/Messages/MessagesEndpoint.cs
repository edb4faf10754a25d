using System.Text.Json;
using YoutuServer.Api.Common;
using YoutuServer.Chat.Parsing;
using YoutuServer.Generation;
using YoutuServer.Hosting;
using YoutuServer.Http;
using YoutuServer.State;
using System.Text.Json.Serialization.Metadata;
using YoutuServer.Api.Serving;
using YoutuServer.Operations;

namespace YoutuServer.Api.Messages;

/// <summary>
/// POST /v1/messages (JSON, or SSE with stream=true) and POST /v1/messages/count_tokens: Anthropic's Messages API as a
/// thin adapter over the generation pipeline. The request maps to an intent (<see cref="MessagesRequestMapper"/>); the
/// result stream is written as content blocks: thinking (signed with the <see cref="ReasoningSeal"/>), text, tool_use.
/// </summary>
internal sealed partial class MessagesEndpoint(EngineHost host, GenerationPlanner planner, ReasoningSeal seal, IToolUseMemory toolUses, ILoggerFactory logs) : GenerationAdapter<MessagesRequest>
{
    private const string LogCategory = "YoutuServer.Api.Messages.MessagesEndpoint";
    private static readonly GenerationOperation Span = new("messages", "chat");

    public override JsonTypeInfo<MessagesRequest> RequestType => AnthropicJsonContext.Wire.MessagesRequest;
    public override GenerationOperation Operation => Span;
    public override IErrorShape ErrorShape => AnthropicErrorShape.Instance;
    public override FieldNamer Names { get; } = AnthropicFields.Names();

    public static void Map(IEndpointRouteBuilder app)
    {
        var adapter = ActivatorUtilities.CreateInstance<MessagesEndpoint>(app.ServiceProvider);
        app.MapGeneration("/v1/messages", adapter).WithName("CreateMessage").WithTags("Anthropic Messages")
            .WithSummary("Anthropic Messages API: create a message (JSON, or SSE with stream=true)")
            .WithDescription("Anthropic's Messages API on the served model: system, messages (text, tool_use, tool_result, thinking blocks sent back), " +
                "tools with grammar-enforced tool_choice (auto, any, tool, none), thinking (enabled with budget_tokens, adaptive, disabled), " +
                "output_config (effort, format json_schema), stop_sequences. Thinking blocks carry a signature sealed by the server. " +
                "With stream=true: message_start, content_block_start/delta/stop, ping, message_delta, message_stop (or an error event). " +
                "x-api-key or Authorization: Bearer; anthropic-version and anthropic-beta are accepted and ignored. " +
                "Errors are Anthropic-shaped: {\"type\":\"error\",\"error\":{\"type\",\"message\"}}; a full queue is 529 overloaded_error.")
            .Produces<MessageResponse>(200, "application/json", "text/event-stream")
            .WithAnthropicErrors(400, 401, 404, 413, 429, 500, 529);
        app.MapPost("/v1/messages/count_tokens", CountTokensAsync).WithName("CountMessageTokens").WithTags("Anthropic Messages")
            .WithSummary("Anthropic Messages API: count the prompt tokens of a request")
            .WithDescription("The same body as /v1/messages (max_tokens not needed), rendered with the model's template and tools: {\"input_tokens\": N}.")
            .Accepts<MessagesRequest>("application/json")
            .Produces<CountTokensResponse>(200, "application/json")
            .WithAnthropicErrors(400, 401, 404, 413, 429)
            .WithErrorShape(AnthropicErrorShape.Instance);

        // Accepts() makes routing match JSON bodies only; this twin answers other content types with the usual 400.
        app.MapPost("/v1/messages/count_tokens", CountTokensAsync).WithOrder(1).ExcludeFromDescription().WithErrorShape(AnthropicErrorShape.Instance);
        app.MapUnknownRoutes("/v1/messages", AnthropicErrorShape.Instance);
    }

    public override string? Model(MessagesRequest request) => request.Model;

    public override async ValueTask<GenerationCall> PrepareAsync(GenerationContext context, MessagesRequest request)
    {
        var http = context.Http;
        var scope = SealFor(context.Tenant, host, seal);
        var mapped = MessagesRequestMapper.Map(request, scope, countOnly: false, await ToolUseRecall.RecallAsync(toolUses, context.Tenant, request, context.Aborted));
        Warn(http, logs, mapped.Warnings);
        NoteBillingBlock(logs, mapped);
        var stream = request.Stream ?? false;
        return new GenerationCall(mapped.Intent, stream, new MessagesResultWriter(stream, scope, toolUses, context.Tenant))
        {
            Names = mapped.Names,
            // max_tokens is a cap: clamped to the room the prompt leaves in the context (the planner refuses a prompt
            // that leaves none), as llama-server does for Claude Code's fixed max_tokens of 32000.
            Adjust = plan =>
            {
                var room = planner.ContextSize - plan.PromptTokens;
                return plan with { Request = plan.Request with { MaxTokens = Math.Min(mapped.MaxTokens ?? room, room) } };
            },
        };
    }

    private static async Task CountTokensAsync(HttpContext http, EngineHost host, GenerationPlanner planner, ReasoningSeal seal, IToolUseMemory toolUses, ILoggerFactory logs)
    {
        var request = await RequestBody.ReadAsync(http, AnthropicJsonContext.Wire.MessagesRequest);
        var mapped = MessagesRequestMapper.Map(request, SealFor(http.Tenant(), host, seal), countOnly: true, await ToolUseRecall.RecallAsync(toolUses, http.Tenant(), request, http.RequestAborted));
        Warn(http, logs, mapped.Warnings);
        NoteBillingBlock(logs, mapped);
        int count;
        try
        {
            count = planner.CountPromptTokens(await planner.RecallTurnsAsync(mapped.Intent with { Tenant = http.Tenant() }, http.RequestAborted));
        }
        catch (IntentException e)
        {
            throw IntentErrors.ToApi(e, mapped.Names);
        }

        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, new CountTokensResponse { InputTokens = count }, AnthropicJsonContext.Wire.CountTokensResponse, http.RequestAborted);
    }

    /// <summary>Signatures bound to this API, the caller's key and the served model (a seal opens under the same three).</summary>
    private static SealScope SealFor(TenantId tenant, EngineHost host, ReasoningSeal seal) =>
        seal.For(SealKind.AnthropicSignature, tenant.Value, host.ServedModelId);

    private static int billingBlockLogged;

    /// <summary>Says once per process, at Debug, that Claude Code's billing block is being left out of prompts.</summary>
    private static void NoteBillingBlock(ILoggerFactory logs, MappedMessages mapped)
    {
        if (mapped.BillingBlockDropped && Interlocked.Exchange(ref billingBlockLogged, 1) == 0)
        {
            var logger = logs.CreateLogger(LogCategory);
            LogBillingBlockDropped(logger, MessagesRequestMapper.BillingHeaderPrefix);
        }
    }

    private static void Warn(HttpContext http, ILoggerFactory logs, IReadOnlyList<string> warnings)
    {
        var logger = logs.CreateLogger(LogCategory);
        foreach (var w in warnings)
        {
            LogSkipped(logger, w);
            // RFC 7234 warn-code 299 (miscellaneous persistent warning); one header value per warning.
            // Header values are visible ASCII: anything else a client sent (a tool's name, say) becomes '?'.
            var text = string.Create(w.Length, w, static (span, src) =>
            {
                for (var i = 0; i < span.Length; i++)
                {
                    span[i] = src[i] is >= ' ' and <= '~' and not '"' and not '\\' ? src[i] : '?';
                }
            });
            http.Response.Headers.Append("Warning", "299 youtu-server \"" + text + "\"");
        }
    }

    /// <summary>A tool call's arguments as the input object (a call cut short by max_tokens gives what parses: else {}).</summary>
    private static JsonElement InputObject(string arguments)
    {
        try
        {
            using var doc = JsonDocument.Parse(arguments);
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
            {
                return doc.RootElement.Clone();
            }
        }
        catch (JsonException)
        {
        }

        using var empty = JsonDocument.Parse("{}");
        return empty.RootElement.Clone();
    }

    internal static string StopReason(ChoiceOutput c) => c.Finish switch
    {
        // A stop string ends the message where it matched, also inside a tool call.
        _ when c.StopString is not null => "stop_sequence",
        ChoiceFinish.Length => "max_tokens",
        ChoiceFinish.ToolCalls => "tool_use",
        _ => "end_turn",
    };

    private static MessageUsage Usage(UsageRecord u) => new()
    {
        InputTokens = u.PromptTokens - u.CachedTokens,
        CacheReadInputTokens = u.CachedTokens,
        OutputTokens = u.CompletionTokens,
    };

    /// <summary>The result as one message, or as its events: message_start, content blocks, ping, message_delta, message_stop.</summary>
    private sealed class MessagesResultWriter(bool stream, SealScope seal, IToolUseMemory toolUses, TenantId tenant) : ResultWriter(stream)
    {
        private readonly string id = "msg_" + Ids.Random24();
        private BlockWriter? blocks;

        public override async ValueTask StartAsync(GenerationRun run, IResultSink sink, CancellationToken cancellationToken)
        {
            if (!Stream)
            {
                return;
            }

            blocks = new BlockWriter(sink, seal, run.Choices[0], cancellationToken);
            var start = new MessageStartEvent
            {
                Message = new MessageResponse { Id = id, Model = run.Plan.ModelId, Usage = new MessageUsage { InputTokens = run.Plan.PromptTokens } },
            };
            // message_start goes out at once: the client sees the request accepted even while it waits in the queue.
            await sink.WriteEventAsync("message_start", start, AnthropicJsonContext.Wire.MessageStartEvent, cancellationToken);
        }

        /// <summary>A ping event after each quiet spell (queued, prompt evaluation, thinking without output).</summary>
        public override ValueTask KeepAliveAsync(IResultSink sink, CancellationToken cancellationToken) =>
            sink.WriteEventAsync("ping", new TypeOnlyEvent { Type = "ping" }, AnthropicJsonContext.Wire.TypeOnlyEvent, cancellationToken);

        public override async ValueTask OnResultAsync(GenerationRun run, ResultEvent r, IResultSink sink, CancellationToken cancellationToken)
        {
            if (blocks is null || r.Choice > 0)
            {
                return;
            }

            switch (r.Kind)
            {
                case ResultKind.Output:
                    await blocks.OnOutputAsync(r.Output);
                    break;
                case ResultKind.ChoiceFinished:
                    await blocks.CloseAsync();
                    break;
            }
        }

        public override async ValueTask CompleteAsync(GenerationRun run, IResultSink sink, CancellationToken cancellationToken)
        {
            var choice = run.Choices[0];
            var output = choice.Output;
            await ToolUseRecall.RememberAsync(toolUses, tenant, output, cancellationToken);
            var usage = run.Usage;
            if (Stream)
            {
                var delta = new MessageDeltaEvent
                {
                    Delta = new MessageDelta { StopReason = StopReason(choice), StopSequence = choice.StopString },
                    Usage = Usage(usage),
                };
                await sink.WriteEventAsync("message_delta", delta, AnthropicJsonContext.Wire.MessageDeltaEvent, cancellationToken);
                await sink.WriteEventAsync("message_stop", new TypeOnlyEvent { Type = "message_stop" }, AnthropicJsonContext.Wire.TypeOnlyEvent, cancellationToken);
                return;
            }

            var content = new List<ContentBlock>();
            if (output.Reasoning is { Length: > 0 } reasoning)
            {
                content.Add(new ContentBlock { Type = "thinking", Thinking = reasoning, Signature = seal.Seal(reasoning) });
            }

            if (output.Content is { } text && !string.IsNullOrWhiteSpace(text))
            {
                content.Add(new ContentBlock { Type = "text", Text = text });
            }

            foreach (var call in output.ToolCalls)
            {
                content.Add(new ContentBlock { Type = "tool_use", Id = MessagesRequestMapper.WireId(call.Id), Name = call.Name, Input = InputObject(call.Arguments), Caller = ToolCaller.Direct });
            }

            await sink.WriteBodyAsync(new MessageResponse
            {
                Id = id,
                Model = run.Plan.ModelId,
                Content = content,
                StopReason = StopReason(choice),
                StopSequence = choice.StopString,
                Usage = Usage(usage),
            }, AnthropicJsonContext.Wire.MessageResponse, cancellationToken);
        }

        public override ValueTask FailAsync(GenerationRun run, ApiException error, IResultSink sink, CancellationToken cancellationToken) =>
            sink.WriteEventAsync("error", AnthropicErrorShape.Body(error, null), AnthropicJsonContext.Wire.AnthropicErrorResponse, cancellationToken);
    }

    /// <summary>
    /// Turns the parsed output stream into content blocks with running indexes: a thinking block (its signature_delta
    /// sealed when it closes), text blocks (whitespace between blocks is not a block of its own), one tool_use block
    /// per call whose input_json_delta pieces concatenate to the input object.
    /// </summary>
    private sealed class BlockWriter(IResultSink sink, SealScope seal, ChoiceOutput choice, CancellationToken ct)
    {
        private readonly System.Text.StringBuilder thinking = new();
        private string? open;
        private int index = -1;
        private int toolCall = -1;
        private string pendingSpace = "";

        public async ValueTask OnOutputAsync(OutputEvent e)
        {
            switch (e.Kind)
            {
                case OutputEventKind.ReasoningDelta:
                    if (e.Text.Length == 0)
                    {
                        return;
                    }

                    if (open != "thinking")
                    {
                        await StartAsync(new ContentBlock { Type = "thinking", Thinking = "", Signature = "" });
                    }

                    thinking.Append(e.Text);
                    await DeltaAsync(new BlockDelta { Type = "thinking_delta", Thinking = e.Text });
                    break;
                case OutputEventKind.ContentDelta:
                    if (open != "text")
                    {
                        // Whitespace between blocks (after </think>, before <tool_call>) opens no block of its own.
                        if (string.IsNullOrWhiteSpace(pendingSpace + e.Text))
                        {
                            pendingSpace += e.Text;
                            return;
                        }

                        await StartAsync(new ContentBlock { Type = "text", Text = "" });
                        var text = pendingSpace + e.Text;
                        pendingSpace = "";
                        await DeltaAsync(new BlockDelta { Type = "text_delta", Text = text });
                        return;
                    }

                    if (e.Text.Length > 0)
                    {
                        await DeltaAsync(new BlockDelta { Type = "text_delta", Text = e.Text });
                    }

                    break;
                case OutputEventKind.ToolCallStart:
                    pendingSpace = "";
                    await StartAsync(new ContentBlock { Type = "tool_use", Id = MessagesRequestMapper.WireId(e.ToolCallId ?? ""), Name = e.ToolCallName, Input = EmptyInput(), Caller = ToolCaller.Direct });
                    toolCall = e.ToolCallIndex;
                    break;
                case OutputEventKind.ToolCallArgumentsDelta:
                    if (open == "tool_use" && e.ToolCallIndex == toolCall && e.Text.Length > 0)
                    {
                        await DeltaAsync(new BlockDelta { Type = "input_json_delta", PartialJson = e.Text });
                    }

                    break;
            }
        }

        /// <summary>Closes the open block (the choice ended).</summary>
        public ValueTask CloseAsync() => StopAsync();

        private async ValueTask StartAsync(ContentBlock block)
        {
            await StopAsync();
            open = block.Type;
            index++;
            await sink.WriteEventAsync("content_block_start", new ContentBlockStartEvent { Index = index, ContentBlock = block }, AnthropicJsonContext.Wire.ContentBlockStartEvent, ct);
        }

        private ValueTask DeltaAsync(BlockDelta delta) =>
            sink.WriteEventAsync("content_block_delta", new ContentBlockDeltaEvent { Index = index, Delta = delta }, AnthropicJsonContext.Wire.ContentBlockDeltaEvent, ct);

        private async ValueTask StopAsync()
        {
            if (open is null)
            {
                return;
            }

            if (open == "thinking")
            {
                // The seal covers the reasoning exactly as the pipeline parsed it (what a sent-back block restores).
                var reasoning = choice.Output.Reasoning ?? thinking.ToString();
                await DeltaAsync(new BlockDelta { Type = "signature_delta", Signature = seal.Seal(reasoning) });
            }

            await sink.WriteEventAsync("content_block_stop", new ContentBlockStopEvent { Index = index }, AnthropicJsonContext.Wire.ContentBlockStopEvent, ct);
            open = null;
        }

        private static JsonElement EmptyInput()
        {
            using var doc = JsonDocument.Parse("{}");
            return doc.RootElement.Clone();
        }
    }

    [LoggerMessage(EventId = 1301, Level = LogLevel.Debug, Message = "/v1/messages: system blocks starting with '{Prefix}' (Claude Code's per-request billing line) are left out of the prompt, so the prefix cache keeps working; logged once")]
    private static partial void LogBillingBlockDropped(ILogger logger, string prefix);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Warning, Message = "/v1/messages: {Warning}")]
    private static partial void LogSkipped(ILogger logger, string warning);
}
