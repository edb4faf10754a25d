using System.Text;
using System.Text.Json;
using YoutuServer.Api.Common;
using YoutuServer.Generation;
using YoutuServer.Hosting;
using YoutuServer.Http;
using System.Text.Json.Serialization.Metadata;
using YoutuServer.Api.Serving;
using YoutuServer.Operations;

namespace YoutuServer.Api.Completions;

/// <summary>POST /v1/completions (legacy): a raw prompt (text or token ids), text out, no template and no parsing.</summary>
internal sealed class CompletionsEndpoint(EngineHost host) : GenerationAdapter<CompletionRequest>
{
    private static readonly GenerationOperation Span = new("completions", "text_completion");

    public override JsonTypeInfo<CompletionRequest> RequestType => CompletionsJsonContext.Wire.CompletionRequest;
    public override GenerationOperation Operation => Span;
    public override IErrorShape ErrorShape => OpenAIErrorShape.Instance;
    /// <summary>Legacy completions' names for the intent's fields.</summary>
    public override FieldNamer Names { get; } = (field, index) => field switch
    {
        IntentField.Prompt => index is { } i ? $"prompt[{i}]" : "prompt",
        _ => FieldNames.SnakeCase(field, index),
    };

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGeneration("/v1/completions", ActivatorUtilities.CreateInstance<CompletionsEndpoint>(app.ServiceProvider)).WithName("CreateCompletion")
            .WithSummary("Legacy text completion (JSON, or SSE with stream=true)")
            .Produces<CompletionResponse>(200, "application/json", "text/event-stream")
            .WithOpenAIErrors(400, 401, 404, 413, 429, 503);

    public override string? Model(CompletionRequest request) => request.Model;

    public override ValueTask<GenerationCall> PrepareAsync(GenerationContext context, CompletionRequest request)
    {
        var stream = request.Stream == true;
        var intent = ToIntent(request, host.Engine.VocabSize);
        return ValueTask.FromResult(new GenerationCall(intent, stream, new CompletionResultWriter(stream, request.StreamOptions?.IncludeUsage == true)));
    }

    private static GenerationIntent ToIntent(CompletionRequest r, int vocab)
    {
        if (r.Logprobs is { } lp && (lp < 0 || lp > 5))
        {
            throw ApiException.BadRequest("'logprobs' must be between 0 and 5 for completions.", "logprobs");
        }

        return new GenerationIntent
        {
            Model = r.Model,
            Raw = Prompt(r.Prompt, vocab) with { Echo = r.Echo == true },
            Sampling = r.Sampling(),
            Stop = StopSequences.Parse(r.Stop),
            N = r.N ?? 1,
            MaxTokens = r.MaxTokens ?? 16,
            MinTokens = r.MinTokens,
            IgnoreEos = r.IgnoreEos ?? false,
            CacheSalt = r.CacheSalt,
            CacheKey = r.PromptCacheKey,
        };
    }

    /// <summary>Prompt as a string, a one-element string array, or token ids (flat or one nested array).</summary>
    private static RawPrompt Prompt(JsonElement? prompt, int vocab)
    {
        if (prompt is not { } p || p.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            throw ApiException.BadRequest("'prompt' is required.", "prompt");
        }

        if (p.ValueKind == JsonValueKind.String)
        {
            return new RawPrompt(p.GetString()!, null);
        }

        if (p.ValueKind != JsonValueKind.Array || p.GetArrayLength() == 0)
        {
            throw ApiException.BadRequest("'prompt' must be a string, an array of strings, or an array of token ids.", "prompt");
        }

        var first = p[0];
        if (first.ValueKind == JsonValueKind.String || first.ValueKind == JsonValueKind.Array)
        {
            if (p.GetArrayLength() > 1)
            {
                throw ApiException.BadRequest("Batched prompts are not supported: send one prompt per request (use 'n' for several completions).", "prompt");
            }

            return Prompt(first, vocab);
        }

        var tokens = new List<int>();
        var i = 0;
        foreach (var e in p.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out var t) || t < 0 || t >= vocab)
            {
                throw ApiException.BadRequest($"prompt[{i}] must be a token id in [0, {vocab - 1}].", $"prompt[{i}]");
            }

            tokens.Add(t);
            i++;
        }

        return new RawPrompt(null, tokens);
    }

    private static string Finish(ChoiceOutput c) => c.Finish == ChoiceFinish.Length ? "length" : "stop";

    /// <summary>The result as one text_completion, or as chunks of it (held-back text goes out with its finish reason).</summary>
    private sealed class CompletionResultWriter(bool stream, bool includeUsage) : ResultWriter(stream)
    {
        private readonly string id = Ids.Completion();
        private readonly long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        private readonly CompletionChoice choice = new();
        private readonly StringBuilder tail = new();
        private CompletionResponse? chunk;

        public override async ValueTask StartAsync(GenerationRun run, IResultSink sink, CancellationToken cancellationToken)
        {
            if (!Stream)
            {
                return;
            }

            chunk = new CompletionResponse { Id = id, Created = created, Model = run.Plan.ModelId, SystemFingerprint = Ids.Fingerprint };
            chunk.Choices.Add(choice);
            if (run.Plan.Echo is { } echo)
            {
                foreach (var c in run.Choices)
                {
                    choice.Index = c.Index;
                    choice.Text = echo;
                    await sink.WriteEventAsync(null, chunk, CompletionsJsonContext.Wire.CompletionResponse, cancellationToken);
                }
            }
        }

        public override async ValueTask OnResultAsync(GenerationRun run, ResultEvent r, IResultSink sink, CancellationToken cancellationToken)
        {
            if (chunk is null)
            {
                return;
            }

            switch (r.Kind)
            {
                case ResultKind.Output when !run.Choices[r.Choice].Finished:
                    choice.Index = r.Choice;
                    choice.Text = r.Output.Text;
                    choice.FinishReason = null;
                    await sink.WriteEventAsync(null, chunk, CompletionsJsonContext.Wire.CompletionResponse, cancellationToken);
                    break;
                case ResultKind.Output:
                    tail.Append(r.Output.Text);
                    break;
                case ResultKind.ChoiceFinished:
                    var c = run.Choices[r.Choice];
                    if (c.Error is null)
                    {
                        choice.Index = r.Choice;
                        choice.Text = tail.ToString();
                        choice.FinishReason = Finish(c);
                        await sink.WriteEventAsync(null, chunk, CompletionsJsonContext.Wire.CompletionResponse, cancellationToken);
                        await sink.FlushAsync(cancellationToken);
                    }

                    tail.Clear();
                    break;
            }
        }

        public override async ValueTask CompleteAsync(GenerationRun run, IResultSink sink, CancellationToken cancellationToken)
        {
            var usage = run.Usage;
            if (!Stream)
            {
                var echo = run.Plan.Echo ?? "";
                await sink.WriteBodyAsync(new CompletionResponse
                {
                    Id = id,
                    Created = created,
                    Model = run.Plan.ModelId,
                    SystemFingerprint = Ids.Fingerprint,
                    Choices = run.Choices.Select(c => new CompletionChoice { Index = c.Index, Text = echo + c.Output.Content, FinishReason = Finish(c) }).ToList(),
                    Usage = Usage(usage),
                    Timings = TimingsDto.From(usage),
                }, CompletionsJsonContext.Wire.CompletionResponse, cancellationToken);
                return;
            }

            if (includeUsage)
            {
                var u = new CompletionResponse { Id = id, Created = created, Model = run.Plan.ModelId, SystemFingerprint = Ids.Fingerprint, Choices = [], Usage = Usage(usage), Timings = TimingsDto.From(usage) };
                await sink.WriteEventAsync(null, u, CompletionsJsonContext.Wire.CompletionResponse, cancellationToken);
            }

            await sink.WriteDoneAsync(cancellationToken);
        }

        public override async ValueTask FailAsync(GenerationRun run, ApiException error, IResultSink sink, CancellationToken cancellationToken)
        {
            await sink.WriteEventAsync(null, OpenAIErrorShape.Body(error), OpenAIJsonContext.Wire.ErrorResponse, cancellationToken);
            await sink.WriteDoneAsync(cancellationToken);
        }
    }

    private static UsageDto Usage(UsageRecord usage) => new()
    {
        PromptTokens = usage.PromptTokens,
        CompletionTokens = usage.CompletionTokens,
        TotalTokens = usage.TotalTokens,
        PromptTokensDetails = new PromptTokensDetails { CachedTokens = usage.CachedTokens },
    };
}
