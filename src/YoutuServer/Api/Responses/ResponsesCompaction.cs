using System.Text.Json;
using System.Text.Json.Serialization;
using YoutuServer.Api.Common;
using YoutuServer.Api.Serving;
using YoutuServer.Chat.Messages;
using YoutuServer.Generation;
using YoutuServer.Hosting;
using YoutuServer.Http;
using YoutuServer.Operations;
using YoutuServer.State;

namespace YoutuServer.Api.Responses;

/// <summary>
/// <c>POST /v1/responses/compact</c>: the model condenses a conversation (<c>input</c> items, optionally after
/// <c>previous_response_id</c>'s) into a summary. The answer keeps the user messages as they were and adds one
/// <c>compaction</c> item whose <c>encrypted_content</c> is the summary sealed with the reasoning key, so only a server
/// with that key can read it. Sent back as input in place of the history it replaced, the item is rendered as a system
/// message with the summary (the Youtu template puts system text first, after the instructions).
/// </summary>
internal static class ResponsesCompaction
{
    /// <summary>Output bound of the summary when the request sets no max_output_tokens.</summary>
    public const int DefaultSummaryTokens = 1024;

    /// <summary>What the model is asked after the history (the one instruction of a compaction run).</summary>
    public const string Instruction =
        "Condense the conversation above into a summary that lets you continue it without the original messages. " +
        "Keep: the user's goals and constraints, facts and decisions established, every tool call made with the essential " +
        "part of its result, files, names and values that later steps need, and what remains to be done. " +
        "Write it as notes for yourself; do not answer the user.";

    /// <summary>How a summary is shown to the model when a compaction item comes back.</summary>
    public const string Heading = "Summary of the earlier conversation (compacted):\n";

    public static string NewId() => "cmp_" + Ids.Random24();

    /// <summary>
    /// The seal of compaction items: the reasoning key, bound to this kind, the caller's tenant and the served model
    /// (a reasoning item's seal does not open as a summary, nor one from another key, tenant or model).
    /// </summary>
    public static SealScope Scope(ReasoningSeal seal, TenantId tenant, string model) => seal.For(SealKind.ResponsesCompaction, tenant.Value, model);

    /// <summary>The message a compaction item renders as.</summary>
    public static ChatMessage Render(string summary) => new(ChatRoles.System, Heading + summary);

    private static readonly JsonElement EmptyInput = JsonDocument.Parse("[]").RootElement.Clone();

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/responses/compact", CompactAsync).WithName("CompactResponse").WithTags("Responses")
            .WithSummary("Condenses a conversation into user messages plus one sealed compaction item")
            .WithDescription("Body: model (required), input, instructions, previous_response_id, max_output_tokens (summary bound, default 1024). " +
                "Answer: {\"object\":\"response.compaction\",\"output\":[user messages..., {\"type\":\"compaction\",\"encrypted_content\":...}],\"usage\":{...}}. " +
                "Send the output back as input (plus new items) in place of the history.")
            .Accepts<ResponsesRequest>("application/json")
            .Produces<CompactedResponse>(200, "application/json")
            .Produces<ErrorResponse>(400, "application/json").Produces<ErrorResponse>(401, "application/json")
            .Produces<ErrorResponse>(404, "application/json").Produces<ErrorResponse>(429, "application/json")
            .Produces<ErrorResponse>(503, "application/json");
        app.MapPost("/v1/responses/compact", CompactAsync).WithOrder(1).ExcludeFromDescription();
    }

    private static async Task<IResult> CompactAsync(HttpContext http, EngineHost host, GenerationPlanner planner, IResponseStore store, ReasoningSeal seal)
    {
        var telemetry = new RequestTelemetry(http.Record());
        var request = await RequestBody.ReadAsync(http, ResponsesJsonContext.Wire.ResponsesRequest);
        var ct = http.RequestAborted;
        if (string.IsNullOrEmpty(request.Model))
        {
            throw new ApiException(400, "Missing required parameter: 'model'.", "invalid_request_error", "model", "missing_required_parameter");
        }

        if (request.Input is null && request.PreviousResponseId is null)
        {
            throw new ApiException(400, "Nothing to compact: send 'input' (the conversation) or 'previous_response_id'.", "invalid_request_error", "input", "missing_required_parameter");
        }

        if (request.MaxOutputTokens is < 16)
        {
            throw ApiException.BadRequest("'max_output_tokens' of a compaction must be at least 16.", "max_output_tokens");
        }

        var tenant = http.Tenant();
        ResponsesContinuation? earlier = null;
        try
        {
            if (request.PreviousResponseId is { } prev)
            {
                earlier = await store.GetAsync(tenant, prev, ct) is { } stored ? ResponsesContinuation.FromBytes(stored.Continuation) : null;
                if (earlier is null)
                {
                    throw new ApiException(404, $"Previous response with id '{prev}' not found.", "invalid_request_error", "previous_response_id", "previous_response_not_found");
                }
            }
        }
        catch (StateUnavailableException e)
        {
            throw IntentErrors.Unavailable(e);
        }

        IReadOnlyList<ChatMessage> previous = earlier?.Conversation ?? [];
        // The conversation as a create request would render it, without tools: only the text is condensed.
        var summarize = new ResponsesRequest
        {
            Model = request.Model,
            Input = request.Input ?? EmptyInput,
            Instructions = request.Instructions,
            PreviousResponseId = request.PreviousResponseId,
            Temperature = request.Temperature,
            TopP = request.TopP,
            Seed = request.Seed,
        };
        var compaction = Scope(seal, tenant, host.ServedModelId);
        var mapped = ResponsesRequestMapper.Map(summarize, previous, seal.For(SealKind.ResponsesEncryptedContent, tenant.Value, host.ServedModelId), compaction);
        GenerationRun run;
        try
        {
            ModelResolver.Check(host, request.Model);
            var intent = mapped.Intent with
            {
                Messages = [.. mapped.Intent.Messages, new ChatMessage(ChatRoles.User, Instruction)],
                Tools = [],
                ToolChoice = ToolChoice.None,
                Thinking = new ThinkingIntent(Enabled: false),
                Output = OutputConstraint.Text,
                MaxTokens = request.MaxOutputTokens ?? DefaultSummaryTokens,
                KnownPrefix = earlier?.Prefix,
                Tenant = tenant,
            };
            var plan = await planner.PlanAsync(intent, ct);
            telemetry.Begin(plan.ModelId, plan.PromptTokens, stream: false);
            run = GenerationRun.Start(host.Engine, plan, ct, telemetry);
        }
        catch (IntentException e)
        {
            throw IntentErrors.ToApi(e, mapped.Names);
        }

        await run.CompleteAsync(ct);
        if (run.Error is { } error)
        {
            throw IntentErrors.GenerationFailed(error);
        }

        var summary = (run.Choices[0].Output.Content ?? "").Trim();
        var output = new List<ResponseItem>();
        foreach (var m in previous.Concat(mapped.NewMessages))
        {
            if (m.Role == ChatRoles.User && m.Content is { } text)
            {
                output.Add(new ResponseItem
                {
                    Id = ResponseIds.Message(),
                    Type = "message",
                    Role = "user",
                    Status = "completed",
                    Content = [new ContentPart { Type = "input_text", Text = text }],
                });
            }
        }

        output.Add(new ResponseItem { Id = NewId(), Type = "compaction", EncryptedContent = compaction.Seal(summary) });
        telemetry.End(200, run.Usage);
        return WireJson.Result(new CompactedResponse
        {
            Id = ResponseIds.Response(),
            CreatedAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            Output = output,
            Usage = ResponsesEndpoint.Usage(run.Usage),
        }, CompactionJsonContext.Wire.CompactedResponse);
    }
}

/// <summary>The answer of <c>POST /v1/responses/compact</c>.</summary>
internal sealed class CompactedResponse
{
    [JsonPropertyName("id")] public required string Id { get; set; }
    [JsonPropertyName("object")] public string Object { get; set; } = "response.compaction";
    [JsonPropertyName("created_at")] public long CreatedAt { get; set; }
    [JsonPropertyName("output")] public List<ResponseItem> Output { get; set; } = [];
    [JsonPropertyName("usage")] public required ResponseUsage Usage { get; set; }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, MaxDepth = 64)]
[JsonSerializable(typeof(CompactedResponse))]
internal sealed partial class CompactionJsonContext : JsonSerializerContext
{
    public static CompactionJsonContext Wire { get; } = new(new JsonSerializerOptions
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        MaxDepth = 64,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
