using System.Text;
using System.Text.Json;
using YoutuServer.Api.OpenAI.Chat;
using YoutuServer.Api.OpenAI.Dtos;
using YoutuServer.Generation;
using YoutuServer.Hosting;
using YoutuServer.Http;
using YoutuServer.Http.Sse;
using YoutuServer.Operations;

namespace YoutuServer.Api.OpenAI.Completions;

/// <summary>POST /v1/completions (legacy): a raw prompt (text or token ids), text out, no template and no parsing.</summary>
internal static class CompletionsEndpoint
{
    internal static async Task HandleAsync(HttpContext http, EngineHost host, GenerationPlanner planner, RequestTelemetry telemetry)
    {
        var r = await RequestBody.ReadAsync(http, ApiJsonContext.Wire.CompletionRequest);
        GenerationRun run;
        try
        {
            ModelResolver.Check(host, r.Model);
            var intent = ToIntent(r, host.Engine.VocabSize);
            var plan = await planner.PlanAsync(intent with { Tenant = http.Tenant() }, http.RequestAborted);
            telemetry.Begin(http, host.ServedModelId, plan.PromptTokens, r.Stream ?? false);
            run = GenerationRun.Start(host.Engine, plan, http.RequestAborted, telemetry);
        }
        catch (IntentException e)
        {
            throw OpenAIErrors.ToApi(e, OpenAIErrors.CompletionFields);
        }

        var id = Ids.Completion();
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (r.Stream == true)
        {
            await StreamAsync(http, host, run, r.StreamOptions?.IncludeUsage == true, id, created, telemetry);
        }
        else
        {
            await CompleteAsync(http, host, run, id, created, telemetry);
        }
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
            Stop = ChatRequestMapper.ParseStop(r.Stop),
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

    private static async Task CompleteAsync(HttpContext http, EngineHost host, GenerationRun run, string id, long created, RequestTelemetry telemetry)
    {
        var ct = http.RequestAborted;
        await run.CompleteAsync(ct);
        if (run.Error is { } error)
        {
            throw OpenAIErrors.GenerationFailed(error);
        }

        var echo = run.Plan.Echo ?? "";
        var usage = run.Usage;
        var response = new CompletionResponse
        {
            Id = id,
            Created = created,
            Model = run.Plan.ModelId,
            SystemFingerprint = Ids.Fingerprint,
            Choices = run.Choices.Select(c => new CompletionChoice { Index = c.Index, Text = echo + c.Output.Content, FinishReason = Finish(c) }).ToList(),
            Usage = Usage(usage),
            Timings = TimingsDto.From(usage),
        };
        telemetry.End(http, 200, usage);
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, response, ApiJsonContext.Wire.CompletionResponse, ct);
    }

    private static async Task StreamAsync(HttpContext http, EngineHost host, GenerationRun run, bool includeUsage, string id, long created, RequestTelemetry telemetry)
    {
        var ct = http.RequestAborted;
        var sse = new SseWriter(http.Response);
        var chunk = new CompletionResponse { Id = id, Created = created, Model = run.Plan.ModelId, SystemFingerprint = Ids.Fingerprint };
        var choice = new CompletionChoice();
        chunk.Choices.Add(choice);
        try
        {
            if (run.Plan.Echo is { } echo)
            {
                foreach (var c in run.Choices)
                {
                    choice.Index = c.Index;
                    choice.Text = echo;
                    await sse.WriteAsync(chunk, ApiJsonContext.Wire.CompletionResponse, flush: false, ct);
                }
            }

            // Held-back text released at the end of a choice goes out with its finish reason, in one chunk.
            var tail = new StringBuilder();
            await foreach (var r in run.ReadAsync(null, ct))
            {
                switch (r.Kind)
                {
                    case ResultKind.Output when !run.Choices[r.Choice].Finished:
                        choice.Index = r.Choice;
                        choice.Text = r.Output.Text;
                        choice.FinishReason = null;
                        await sse.WriteAsync(chunk, ApiJsonContext.Wire.CompletionResponse, flush: false, ct);
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
                            await sse.WriteAsync(chunk, ApiJsonContext.Wire.CompletionResponse, flush: true, ct);
                        }

                        tail.Clear();
                        break;
                    case ResultKind.Flush:
                        await sse.FlushAsync(ct);
                        break;
                }
            }

            var usage = run.Usage;
            if (run.Error is { } error)
            {
                await OpenAIErrorShape.Instance.WriteEventAsync(sse, OpenAIErrors.GenerationFailed(error), ct);
            }
            else if (includeUsage)
            {
                var u = new CompletionResponse { Id = id, Created = created, Model = run.Plan.ModelId, SystemFingerprint = Ids.Fingerprint, Choices = [], Usage = Usage(usage), Timings = TimingsDto.From(usage) };
                await sse.WriteAsync(u, ApiJsonContext.Wire.CompletionResponse, false, ct);
            }

            await sse.WriteDoneAsync(ct);
            telemetry.End(http, 200, usage);
        }
        catch (OperationCanceledException e) when (ct.IsCancellationRequested || e.CancellationToken.IsCancellationRequested)
        {
            run.Cancel();
            telemetry.End(http, 499, run.Usage);
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
