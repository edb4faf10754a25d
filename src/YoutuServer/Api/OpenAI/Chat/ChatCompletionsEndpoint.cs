using System.Text.Json;
using YoutuServer.Api.OpenAI.Dtos;
using YoutuServer.Chat.Parsing;
using YoutuServer.Generation;
using YoutuServer.Hosting;
using YoutuServer.Http;
using YoutuServer.Http.Sse;
using YoutuServer.Operations;

namespace YoutuServer.Api.OpenAI.Chat;

/// <summary>POST /v1/chat/completions: the OpenAI request mapped to an intent; the result stream written as JSON or SSE chunks.</summary>
internal static class ChatCompletionsEndpoint
{
    private static readonly TimeSpan KeepAliveEvery = TimeSpan.FromSeconds(5);

    internal static async Task HandleAsync(HttpContext http, EngineHost host, GenerationPlanner planner, RequestTelemetry telemetry)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Wire.ChatCompletionRequest);
        var names = ChatRequestMapper.Names(request);
        GenerationRun run;
        try
        {
            ModelResolver.Check(host, request.Model);
            var plan = await planner.PlanAsync(ChatRequestMapper.ToIntent(request) with { Tenant = http.Tenant() }, http.RequestAborted);
            telemetry.Begin(http, host.ServedModelId, plan.PromptTokens, request.Stream ?? false);
            run = GenerationRun.Start(host.Engine, plan, http.RequestAborted, telemetry);
        }
        catch (IntentException e)
        {
            throw OpenAIErrors.ToApi(e, names);
        }

        var id = Ids.Chat();
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (request.Stream ?? false)
        {
            await StreamAsync(http, host, run, request.StreamOptions?.IncludeUsage ?? false, id, created, telemetry);
        }
        else
        {
            await CompleteAsync(http, host, run, id, created, telemetry);
        }
    }

    private static async Task CompleteAsync(HttpContext http, EngineHost host, GenerationRun run, string id, long created, RequestTelemetry telemetry)
    {
        var ct = http.RequestAborted;
        await run.CompleteAsync(ct);
        if (run.Error is { } error)
        {
            throw OpenAIErrors.GenerationFailed(error);
        }

        var usage = run.Usage;
        var response = new ChatCompletionResponse
        {
            Id = id,
            Created = created,
            Model = run.Plan.ModelId,
            SystemFingerprint = Ids.Fingerprint,
            Choices = run.Choices.Select(ToChoice).ToList(),
            Usage = ToUsage(usage),
            Timings = TimingsDto.From(usage),
        };
        telemetry.End(http, 200, usage);
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, response, ApiJsonContext.Wire.ChatCompletionResponse, ct);
    }

    private static async Task StreamAsync(HttpContext http, EngineHost host, GenerationRun run, bool includeUsage, string id, long created, RequestTelemetry telemetry)
    {
        var ct = http.RequestAborted;
        var sse = new SseWriter(http.Response);
        var chunk = new ChatCompletionChunk { Id = id, Created = created, Model = run.Plan.ModelId, SystemFingerprint = Ids.Fingerprint };
        var writer = new ChunkWriter(sse, chunk, ct);
        var choices = run.Choices;

        // The role chunk goes out at once: the client sees the request accepted even while it waits in the queue.
        foreach (var c in choices)
        {
            await writer.WriteAsync(c.Index, new ChunkDelta { Role = "assistant", Content = "" }, null, null, flush: c.Index == choices.Count - 1);
        }

        try
        {
            await foreach (var r in run.ReadAsync(KeepAliveEvery, ct))
            {
                switch (r.Kind)
                {
                    case ResultKind.KeepAlive:
                        await sse.WriteKeepAliveAsync(ct);
                        break;
                    case ResultKind.Output:
                        writer.Enqueue(r.Choice, Delta(r.Output), r.Logprob is { } lp ? Logprobs([lp]) : null);
                        break;
                    case ResultKind.Logprobs:
                        writer.Enqueue(r.Choice, new ChunkDelta { Content = "" }, Logprobs([r.Logprob!]));
                        break;
                    case ResultKind.ChoiceFinished:
                        var choice = choices[r.Choice];
                        if (choice.Error is null)
                        {
                            await writer.WriteAsync(r.Choice, new ChunkDelta(), null, FinishReason(choice), flush: false);
                        }

                        break;
                    case ResultKind.Flush:
                        await writer.DrainAsync();
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
                var u = new ChatCompletionChunk { Id = id, Created = created, Model = run.Plan.ModelId, SystemFingerprint = Ids.Fingerprint, Choices = [], Usage = ToUsage(usage), Timings = TimingsDto.From(usage) };
                await sse.WriteAsync(u, ApiJsonContext.Wire.ChatCompletionChunk, flush: false, ct);
            }

            await sse.WriteDoneAsync(ct);
            telemetry.End(http, 200, usage);
        }
        catch (OperationCanceledException e) when (ct.IsCancellationRequested || e.CancellationToken.IsCancellationRequested)
        {
            // Client gone: the engine already saw the token and drops the sequence at its next step.
            run.Cancel();
            telemetry.End(http, 499, run.Usage);
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

    /// <summary>Reuses one chunk object per stream; queued writes are flushed together.</summary>
    private sealed class ChunkWriter(SseWriter sse, ChatCompletionChunk chunk, CancellationToken ct)
    {
        private readonly List<(int Index, ChunkDelta Delta, LogprobsDto? Logprobs, string? Finish)> queue = [];
        private readonly ChunkChoice choice = new();

        public void Enqueue(int index, ChunkDelta delta, LogprobsDto? logprobs) => queue.Add((index, delta, logprobs, null));

        public async ValueTask WriteAsync(int index, ChunkDelta delta, LogprobsDto? logprobs, string? finish, bool flush)
        {
            queue.Add((index, delta, logprobs, finish));
            await DrainAsync();
            if (flush)
            {
                await sse.FlushAsync(ct);
            }
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
                await sse.WriteAsync(chunk, ApiJsonContext.Wire.ChatCompletionChunk, flush: false, ct);
            }

            queue.Clear();
        }
    }
}

internal static class Ids
{
    public static readonly string Fingerprint = "fp_youtu_" + Native.LlamaNativeLibrary.PinnedVersion.Replace(".", "", StringComparison.Ordinal).Replace("-dev", "", StringComparison.Ordinal);

    public static string Chat() => "chatcmpl-" + Random24();

    public static string Completion() => "cmpl-" + Random24();

    /// <summary>24 random characters of [a-zA-Z0-9], for ids of every wire format.</summary>
    public static string Random24() => string.Create(24, 0, static (span, _) =>
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        for (var i = 0; i < span.Length; i++)
        {
            span[i] = alphabet[System.Security.Cryptography.RandomNumberGenerator.GetInt32(alphabet.Length)];
        }
    });
}
