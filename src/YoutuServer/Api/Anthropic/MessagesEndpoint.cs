using System.Text.Json;
using YoutuServer.Api.OpenAI.Chat;
using YoutuServer.Chat.Parsing;
using YoutuServer.Generation;
using YoutuServer.Hosting;
using YoutuServer.Http;
using YoutuServer.State;
using YoutuServer.Http.Sse;
using YoutuServer.Operations;

namespace YoutuServer.Api.Anthropic;

/// <summary>
/// POST /v1/messages (JSON, or SSE with stream=true) and POST /v1/messages/count_tokens: Anthropic's Messages API as a
/// thin adapter over the generation pipeline. The request maps to an intent (<see cref="MessagesRequestMapper"/>); the
/// result stream is written as content blocks: thinking (signed with the <see cref="ReasoningSeal"/>), text, tool_use.
/// </summary>
internal static partial class MessagesEndpoint
{
    private const string LogCategory = "YoutuServer.Api.Anthropic.MessagesEndpoint";

    public static void Map(WebApplication app)
    {
        app.MapPost("/v1/messages", HandleAsync).WithName("CreateMessage").WithTags("Anthropic Messages")
            .WithSummary("Anthropic Messages API: create a message (JSON, or SSE with stream=true)")
            .WithDescription("Anthropic's Messages API on the served model: system, messages (text, tool_use, tool_result, thinking blocks sent back), " +
                "tools with grammar-enforced tool_choice (auto, any, tool, none), thinking (enabled with budget_tokens, adaptive, disabled), " +
                "output_config (effort, format json_schema), stop_sequences. Thinking blocks carry a signature sealed by the server. " +
                "With stream=true: message_start, content_block_start/delta/stop, ping, message_delta, message_stop (or an error event). " +
                "x-api-key or Authorization: Bearer; anthropic-version and anthropic-beta are accepted and ignored. " +
                "Errors are Anthropic-shaped: {\"type\":\"error\",\"error\":{\"type\",\"message\"}}; a full queue is 529 overloaded_error.")
            .Accepts<MessagesRequest>("application/json")
            .Produces<MessageResponse>(200, "application/json", "text/event-stream")
            .WithAnthropicErrors(400, 401, 404, 413, 429, 500, 529);
        app.MapPost("/v1/messages/count_tokens", CountTokensAsync).WithName("CountMessageTokens").WithTags("Anthropic Messages")
            .WithSummary("Anthropic Messages API: count the prompt tokens of a request")
            .WithDescription("The same body as /v1/messages (max_tokens not needed), rendered with the model's template and tools: {\"input_tokens\": N}.")
            .Accepts<MessagesRequest>("application/json")
            .Produces<CountTokensResponse>(200, "application/json")
            .WithAnthropicErrors(400, 401, 404, 413, 429);

        // Accepts() makes routing match JSON bodies only; these twins answer other content types with the usual 400.
        app.MapPost("/v1/messages", HandleAsync).WithOrder(1).ExcludeFromDescription();
        app.MapPost("/v1/messages/count_tokens", CountTokensAsync).WithOrder(1).ExcludeFromDescription();
    }

    private static RouteHandlerBuilder WithAnthropicErrors(this RouteHandlerBuilder builder, params int[] statuses)
    {
        foreach (var s in statuses)
        {
            builder.Produces<AnthropicErrorResponse>(s, "application/json");
        }

        return builder;
    }

    internal static async Task CountTokensAsync(HttpContext http, EngineHost host, GenerationPlanner planner, ReasoningSeal seal, IToolUseMemory toolUses, ILoggerFactory logs)
    {
        var request = await RequestBody.ReadAsync(http, AnthropicJsonContext.Wire.MessagesRequest);
        var mapped = MessagesRequestMapper.Map(request, SealFor(http, host, seal), countOnly: true, await ToolUseRecall.RecallAsync(toolUses, http.Tenant(), request, http.RequestAborted));
        Warn(http, logs, mapped.Warnings);
        NoteBillingBlock(logs, mapped);
        int count;
        try
        {
            count = planner.CountPromptTokens(await planner.RecallTurnsAsync(mapped.Intent with { Tenant = http.Tenant() }, http.RequestAborted));
        }
        catch (IntentException e)
        {
            throw AnthropicFields.ToApi(e, mapped.Names);
        }

        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, new CountTokensResponse { InputTokens = count }, AnthropicJsonContext.Wire.CountTokensResponse, http.RequestAborted);
    }

    internal static async Task HandleAsync(HttpContext http, EngineHost host, GenerationPlanner planner, ReasoningSeal seal, IToolUseMemory toolUses, RequestTelemetry telemetry, ILoggerFactory logs, ServerOptions options)
    {
        var request = await RequestBody.ReadAsync(http, AnthropicJsonContext.Wire.MessagesRequest);
        var scope = SealFor(http, host, seal);
        var mapped = MessagesRequestMapper.Map(request, scope, countOnly: false, await ToolUseRecall.RecallAsync(toolUses, http.Tenant(), request, http.RequestAborted));
        Warn(http, logs, mapped.Warnings);
        NoteBillingBlock(logs, mapped);
        var stream = request.Stream ?? false;
        GenerationRun run;
        try
        {
            var plan = await planner.PlanAsync(mapped.Intent with { Tenant = http.Tenant() }, http.RequestAborted);
            telemetry.Begin(http, host.ServedModelId, plan.PromptTokens, stream);
            run = GenerationRun.Start(host.Engine, plan, http.RequestAborted, telemetry);
        }
        catch (IntentException e)
        {
            throw AnthropicFields.ToApi(e, mapped.Names);
        }

        var id = "msg_" + Ids.Random24();
        if (stream)
        {
            // A ping goes out after each quiet spell (queued, prompt evaluation, thinking without output).
            await StreamAsync(http, host, run, scope, toolUses, id, telemetry, TimeSpan.FromSeconds(Math.Max(0.01, options.StreamPingSeconds)));
        }
        else
        {
            await CompleteAsync(http, host, run, scope, toolUses, id, telemetry);
        }
    }

    /// <summary>Signatures bound to this API, the caller's key and the served model (a seal opens under the same three).</summary>
    private static SealScope SealFor(HttpContext http, EngineHost host, ReasoningSeal seal) =>
        seal.For(SealKind.AnthropicSignature, http.Tenant().Value, host.ServedModelId);

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

    // ------------------------------------------------------------------ JSON

    private static async Task CompleteAsync(HttpContext http, EngineHost host, GenerationRun run, SealScope seal, IToolUseMemory toolUses, string id, RequestTelemetry telemetry)
    {
        var ct = http.RequestAborted;
        await run.CompleteAsync(ct);
        if (run.Error is { } error)
        {
            throw OpenAI.OpenAIErrors.GenerationFailed(error);
        }

        var choice = run.Choices[0];
        var output = choice.Output;
        var content = new List<ContentBlock>();
        if (output.Reasoning is { Length: > 0 } reasoning)
        {
            content.Add(new ContentBlock { Type = "thinking", Thinking = reasoning, Signature = seal.Seal(reasoning) });
        }

        if (output.Content is { } text && !string.IsNullOrWhiteSpace(text))
        {
            content.Add(new ContentBlock { Type = "text", Text = text });
        }

        await ToolUseRecall.RememberAsync(toolUses, http.Tenant(), output, ct);
        foreach (var call in output.ToolCalls)
        {
            content.Add(new ContentBlock { Type = "tool_use", Id = MessagesRequestMapper.WireId(call.Id), Name = call.Name, Input = InputObject(call.Arguments), Caller = ToolCaller.Direct });
        }

        var usage = run.Usage;
        var response = new MessageResponse
        {
            Id = id,
            Model = host.ServedModelId,
            Content = content,
            StopReason = StopReason(choice),
            StopSequence = choice.StopString,
            Usage = Usage(usage),
        };
        telemetry.End(http, 200, usage);
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, response, AnthropicJsonContext.Wire.MessageResponse, ct);
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

    // ------------------------------------------------------------------ SSE

    private static async Task StreamAsync(HttpContext http, EngineHost host, GenerationRun run, SealScope seal, IToolUseMemory toolUses, string id, RequestTelemetry telemetry, TimeSpan pingEvery)
    {
        var ct = http.RequestAborted;
        var sse = new SseWriter(http.Response);
        var blocks = new BlockWriter(sse, seal, run.Choices[0], ct);
        var start = new MessageStartEvent
        {
            Message = new MessageResponse { Id = id, Model = host.ServedModelId, Usage = new MessageUsage { InputTokens = run.Plan.PromptTokens } },
        };
        try
        {
            // message_start goes out at once: the client sees the request accepted even while it waits in the queue.
            await sse.WriteEventAsync("message_start", start, AnthropicJsonContext.Wire.MessageStartEvent, flush: true, ct);
            await foreach (var r in run.ReadAsync(pingEvery, ct))
            {
                switch (r.Kind)
                {
                    case ResultKind.KeepAlive:
                        await sse.WriteEventAsync("ping", new TypeOnlyEvent { Type = "ping" }, AnthropicJsonContext.Wire.TypeOnlyEvent, flush: true, ct);
                        break;
                    case ResultKind.Output:
                        await blocks.OnOutputAsync(r.Output);
                        break;
                    case ResultKind.ChoiceFinished:
                        await blocks.CloseAsync();
                        break;
                    case ResultKind.Flush:
                        await sse.FlushAsync(ct);
                        break;
                }
            }

            var usage = run.Usage;
            if (run.Error is { } error)
            {
                await AnthropicErrorShape.Instance.WriteEventAsync(sse, OpenAI.OpenAIErrors.GenerationFailed(error), ct);
                telemetry.End(http, 200, usage);
                return;
            }

            var choice = run.Choices[0];
            await ToolUseRecall.RememberAsync(toolUses, http.Tenant(), choice.Output, ct);
            var delta = new MessageDeltaEvent
            {
                Delta = new MessageDelta { StopReason = StopReason(choice), StopSequence = choice.StopString },
                Usage = Usage(usage),
            };
            await sse.WriteEventAsync("message_delta", delta, AnthropicJsonContext.Wire.MessageDeltaEvent, flush: false, ct);
            await sse.WriteEventAsync("message_stop", new TypeOnlyEvent { Type = "message_stop" }, AnthropicJsonContext.Wire.TypeOnlyEvent, flush: true, ct);
            telemetry.End(http, 200, usage);
        }
        catch (OperationCanceledException e) when (ct.IsCancellationRequested || e.CancellationToken.IsCancellationRequested)
        {
            // Client gone: the engine already saw the token and drops the sequence at its next step.
            run.Cancel();
            telemetry.End(http, 499, run.Usage);
        }
    }

    /// <summary>
    /// Turns the parsed output stream into content blocks with running indexes: a thinking block (its signature_delta
    /// sealed when it closes), text blocks (whitespace between blocks is not a block of its own), one tool_use block
    /// per call whose input_json_delta pieces concatenate to the input object.
    /// </summary>
    private sealed class BlockWriter(SseWriter sse, SealScope seal, ChoiceOutput choice, CancellationToken ct)
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
            await sse.WriteEventAsync("content_block_start", new ContentBlockStartEvent { Index = index, ContentBlock = block }, AnthropicJsonContext.Wire.ContentBlockStartEvent, flush: false, ct);
        }

        private ValueTask DeltaAsync(BlockDelta delta) =>
            sse.WriteEventAsync("content_block_delta", new ContentBlockDeltaEvent { Index = index, Delta = delta }, AnthropicJsonContext.Wire.ContentBlockDeltaEvent, flush: false, ct);

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

            await sse.WriteEventAsync("content_block_stop", new ContentBlockStopEvent { Index = index }, AnthropicJsonContext.Wire.ContentBlockStopEvent, flush: false, ct);
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
