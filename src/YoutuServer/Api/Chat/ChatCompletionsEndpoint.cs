using System.Diagnostics;
using YoutuServer.Api.Dtos;
using YoutuServer.Api.Sse;
using YoutuServer.Chat.Parsing;
using YoutuServer.Engine;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Hosting;

namespace YoutuServer.Api.Chat;

/// <summary>POST /v1/chat/completions: JSON or SSE, from engine token events through the output parser.</summary>
public static class ChatCompletionsEndpoint
{
    private static readonly TimeSpan KeepAliveEvery = TimeSpan.FromSeconds(5);

    public static async Task HandleAsync(HttpContext http, EngineHost host, ChatRequestPlanner planner, RequestTelemetry telemetry)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Wire.ChatCompletionRequest);
        var plan = planner.Plan(request);
        telemetry.Begin(http, host.ServedModelId, plan.Generation.Prompt.Count, plan.Stream);
        var handle = EngineErrors.Submit(host.Engine, plan.Generation, http.RequestAborted);
        var id = Ids.Chat();
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var choices = new ChoiceState[plan.Generation.N];
        for (var i = 0; i < choices.Length; i++)
        {
            choices[i] = new ChoiceState(i, plan.Parser, plan.Logprobs, host.Engine);
        }

        if (plan.Stream)
        {
            await StreamAsync(http, host, plan, handle, choices, id, created, telemetry);
        }
        else
        {
            await CompleteAsync(http, host, handle, choices, id, created, telemetry);
        }
    }

    private static async Task CompleteAsync(HttpContext http, EngineHost host, GenerationHandle handle, ChoiceState[] choices, string id, long created, RequestTelemetry telemetry)
    {
        GenerationUsage? usage = null;
        var ct = http.RequestAborted;
        await foreach (var e in handle.ReadAllAsync(ct))
        {
            Operations.RequestTrace.OnEvent(e);
            switch (e)
            {
                case TokenEvent t:
                    telemetry.Token();
                    choices[t.Choice].OnToken(t, null);
                    break;
                case ChoiceFinishedEvent f:
                    choices[f.Choice].OnFinished(f, null);
                    break;
                case RequestCompletedEvent c:
                    usage = c.Usage;
                    break;
            }
        }

        var failed = choices.FirstOrDefault(c => c.Error is not null);
        if (failed is not null)
        {
            throw new ApiException(500, "Generation failed: " + failed.Error, "server_error", null, "generation_failed");
        }

        var response = new ChatCompletionResponse
        {
            Id = id,
            Created = created,
            Model = host.ServedModelId,
            SystemFingerprint = Ids.Fingerprint,
            Choices = choices.Select(c => c.ToChoice()).ToList(),
            Usage = BuildUsage(usage, choices),
        };
        response.Timings = TimingsDto.From(usage, response.Usage.CompletionTokens);
        telemetry.End(http, 200, response.Usage);
        http.Response.ContentType = "application/json";
        await System.Text.Json.JsonSerializer.SerializeAsync(http.Response.Body, response, ApiJsonContext.Wire.ChatCompletionResponse, ct);
    }

    private static async Task StreamAsync(HttpContext http, EngineHost host, ChatPlan plan, GenerationHandle handle, ChoiceState[] choices, string id, long created, RequestTelemetry telemetry)
    {
        var ct = http.RequestAborted;
        var sse = new SseWriter(http.Response);
        var chunk = new ChatCompletionChunk { Id = id, Created = created, Model = host.ServedModelId, SystemFingerprint = Ids.Fingerprint };
        var writer = new ChunkWriter(sse, chunk, ct);

        // The role chunk goes out at once: the client sees the request accepted even while it waits in the queue.
        foreach (var c in choices)
        {
            await writer.WriteAsync(c.Index, new ChunkDelta { Role = "assistant", Content = "" }, null, null, flush: c.Index == choices.Length - 1);
        }

        GenerationUsage? usage = null;
        string? error = null;
        var reader = handle.Events;
        try
        {
            while (true)
            {
                // Wait for the next event, sending comment keep-alives while the request is queued or slow.
                var waitTask = reader.WaitToReadAsync(ct).AsTask();
                while (!waitTask.IsCompleted)
                {
                    var finished = await Task.WhenAny(waitTask, Task.Delay(KeepAliveEvery, ct));
                    if (finished != waitTask)
                    {
                        await sse.WriteKeepAliveAsync(ct);
                    }
                }

                if (!await waitTask)
                {
                    break;
                }

                while (reader.TryRead(out var e))
                {
                    Operations.RequestTrace.OnEvent(e);
                    switch (e)
                    {
                        case TokenEvent t:
                            telemetry.Token();
                            choices[t.Choice].OnToken(t, writer);
                            break;
                        case ChoiceFinishedEvent f:
                            choices[f.Choice].OnFinished(f, writer);
                            error ??= f.Error;
                            if (f.Error is null)
                            {
                                await writer.WriteAsync(f.Choice, new ChunkDelta(), null, choices[f.Choice].FinishReason, flush: false);
                            }

                            break;
                        case RequestCompletedEvent c:
                            usage = c.Usage;
                            break;
                    }

                    await writer.DrainAsync();
                }

                await sse.FlushAsync(ct);
            }

            var usageDto = BuildUsage(usage, choices);
            if (error is not null)
            {
                var err = new ErrorResponse { Error = new ErrorBody { Message = "Generation failed: " + error, Type = "server_error", Code = "generation_failed" } };
                await sse.WriteAsync(err, ApiJsonContext.Wire.ErrorResponse, flush: false, ct);
            }
            else if (plan.IncludeUsage)
            {
                var u = new ChatCompletionChunk { Id = id, Created = created, Model = host.ServedModelId, SystemFingerprint = Ids.Fingerprint, Choices = [], Usage = usageDto, Timings = TimingsDto.From(usage, usageDto.CompletionTokens) };
                await sse.WriteAsync(u, ApiJsonContext.Wire.ChatCompletionChunk, flush: false, ct);
            }

            await sse.WriteDoneAsync(ct);
            telemetry.End(http, 200, usageDto);
        }
        catch (OperationCanceledException e) when (ct.IsCancellationRequested || e.CancellationToken.IsCancellationRequested)
        {
            // Client gone: the engine already saw the token and drops the sequence at its next step.
            handle.Cancel();
            telemetry.End(http, 499, BuildUsage(usage, choices));
        }
    }

    internal static UsageDto BuildUsage(GenerationUsage? usage, ChoiceState[] choices)
    {
        var completion = choices.Sum(c => c.CompletionTokens);
        var prompt = usage?.PromptTokens ?? 0;
        return new UsageDto
        {
            PromptTokens = prompt,
            CompletionTokens = completion,
            TotalTokens = prompt + completion,
            PromptTokensDetails = new PromptTokensDetails { CachedTokens = usage?.CachedTokens ?? 0 },
            CompletionTokensDetails = new CompletionTokensDetails { ReasoningTokens = choices.Sum(c => c.ReasoningTokens) },
        };
    }

    /// <summary>Reuses one chunk object per stream; queued writes are flushed together.</summary>
    internal sealed class ChunkWriter(SseWriter sse, ChatCompletionChunk chunk, CancellationToken ct)
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

/// <summary>One choice's parser state: text deltas in, content/reasoning/tool-call deltas out, token counts.</summary>
internal sealed class ChoiceState
{
    private readonly AssistantOutputParser parser;
    private readonly OutputAccumulator accumulator = new();
    private readonly List<OutputEvent> events = [];
    private readonly bool logprobs;
    private readonly InferenceEngine engine;
    private readonly List<TokenLogprobDto>? logprobList;
    private readonly bool thinkingEnabled;
    private int tokensBeforeAnswer;
    private bool answerStarted;
    private FinishReason reason;

    public ChoiceState(int index, OutputParserOptions options, bool logprobs, InferenceEngine engine)
    {
        Index = index;
        parser = new AssistantOutputParser(options);
        this.logprobs = logprobs;
        this.engine = engine;
        logprobList = logprobs ? [] : null;
        thinkingEnabled = options.ThinkingEnabled && options.ReasoningFormat == ReasoningFormat.Parsed;
    }

    public int Index { get; }
    public int CompletionTokens { get; private set; }
    public string? Error { get; private set; }
    public int ReasoningTokens { get; private set; }
    public string FinishReason => reason switch
    {
        Engine.Scheduling.FinishReason.Length => "length",
        _ when accumulator.ToolCallCount > 0 => "tool_calls",
        _ => "stop",
    };

    public void OnToken(TokenEvent t, ChatCompletionsEndpoint.ChunkWriter? writer)
    {
        events.Clear();
        if (t.Text.Length > 0)
        {
            parser.Feed(t.Text, events);
        }

        if (!answerStarted)
        {
            tokensBeforeAnswer++;
        }

        LogprobsDto? lp = null;
        if (logprobs)
        {
            var entry = LogprobEntry(t);
            if (writer is null)
            {
                logprobList!.Add(entry);
            }
            else
            {
                lp = new LogprobsDto { Content = [entry] };
            }
        }

        Emit(writer, lp);
    }

    public void OnFinished(ChoiceFinishedEvent f, ChatCompletionsEndpoint.ChunkWriter? writer)
    {
        events.Clear();
        if (f.Text.Length > 0)
        {
            parser.Feed(f.Text, events);
        }

        parser.Finish(events);
        CompletionTokens = f.CompletionTokens;
        reason = f.Reason;
        Error = f.Reason == Engine.Scheduling.FinishReason.Error ? f.Error ?? "unknown error" : null;
        Emit(writer, null);
        var built = accumulator.Build();
        // Tokens until the answer began were thinking; output that never left its think block is all reasoning.
        ReasoningTokens = built.Reasoning is null ? 0 : Math.Min(answerStarted ? tokensBeforeAnswer : CompletionTokens, CompletionTokens);
    }

    private void Emit(ChatCompletionsEndpoint.ChunkWriter? writer, LogprobsDto? lp)
    {
        foreach (var e in events)
        {
            accumulator.Add(e);
            if (e.Kind != OutputEventKind.ReasoningDelta && thinkingEnabled && !answerStarted)
            {
                answerStarted = true;
            }

            if (writer is null)
            {
                continue;
            }

            var delta = e.Kind switch
            {
                OutputEventKind.ContentDelta => new ChunkDelta { Content = e.Text },
                OutputEventKind.ReasoningDelta => new ChunkDelta { ReasoningContent = e.Text, Reasoning = e.Text },
                OutputEventKind.ToolCallStart => new ChunkDelta
                {
                    ToolCalls = [new ToolCallOut { Index = e.ToolCallIndex, Id = e.ToolCallId, Type = "function", Function = new FunctionOut { Name = e.ToolCallName, Arguments = "" } }],
                },
                _ => new ChunkDelta { ToolCalls = [new ToolCallOut { Index = e.ToolCallIndex, Function = new FunctionOut { Arguments = e.Text } }] },
            };
            writer.Enqueue(Index, delta, lp);
            lp = null;
        }

        if (lp is not null && writer is not null)
        {
            writer.Enqueue(Index, new ChunkDelta { Content = "" }, lp);
        }

        if (!thinkingEnabled)
        {
            answerStarted = true;
        }
    }

    private TokenLogprobDto LogprobEntry(TokenEvent t)
    {
        // bytes are the token's own bytes (OpenAI's contract: concatenated, they rebuild the text even where a token
        // holds only part of a UTF-8 character); token is its text, U+FFFD for such a part.
        return new TokenLogprobDto
        {
            Token = engine.Detokenize([t.Token], renderSpecial: true),
            Logprob = t.Logprob,
            Bytes = [.. engine.Model.TokenBytes(t.Token).Select(b => (int)b)],
            TopLogprobs = t.TopLogprobs?.Select(a => new TopLogprobDto
            {
                Token = engine.Detokenize([a.Token], renderSpecial: true),
                Logprob = a.Logprob,
                Bytes = [.. engine.Model.TokenBytes(a.Token).Select(b => (int)b)],
            }).ToList() ?? [],
        };
    }

    public ChatChoice ToChoice()
    {
        var built = accumulator.Build();
        var message = new ResponseMessage
        {
            Content = built.Content ?? (built.ToolCalls.Count > 0 ? null : ""),
            ReasoningContent = built.Reasoning,
            Reasoning = built.Reasoning,
            ToolCalls = built.ToolCalls.Count == 0 ? null : built.ToolCalls.Select(c => new ToolCallOut
            {
                Id = c.Id,
                Type = "function",
                Function = new FunctionOut { Name = c.Name, Arguments = c.Arguments },
            }).ToList(),
        };
        return new ChatChoice
        {
            Index = Index,
            Message = message,
            FinishReason = FinishReason,
            Logprobs = logprobList is null ? null : new LogprobsDto { Content = logprobList },
        };
    }
}

internal static class Ids
{
    public static readonly string Fingerprint = "fp_youtu_" + Native.LlamaNativeLibrary.PinnedVersion.Replace(".", "", StringComparison.Ordinal).Replace("-dev", "", StringComparison.Ordinal);

    public static string Chat() => "chatcmpl-" + Random24();

    public static string Completion() => "cmpl-" + Random24();

    private static string Random24() => string.Create(24, 0, static (span, _) =>
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        for (var i = 0; i < span.Length; i++)
        {
            span[i] = alphabet[System.Security.Cryptography.RandomNumberGenerator.GetInt32(alphabet.Length)];
        }
    });
}

/// <summary>Maps engine refusals to OpenAI errors.</summary>
internal static class EngineErrors
{
    public static GenerationHandle Submit(InferenceEngine engine, GenerationRequest request, CancellationToken ct)
    {
        try
        {
            return engine.Submit(request, ct);
        }
        catch (EngineRejectedException e)
        {
            throw e.Reason switch
            {
                RejectionReason.QueueFull => new ApiException(429, e.Message, "rate_limit_error", null, "queue_full", retryAfterSeconds: 1),
                RejectionReason.ShuttingDown => new ApiException(503, e.Message, "server_error", null, "shutting_down", retryAfterSeconds: 5),
                RejectionReason.ContextLengthExceeded => ApiException.BadRequest(e.Message, "messages", "context_length_exceeded"),
                _ => ApiException.BadRequest(e.Message, e.Param),
            };
        }
    }
}

/// <summary>Per-request timing for logs and metrics (TTFT, time per output token).</summary>
public sealed class RequestTelemetry
{
    private long start;
    private long firstToken;
    private int tokens;

    public void Begin(HttpContext http, string model, int promptTokens, bool stream)
    {
        start = Stopwatch.GetTimestamp();
        http.Items["youtu.model"] = model;
        http.Items["youtu.prompt_tokens"] = promptTokens;
        http.Items["youtu.stream"] = stream;
    }

    public void Token()
    {
        if (tokens++ == 0)
        {
            firstToken = Stopwatch.GetTimestamp();
        }
    }

    public double? TtftMs => firstToken == 0 ? null : Stopwatch.GetElapsedTime(start, firstToken).TotalMilliseconds;
    public double? TpotMs => tokens > 1 ? Stopwatch.GetElapsedTime(firstToken).TotalMilliseconds / (tokens - 1) : null;

    public void End(HttpContext http, int status, UsageDto? usage)
    {
        http.Items["youtu.status"] = status;
        http.Items["youtu.usage"] = usage;
        http.Items["youtu.ttft_ms"] = TtftMs;
        http.Items["youtu.tpot_ms"] = TpotMs;
        http.Items["youtu.duration_ms"] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }
}
