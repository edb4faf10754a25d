using System.Text.Json;
using YoutuServer.Api.Chat;
using YoutuServer.Api.Dtos;
using YoutuServer.Api.Sse;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Hosting;

namespace YoutuServer.Api;

/// <summary>The HTTP surface: OpenAI routes, tokenizer utilities, health.</summary>
public static class ApiEndpoints
{
    public static void Map(WebApplication app)
    {
        // Client mistakes are ApiExceptions: write them here so they never reach the 500 handler or its error log.
        app.Use(async (http, next) =>
        {
            try
            {
                await next(http);
            }
            catch (ApiException e)
            {
                Operations.RequestObserver.Refused(http, e);
                await ErrorWriter.WriteAsync(http, e);
            }
            catch (BadHttpRequestException e) when (e.StatusCode == 413)
            {
                await ErrorWriter.WriteAsync(http, new ApiException(413, "The request body is too large.", "invalid_request_error", null, "request_too_large"));
            }
            catch (InvalidOperationException e) when (e.TargetSite?.DeclaringType?.Assembly == typeof(JsonElement).Assembly)
            {
                // JsonElement fields (content, stop, prompt, tools, ...) are transcoded lazily: invalid UTF-8 or an
                // unpaired surrogate escape inside them throws here, during planning, not while parsing the body.
                var bad = new ApiException(400, "The request body is not valid UTF-8 JSON (invalid UTF-8 or an unpaired surrogate escape in a string).", "invalid_request_error", null, "invalid_json");
                Operations.RequestObserver.Refused(http, bad);
                await ErrorWriter.WriteAsync(http, bad);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException
                && (http.RequestAborted.IsCancellationRequested || (e as OperationCanceledException)?.CancellationToken.IsCancellationRequested == true))
            {
                // The client went away — possibly noticed by a write (the role chunk, a JSON body) before
                // RequestAborted fired. Nothing to answer and not a server error; the engine drops the request
                // through its RequestAborted registration.
                http.Items["youtu.status"] = 499;
            }
        });

        app.MapPost("/v1/chat/completions", ChatCompletionsEndpoint.HandleAsync).WithName("CreateChatCompletion")
            .WithSummary("Chat completion (JSON, or SSE with stream=true)")
            .WithDescription("Youtu chat template, thinking (reasoning_content), Hermes tool calls (tool_calls), grammar-enforced tool_choice and response_format. " +
                "With stream=true the response is text/event-stream: `data: {chat.completion.chunk}` events, an optional usage chunk, then `data: [DONE]`.")
            .Accepts<ChatCompletionRequest>("application/json")
            .Produces<ChatCompletionResponse>(200, "application/json", "text/event-stream")
            .WithErrors(400, 401, 404, 413, 429, 503);
        app.MapPost("/v1/completions", CompletionsAsync).WithName("CreateCompletion")
            .WithSummary("Legacy text completion (JSON, or SSE with stream=true)")
            .Accepts<CompletionRequest>("application/json")
            .Produces<CompletionResponse>(200, "application/json", "text/event-stream")
            .WithErrors(400, 401, 404, 413, 429, 503);
        app.MapGet("/v1/models", (EngineHost host) => Json(ModelsList(host), ApiJsonContext.Wire.ModelList)).WithName("ListModels")
            .WithSummary("Models served").Produces<ModelList>(200);
        app.MapGet("/v1/models/{id}", (string id, EngineHost host) =>
        {
            ModelResolver.Check(host, id);
            return Json(ModelsList(host).Data[0], ApiJsonContext.Wire.ModelCard);
        }).WithName("RetrieveModel").WithSummary("One model").Produces<ModelCard>(200).WithErrors(404);
        app.MapPost("/tokenize", TokenizeAsync).WithName("Tokenize").WithSummary("Text to token ids")
            .Accepts<TokenizeRequest>("application/json").Produces<TokenizeResponse>(200).WithErrors(400);
        app.MapPost("/detokenize", DetokenizeAsync).WithName("Detokenize").WithSummary("Token ids to text")
            .Accepts<DetokenizeRequest>("application/json").Produces<DetokenizeResponse>(200).WithErrors(400);
        app.MapPost("/apply-template", ApplyTemplateAsync).WithName("ApplyTemplate").WithSummary("The exact prompt a chat request renders to")
            .Accepts<ChatCompletionRequest>("application/json").Produces<ApplyTemplateResponse>(200).WithErrors(400);

        // Accepts() above makes routing match only JSON bodies (and documents them); these undocumented,
        // lower-priority twins take every other content type so the body reader answers with the usual 400.
        app.MapPost("/v1/chat/completions", ChatCompletionsEndpoint.HandleAsync).WithOrder(1).ExcludeFromDescription();
        app.MapPost("/v1/completions", CompletionsAsync).WithOrder(1).ExcludeFromDescription();
        app.MapPost("/tokenize", TokenizeAsync).WithOrder(1).ExcludeFromDescription();
        app.MapPost("/detokenize", DetokenizeAsync).WithOrder(1).ExcludeFromDescription();
        app.MapPost("/apply-template", ApplyTemplateAsync).WithOrder(1).ExcludeFromDescription();

        app.MapGet("/health/live", () => Results.Text("{\"status\":\"ok\"}", "application/json"));
        app.MapGet("/health/ready", Ready);
        app.MapGet("/health", Ready);

        app.MapFallback((HttpContext http) => ErrorWriter.Result(new ApiException(404,
            $"Unknown route {http.Request.Method} {http.Request.Path}.", "invalid_request_error", null, "not_found")));
    }

    /// <summary>Documents OpenAI-shaped error bodies for the given statuses.</summary>
    private static RouteHandlerBuilder WithErrors(this RouteHandlerBuilder builder, params int[] statuses)
    {
        foreach (var s in statuses)
        {
            builder.Produces<ErrorResponse>(s, "application/json");
        }

        return builder;
    }

    private static IResult Ready(EngineHost host)
    {
        if (!host.IsReady)
        {
            return Results.Text("{\"status\":\"loading\"}", "application/json", statusCode: 503);
        }

        var stats = host.Engine.Stats;
        return stats.Draining || !stats.Running
            ? Results.Text("{\"status\":\"draining\"}", "application/json", statusCode: 503)
            : Results.Text($"{{\"status\":\"ok\",\"model\":{JsonSerializer.Serialize(host.ServedModelId, ApiJsonContext.Wire.String)},\"queue_depth\":{stats.QueueDepth},\"active_sequences\":{stats.ActiveSequences},\"backend\":{JsonSerializer.Serialize(stats.Backend, ApiJsonContext.Wire.String)},\"gpu_layers\":{stats.GpuLayers}}}", "application/json");
    }

    internal static IResult Json<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        => Results.Text(JsonSerializer.Serialize(value, type), "application/json");

    private static ModelList ModelsList(EngineHost host)
    {
        var created = new DateTimeOffset(File.GetLastWriteTimeUtc(host.Engine.Model.Path)).ToUnixTimeSeconds();
        return new ModelList
        {
            Data =
            [
                new ModelCard
                {
                    Id = host.ServedModelId,
                    Created = created,
                    ContextLength = host.Engine.Options.CtxSize,
                    Description = host.IsDemoModel ? "synthesized demo model (random weights)" : host.CatalogEntry?.Description,
                },
            ],
        };
    }

    private static async Task<IResult> TokenizeAsync(HttpContext http, EngineHost host)
    {
        var r = await RequestBody.ReadAsync(http, ApiJsonContext.Wire.TokenizeRequest);
        ModelResolver.Check(host, r.Model);
        var text = r.Content ?? r.Prompt ?? throw ApiException.BadRequest("'content' is required.", "content");
        // Bounded (4x the larger of the served and the trained context, at least 64k), so that a body of alternating
        // markers and text cannot keep a request thread tokenizing for minutes; documents longer than the context
        // can still be counted.
        var limit = Math.Max(65_536, 4 * Math.Max(host.Engine.Options.CtxSize, host.Engine.Model.ContextTrain));
        var tokens = host.Engine.Model.TryTokenize(text, addSpecial: r.AddSpecial ?? false, parseSpecial: true, limit, out var atLeast)
            ?? throw ApiException.BadRequest(
                $"The text is too long to tokenize here: at least {atLeast} tokens, more than the {limit} this server allows.",
                "content", "context_length_exceeded");
        return Json(new TokenizeResponse
        {
            Tokens = tokens,
            Count = tokens.Length,
            Pieces = r.WithPieces == true ? tokens.Select(t => host.Engine.Detokenize([t], renderSpecial: true)).ToList() : null,
        }, ApiJsonContext.Wire.TokenizeResponse);
    }

    private static async Task<IResult> DetokenizeAsync(HttpContext http, EngineHost host)
    {
        var r = await RequestBody.ReadAsync(http, ApiJsonContext.Wire.DetokenizeRequest);
        ModelResolver.Check(host, r.Model);
        var tokens = r.Tokens ?? throw ApiException.BadRequest("'tokens' is required.", "tokens");
        var vocab = host.Engine.Model.VocabSize;
        for (var i = 0; i < tokens.Count; i++)
        {
            if ((uint)tokens[i] >= (uint)vocab)
            {
                throw ApiException.BadRequest($"tokens[{i}] = {tokens[i]} is outside the vocabulary (0..{vocab - 1}).", $"tokens[{i}]");
            }
        }

        return Json(new DetokenizeResponse { Content = host.Engine.Detokenize(tokens.ToArray(), renderSpecial: true) }, ApiJsonContext.Wire.DetokenizeResponse);
    }

    private static async Task<IResult> ApplyTemplateAsync(HttpContext http, ChatRequestPlanner planner)
    {
        var r = await RequestBody.ReadAsync(http, ApiJsonContext.Wire.ChatCompletionRequest);
        var plan = planner.Plan(r);
        return Json(new ApplyTemplateResponse { Prompt = plan.Prompt }, ApiJsonContext.Wire.ApplyTemplateResponse);
    }

    // ------------------------------------------------------------------ legacy completions

    private static async Task CompletionsAsync(HttpContext http, EngineHost host, ChatRequestPlanner planner, RequestTelemetry telemetry)
    {
        var r = await RequestBody.ReadAsync(http, ApiJsonContext.Wire.CompletionRequest);
        ModelResolver.Check(host, r.Model);
        var engine = host.Engine;
        var prompt = CompletionPrompt(r.Prompt, engine.Model.VocabSize, engine);
        var n = r.N ?? 1;
        if (n < 1 || n > engine.Options.Parallel)
        {
            throw ApiException.BadRequest($"'n' must be between 1 and {engine.Options.Parallel} on this server, got {n}.", "n");
        }

        if (r.Logprobs is { } lp && (lp < 0 || lp > 5))
        {
            throw ApiException.BadRequest("'logprobs' must be between 0 and 5 for completions.", "logprobs");
        }

        var sampling = planner.BuildSampling(r.Temperature, r.TopP, r.TopK, r.MinP, r.PresencePenalty, r.FrequencyPenalty, r.RepetitionPenalty, r.Seed, r.LogitBias, thinking: false);
        var maxTokens = planner.ResolveMaxTokens(null, r.MaxTokens ?? 16, prompt.Length, "max_tokens");
        ChatRequestPlanner.ValidateMinTokens(r.MinTokens, maxTokens);
        var generation = new GenerationRequest
        {
            Prompt = prompt,
            MaxTokens = maxTokens,
            MinTokens = r.MinTokens ?? 0,
            IgnoreEos = r.IgnoreEos ?? false,
            Stop = ChatRequestPlanner.ParseStop(r.Stop),
            N = n,
            Sampling = sampling,
        };
        telemetry.Begin(http, host.ServedModelId, prompt.Length, r.Stream ?? false);
        var handle = EngineErrors.Submit(engine, generation, http.RequestAborted);
        var id = Ids.Completion();
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var echo = r.Echo == true ? engine.Detokenize(prompt, renderSpecial: true) : null;
        var ct = http.RequestAborted;
        var texts = Enumerable.Range(0, n).Select(_ => new System.Text.StringBuilder(echo ?? "")).ToArray();
        var finish = new string?[n];
        var completionTokens = 0;
        GenerationUsage? usage = null;
        string? error = null;

        if (r.Stream == true)
        {
            var sse = new SseWriter(http.Response);
            var chunk = new CompletionResponse { Id = id, Created = created, Model = host.ServedModelId, SystemFingerprint = Ids.Fingerprint };
            var choice = new CompletionChoice();
            chunk.Choices.Add(choice);
            try
            {
                if (echo is not null)
                {
                    for (var i = 0; i < n; i++)
                    {
                        choice.Index = i;
                        choice.Text = echo;
                        await sse.WriteAsync(chunk, ApiJsonContext.Wire.CompletionResponse, flush: false, ct);
                    }
                }

                await foreach (var e in handle.ReadAllAsync(ct))
                {
                    switch (e)
                    {
                        case TokenEvent t when t.Text.Length > 0:
                            telemetry.Token();
                            choice.Index = t.Choice;
                            choice.Text = t.Text;
                            choice.FinishReason = null;
                            await sse.WriteAsync(chunk, ApiJsonContext.Wire.CompletionResponse, flush: !handle.Events.TryPeek(out _), ct);
                            break;
                        case ChoiceFinishedEvent f:
                            error ??= f.Error;
                            completionTokens += f.CompletionTokens;
                            choice.Index = f.Choice;
                            choice.Text = f.Text;
                            choice.FinishReason = f.Reason == FinishReason.Length ? "length" : "stop";
                            if (f.Error is null)
                            {
                                await sse.WriteAsync(chunk, ApiJsonContext.Wire.CompletionResponse, flush: true, ct);
                            }

                            break;
                        case RequestCompletedEvent c:
                            usage = c.Usage;
                            break;
                    }
                }

                if (error is not null)
                {
                    await sse.WriteAsync(new ErrorResponse { Error = new ErrorBody { Message = "Generation failed: " + error, Type = "server_error", Code = "generation_failed" } }, ApiJsonContext.Wire.ErrorResponse, false, ct);
                }
                else if (r.StreamOptions?.IncludeUsage == true)
                {
                    var u = new CompletionResponse { Id = id, Created = created, Model = host.ServedModelId, SystemFingerprint = Ids.Fingerprint, Choices = [], Usage = Usage(usage, completionTokens), Timings = TimingsDto.From(usage, completionTokens) };
                    await sse.WriteAsync(u, ApiJsonContext.Wire.CompletionResponse, false, ct);
                }

                await sse.WriteDoneAsync(ct);
                telemetry.End(http, 200, Usage(usage, completionTokens));
            }
            catch (OperationCanceledException e) when (ct.IsCancellationRequested || e.CancellationToken.IsCancellationRequested)
            {
                handle.Cancel();
                telemetry.End(http, 499, Usage(usage, completionTokens));
            }

            return;
        }

        await foreach (var e in handle.ReadAllAsync(ct))
        {
            switch (e)
            {
                case TokenEvent t:
                    telemetry.Token();
                    texts[t.Choice].Append(t.Text);
                    break;
                case ChoiceFinishedEvent f:
                    texts[f.Choice].Append(f.Text);
                    finish[f.Choice] = f.Reason == FinishReason.Length ? "length" : "stop";
                    completionTokens += f.CompletionTokens;
                    error ??= f.Error;
                    break;
                case RequestCompletedEvent c:
                    usage = c.Usage;
                    break;
            }
        }

        if (error is not null)
        {
            throw new ApiException(500, "Generation failed: " + error, "server_error", null, "generation_failed");
        }

        var response = new CompletionResponse
        {
            Id = id,
            Created = created,
            Model = host.ServedModelId,
            SystemFingerprint = Ids.Fingerprint,
            Choices = Enumerable.Range(0, n).Select(i => new CompletionChoice { Index = i, Text = texts[i].ToString(), FinishReason = finish[i] }).ToList(),
            Usage = Usage(usage, completionTokens),
            Timings = TimingsDto.From(usage, completionTokens),
        };
        telemetry.End(http, 200, response.Usage);
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, response, ApiJsonContext.Wire.CompletionResponse, ct);
    }

    private static UsageDto Usage(GenerationUsage? usage, int completion) => new()
    {
        PromptTokens = usage?.PromptTokens ?? 0,
        CompletionTokens = completion,
        TotalTokens = (usage?.PromptTokens ?? 0) + completion,
        PromptTokensDetails = new PromptTokensDetails { CachedTokens = usage?.CachedTokens ?? 0 },
    };

    /// <summary>Prompt as a string, a one-element string array, or token ids (flat or one nested array).</summary>
    private static int[] CompletionPrompt(JsonElement? prompt, int vocab, Engine.InferenceEngine engine)
    {
        if (prompt is not { } p || p.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            throw ApiException.BadRequest("'prompt' is required.", "prompt");
        }

        if (p.ValueKind == JsonValueKind.String)
        {
            var s = p.GetString()!;
            if (s.Length == 0)
            {
                throw ApiException.BadRequest("'prompt' must not be empty.", "prompt");
            }

            var ctx = engine.Options.CtxSize;
            return engine.Model.TryTokenize(s, addSpecial: true, parseSpecial: true, ctx - 1, out var atLeast)
                ?? throw ApiException.BadRequest(
                    $"This model's maximum context length is {ctx} tokens. However, your prompt resulted in at least {atLeast} tokens. Please reduce the length of the prompt.",
                    "prompt", "context_length_exceeded");
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

            return CompletionPrompt(first, vocab, engine);
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

        return [.. tokens];
    }
}
