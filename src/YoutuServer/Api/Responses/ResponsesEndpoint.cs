using System.Globalization;
using System.Text.Json;
using YoutuServer.Api.Common;
using YoutuServer.Chat.Messages;
using YoutuServer.Generation;
using YoutuServer.Hosting;
using YoutuServer.Http;
using System.Text.Json.Serialization.Metadata;
using YoutuServer.Api.Serving;
using YoutuServer.Operations;
using YoutuServer.State;

namespace YoutuServer.Api.Responses;

/// <summary>
/// OpenAI's Responses API: <c>POST /v1/responses</c> (JSON, or SSE events with stream=true), and the stored responses:
/// <c>GET</c>/<c>DELETE /v1/responses/{id}</c>, <c>GET /v1/responses/{id}/input_items</c>. A thin adapter: the request
/// becomes a <see cref="GenerationIntent"/> (<see cref="ResponsesRequestMapper"/>), the result stream becomes output
/// items and events (<see cref="ResponseAssembler"/>).
/// </summary>
internal sealed partial class ResponsesEndpoint(EngineHost host, IResponseStore store, ReasoningSeal seal, ServerOptions options, ILoggerFactory loggers) : GenerationAdapter<ResponsesRequest>
{
    private readonly ReasoningEventNames reasoningEvents = ReasoningEventNames.From(options.ResponsesReasoningEvents);

    public const string SkippedToolsHeader = "x-youtu-skipped-tools";

    /// <summary>Set when <c>truncation: "auto"</c> dropped input: how many of the oldest messages went.</summary>
    public const string TruncatedHeader = "x-youtu-truncated-messages";
    private static readonly GenerationOperation Span = new("responses", "chat");
    private static readonly JsonElement AutoChoice = JsonDocument.Parse("\"auto\"").RootElement.Clone();
    private static readonly JsonElement TextFormat = JsonDocument.Parse("{\"type\":\"text\"}").RootElement.Clone();

    private readonly ILogger logger = loggers.CreateLogger("YoutuServer.Api.Responses");

    /// <summary>
    /// The tool choice as sent, or <c>"auto"</c>; an <c>allowed_tools</c> one with the <c>mode</c> that applied (auto when
    /// not sent), which the Open Responses AllowedToolChoice requires.
    /// </summary>
    internal static JsonElement EchoToolChoice(JsonElement? choice)
    {
        if (choice is not { ValueKind: JsonValueKind.String or JsonValueKind.Object } c)
        {
            return AutoChoice;
        }

        if (c.ValueKind != JsonValueKind.Object || c.TryGetProperty("mode", out _)
            || !c.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "allowed_tools")
        {
            return c;
        }

        return WithProperties(c, static _ => true, static w => w.WriteString("mode", "auto"));
    }

    /// <summary>
    /// The text format as sent, or <c>{"type":"text"}</c>; a <c>json_schema</c> one with every field the Open Responses
    /// JsonSchemaResponseFormat requires: <c>description</c> null when not sent, and <c>strict</c> true when not sent
    /// (a grammar holds the output to the schema whatever <c>strict</c> says).
    /// </summary>
    internal static JsonElement EchoFormat(JsonElement? format)
    {
        if (format is not { ValueKind: JsonValueKind.Object } f)
        {
            return TextFormat;
        }

        if (!f.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "json_schema")
        {
            return f;
        }

        // strict: null is left out (the echo says what applied); the fields the specification requires are added.
        return WithProperties(
            f,
            static p => !p.NameEquals("strict") || p.Value.ValueKind is JsonValueKind.True or JsonValueKind.False,
            w =>
            {
                if (!f.TryGetProperty("name", out _))
                {
                    w.WriteString("name", "response");
                }

                if (!f.TryGetProperty("description", out _))
                {
                    w.WriteNull("description");
                }

                if (!f.TryGetProperty("strict", out var s) || s.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                {
                    w.WriteBoolean("strict", true);
                }
            });
    }

    /// <summary>The object with the properties <paramref name="keep"/> keeps, then what <paramref name="append"/> writes.</summary>
    private static JsonElement WithProperties(JsonElement o, Func<JsonProperty, bool> keep, Action<Utf8JsonWriter> append)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            foreach (var p in o.EnumerateObject())
            {
                if (keep(p))
                {
                    p.WriteTo(w);
                }
            }

            append(w);
            w.WriteEndObject();
        }

        return JsonDocument.Parse(buffer.WrittenMemory).RootElement.Clone();
    }

    public override JsonTypeInfo<ResponsesRequest> RequestType => ResponsesJsonContext.Wire.ResponsesRequest;
    public override GenerationOperation Operation => Span;
    public override IErrorShape ErrorShape => OpenAIErrorShape.Instance;
    public override FieldNamer Names { get; } = ResponsesRequestMapper.Names([]);

    /// <summary>The WebSocket connection this adapter serves (<see cref="ResponsesWebSocket"/>): its last response is continued from memory.</summary>
    internal ResponsesConnectionState? Connection { get; init; }

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGeneration("/v1/responses", ActivatorUtilities.CreateInstance<ResponsesEndpoint>(app.ServiceProvider)).WithName("CreateResponse")
            .WithTags("Responses")
            .WithSummary("OpenAI Responses API (JSON, or SSE events with stream=true)")
            .WithDescription("Input items (messages, function_call, function_call_output, reasoning), function and namespace tools " +
                "(hosted tools are skipped and named in the x-youtu-skipped-tools header), grammar-enforced tool_choice and text.format, " +
                "reasoning.effort, previous_response_id and stored responses, encrypted reasoning with include=[\"reasoning.encrypted_content\"]. " +
                "With stream=true: `event:` + `data:` pairs response.created, response.in_progress, response.output_item.added, " +
                "response.reasoning_text.delta/.done (Open Responses names with --responses-reasoning-events open-responses), response.content_part.added, response.output_text.delta/.done, response.content_part.done, " +
                "response.function_call_arguments.delta/.done, response.output_item.done, then response.completed | response.incomplete | response.failed.")
            .Produces<ResponseObject>(200, "application/json", "text/event-stream")
            .Produces<ErrorResponse>(400, "application/json").Produces<ErrorResponse>(401, "application/json")
            .Produces<ErrorResponse>(404, "application/json").Produces<ErrorResponse>(429, "application/json")
            .Produces<ErrorResponse>(503, "application/json");
        app.MapGet("/v1/responses/{id}", GetAsync).WithName("GetResponse").WithTags("Responses").WithSummary("A stored response")
            .Produces<ResponseObject>(200).Produces<ErrorResponse>(404, "application/json");
        app.MapDelete("/v1/responses/{id}", DeleteAsync).WithName("DeleteResponse").WithTags("Responses").WithSummary("Deletes a stored response")
            .Produces<ResponseDeleted>(200).Produces<ErrorResponse>(404, "application/json");
        app.MapGet("/v1/responses/{id}/input_items", InputItemsAsync).WithName("ListInputItems").WithTags("Responses")
            .WithSummary("The input items of a stored response (paged: limit, order, after)")
            .Produces<ResponseItem>(200).Produces<ErrorResponse>(404, "application/json");
    }

    private static ApiException NotFound(string id, string? param) =>
        new(404, param is null ? $"No response found with id '{id}'." : $"Previous response with id '{id}' not found.", "invalid_request_error", param, param is null ? "not_found" : "previous_response_not_found");

    public override string? Model(ResponsesRequest request) => request.Model;

    public override async ValueTask<GenerationCall> PrepareAsync(GenerationContext context, ResponsesRequest request)
    {
        var http = context.Http;
        if (request.Store ?? true)
        {
            // A stored response is saved after it is generated: with the store known down, refuse it (503) before.
            store.ThrowIfDown();
        }

        IReadOnlyList<ChatMessage> previous = [];
        PromptPrefix? prefix = null;
        if (request.PreviousResponseId is { } prevId)
        {
            var earlier = Connection?.Find(prevId)
                ?? (await store.GetAsync(context.Tenant, prevId, context.Aborted) is { } stored ? ResponsesContinuation.FromBytes(stored.Continuation) : null);
            if (earlier is null)
            {
                throw NotFound(prevId, "previous_response_id");
            }

            previous = earlier.Conversation;
            prefix = earlier.Prefix;
        }

        // encrypted_content is bound to this API, the caller's key and the served model.
        var scope = seal.For(SealKind.ResponsesEncryptedContent, http.Tenant().Value, host.ServedModelId);
        var mapped = ResponsesRequestMapper.Map(request, previous, scope, ResponsesCompaction.Scope(seal, context.Tenant, host.ServedModelId));
        if (mapped.SkippedTools.Count > 0)
        {
            var list = string.Join(",", mapped.SkippedTools.Distinct(StringComparer.Ordinal));
            if (!http.Response.HasStarted)
            {
                http.Response.Headers[SkippedToolsHeader] = list; // (a WebSocket turn has no headers of its own)
            }

            Log.SkippedTools(logger, list);
        }

        if (mapped.UnopenedReasoning > 0)
        {
            Log.UnopenedReasoning(logger, mapped.UnopenedReasoning);
        }

        var stream = request.Stream ?? false;
        var writer = new ResponsesResultWriter(stream, request, mapped, previous, store, context.Tenant, scope, Connection, reasoningEvents);
        return new GenerationCall(mapped.Intent with { KnownPrefix = prefix }, stream, writer)
        {
            Names = mapped.Names,
            Adjust = plan =>
            {
                if (plan.DroppedMessages > 0)
                {
                    http.Response.Headers[TruncatedHeader] = plan.DroppedMessages.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    Log.Truncated(logger, plan.DroppedMessages);
                }

                return plan;
            },
        };
    }

    /// <summary>The response object from the request's echo fields and the plan's sampling.</summary>
    private static ResponseObject NewResponse(ResponsesRequest request, MappedResponsesRequest mapped, GenerationRun run)
    {
        var sampling = run.Plan.Request.Sampling;
        return new ResponseObject
        {
            Id = ResponseIds.Response(),
            CreatedAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            Model = run.Plan.ModelId,
            Instructions = request.Instructions,
            MaxOutputTokens = request.MaxOutputTokens,
            ParallelToolCalls = request.ParallelToolCalls ?? true,
            PreviousResponseId = request.PreviousResponseId,
            PromptCacheKey = request.PromptCacheKey,
            Reasoning = new ReasoningEcho { Effort = mapped.Effort, Summary = request.Reasoning?.Summary ?? request.Reasoning?.GenerateSummary },
            Store = request.Store ?? true,
            Temperature = request.Temperature ?? Math.Round(sampling.Temperature, 4),
            Text = new TextEcho { Format = EchoFormat(request.Text?.Format), Verbosity = request.Text?.Verbosity },
            ToolChoice = EchoToolChoice(request.ToolChoice),
            Tools = ResponsesRequestMapper.EchoTools(request.Tools),
            TopP = request.TopP ?? Math.Round(sampling.TopP, 4),
            PresencePenalty = request.PresencePenalty ?? 0,
            FrequencyPenalty = request.FrequencyPenalty ?? 0,
            TopLogprobs = request.TopLogprobs ?? 0,
            MaxToolCalls = request.MaxToolCalls,
            SafetyIdentifier = request.SafetyIdentifier,
            Truncation = request.Truncation ?? "disabled",
            User = request.User,
            Metadata = request.Metadata ?? [],
        };
    }

    /// <summary>
    /// The result as one response object, or as its events (response.created, in_progress, output items and their
    /// deltas, then completed, incomplete or failed). A stored response is stored before its last event goes out.
    /// </summary>
    private sealed class ResponsesResultWriter(bool stream, ResponsesRequest request, MappedResponsesRequest mapped, IReadOnlyList<ChatMessage> previous,
        IResponseStore store, TenantId tenant, SealScope seal, ResponsesConnectionState? connection, ReasoningEventNames reasoningEvents) : ResultWriter(stream)
    {
        private ResponseObject? response;
        private ResponseAssembler? assembler;

        public override async ValueTask StartAsync(GenerationRun run, IResultSink sink, CancellationToken cancellationToken)
        {
            response = NewResponse(request, mapped, run);
            var includeSealed = request.Include?.Contains("reasoning.encrypted_content", StringComparer.Ordinal) ?? false;
            var summaries = request.Reasoning?.Summary is not null || request.Reasoning?.GenerateSummary is not null;
            Func<ResponseStreamEvent, ValueTask>? emit = Stream
                ? e => sink.WriteEventAsync(e.Type, e, ResponsesJsonContext.Wire.ResponseStreamEvent, cancellationToken)
                : null;
            assembler = new ResponseAssembler(response, mapped, summaries, includeSealed ? seal.Seal : null, emit, reasoningEvents);
            if (Stream)
            {
                await assembler.EmitAsync(new ResponseStreamEvent { Type = "response.created", Response = response });
                await assembler.EmitAsync(new ResponseStreamEvent { Type = "response.in_progress", Response = response });
            }
        }

        public override ValueTask OnResultAsync(GenerationRun run, ResultEvent r, IResultSink sink, CancellationToken cancellationToken) =>
            Apply(assembler!, run, r);

        public override async ValueTask CompleteAsync(GenerationRun run, IResultSink sink, CancellationToken cancellationToken)
        {
            var response = this.response!;
            Finish(response, run);
            var json = JsonSerializer.SerializeToUtf8Bytes(response, ResponsesJsonContext.Wire.ResponseObject);
            await StoreAsync(json, run, cancellationToken);
            if (Stream)
            {
                await assembler!.EmitAsync(new ResponseStreamEvent { Type = response.Status == "incomplete" ? "response.incomplete" : "response.completed", Response = response });
            }
            else
            {
                await sink.WriteBodyAsync(json, cancellationToken);
            }
        }

        public override async ValueTask FailAsync(GenerationRun run, ApiException error, IResultSink sink, CancellationToken cancellationToken)
        {
            var response = this.response!;
            var code = error.Code == "generation_failed" ? "server_error" : error.Type;
            response.Status = "failed";
            response.Error = new ResponseErrorDto { Code = code, Message = error.Message };
            response.Usage = Usage(run.Usage);
            // The error event names what failed exactly (e.g. state_store_unavailable); response.error keeps to the
            // API's own codes (server_error), which clients know to retry.
            var eventCode = error.Code == IntentErrors.StateStoreUnavailable ? error.Code : code;
            await assembler!.EmitAsync(new ResponseStreamEvent { Type = "error", Code = eventCode, Message = error.Message });
            await assembler.EmitAsync(new ResponseStreamEvent { Type = "response.failed", Response = response });
        }

        private async ValueTask StoreAsync(byte[] json, GenerationRun run, CancellationToken cancellationToken)
        {
            var response = this.response!;
            if (!response.Store && connection is null)
            {
                return;
            }

            var choice = run.Choices[0];
            var output = choice.Output;
            var conversation = new List<ChatMessage>(previous.Count + mapped.NewMessages.Count + 1);
            conversation.AddRange(previous);
            conversation.AddRange(mapped.NewMessages);
            conversation.Add(new ChatMessage(ChatRoles.Assistant, output.Content ?? (output.ToolCalls.Count > 0 ? null : ""))
            {
                Reasoning = output.Reasoning,
                ToolCalls = output.ToolCalls.Count == 0 ? null : output.ToolCalls.Select(c => ChatToolCall.FromArgumentsString(c.Id, c.Name, c.Arguments)).ToList(),
            });
            // What this turn evaluated and generated, token for token: a continuation renders this text first.
            var plan = run.Plan;
            var generated = choice.TokenIds;
            var continuation = new ResponsesContinuation
            {
                Conversation = conversation,
                PrefixText = plan.Prompt + choice.GeneratedText,
                PrefixTokens = [.. plan.Request.Prompt, .. generated],
            };
            // A WebSocket connection keeps its last response whether stored or not (store: false continues too).
            connection?.Remember(response.Id, continuation, plan);
            if (!response.Store)
            {
                return;
            }

            var items = mapped.InputItems.Select(i => new StoredItem(i.Id!, JsonSerializer.SerializeToUtf8Bytes(i, ResponsesJsonContext.Wire.ResponseItem))).ToList();
            await store.PutAsync(tenant, new StoredResponse { Id = response.Id, Body = json, InputItems = items, Continuation = continuation.ToBytes() }, cancellationToken);
        }
    }

    private static async ValueTask Apply(ResponseAssembler assembler, GenerationRun run, ResultEvent r)
    {
        if (r.Choice > 0)
        {
            return; // one output per response
        }

        switch (r.Kind)
        {
            case ResultKind.Output:
                await assembler.OnOutputAsync(r.Output);
                break;
            case ResultKind.ChoiceFinished:
                await assembler.FinishAsync(run.Choices[r.Choice]);
                break;
        }
    }

    private static void Finish(ResponseObject response, GenerationRun run)
    {
        var choice = run.Choices[0];
        if (choice.Finish == ChoiceFinish.Length)
        {
            response.Status = "incomplete";
            response.IncompleteDetails = new IncompleteDetails { Reason = "max_output_tokens" };
        }
        else
        {
            response.Status = "completed";
            response.CompletedAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        }

        response.Usage = Usage(run.Usage);
    }

    internal static ResponseUsage Usage(UsageRecord u) => new()
    {
        InputTokens = u.PromptTokens,
        InputTokensDetails = new InputTokensDetails { CachedTokens = u.CachedTokens },
        OutputTokens = u.CompletionTokens,
        OutputTokensDetails = new OutputTokensDetails { ReasoningTokens = u.ReasoningTokens },
        TotalTokens = u.TotalTokens,
    };

    // ------------------------------------------------------------------ stored responses

    private static async Task<IResult> GetAsync(string id, HttpContext http, IResponseStore store)
    {
        var stored = await store.GetAsync(http.Tenant(), id, http.RequestAborted) ?? throw NotFound(id, null);
        return Results.Bytes(stored.Body, "application/json");
    }

    private static async Task<IResult> DeleteAsync(string id, HttpContext http, IResponseStore store) =>
        await store.DeleteAsync(http.Tenant(), id, http.RequestAborted)
            ? WireJson.Result(new ResponseDeleted { Id = id }, ResponsesJsonContext.Wire.ResponseDeleted)
            : throw NotFound(id, null);

    private static async Task<IResult> InputItemsAsync(string id, HttpContext http, IResponseStore store)
    {
        var stored = await store.GetAsync(http.Tenant(), id, http.RequestAborted) ?? throw NotFound(id, null);
        var q = http.Request.Query;
        var limit = 20;
        if (q.TryGetValue("limit", out var l) && (!int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 100))
        {
            throw ApiException.BadRequest("'limit' must be an integer between 1 and 100.", "limit");
        }

        var order = q.TryGetValue("order", out var o) ? o.ToString() : "desc";
        if (order is not ("asc" or "desc"))
        {
            throw ApiException.BadRequest("'order' must be 'asc' or 'desc'.", "order");
        }

        IEnumerable<StoredItem> items = order == "asc" ? stored.InputItems : stored.InputItems.Reverse();
        if (q.TryGetValue("after", out var after) && after.ToString() is { Length: > 0 } a)
        {
            var list = items.ToList();
            var at = list.FindIndex(i => i.Id == a);
            if (at < 0)
            {
                throw ApiException.BadRequest($"No input item with id '{a}' in response '{id}'.", "after");
            }

            items = list.Skip(at + 1);
        }

        var all = items.ToList();
        var page = all.Take(limit).ToList();
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            foreach (var item in page)
            {
                w.WriteRawValue(item.Json, skipInputValidation: true);
            }

            w.WriteEndArray();
            WriteId(w, "first_id", page.Count > 0 ? page[0].Id : null);
            WriteId(w, "last_id", page.Count > 0 ? page[^1].Id : null);
            w.WriteBoolean("has_more", all.Count > page.Count);
            w.WriteEndObject();
        }

        return Results.Bytes(buffer.WrittenMemory.ToArray(), "application/json");
    }

    private static void WriteId(Utf8JsonWriter w, string name, string? id)
    {
        if (id is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, id);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1401, Level = LogLevel.Information, Message = "Responses: skipped tools this server cannot run: {Tools}")]
        public static partial void SkippedTools(ILogger logger, string tools);

        [LoggerMessage(EventId = 1402, Level = LogLevel.Warning, Message = "Responses: {Count} reasoning item(s) with encrypted_content that does not open with this server's key were ignored")]
        public static partial void UnopenedReasoning(ILogger logger, int count);

        [LoggerMessage(EventId = 1404, Level = LogLevel.Information, Message = "Responses: truncation auto dropped the {Count} oldest input message(s) to fit the context")]
        public static partial void Truncated(ILogger logger, int count);

    }
}
