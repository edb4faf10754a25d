using System.Runtime.CompilerServices;
using YoutuServer.Chat.Parsing;
using YoutuServer.Engine;
using YoutuServer.Engine.Scheduling;

namespace YoutuServer.Generation;

/// <summary>Sees each engine event of a run as it is read (request telemetry and traces).</summary>
internal interface IGenerationObserver
{
    void OnEngineEvent(GenerationEvent e);
}

/// <summary>What a <see cref="ResultEvent"/> says.</summary>
internal enum ResultKind
{
    /// <summary>Nothing happened for a while (queued, or a slow step): a stream may send a keep-alive.</summary>
    KeepAlive,
    /// <summary>The request got its slots; prompt evaluation begins.</summary>
    Admitted,
    /// <summary>A parsed piece of output of <see cref="ResultEvent.Choice"/>: content, reasoning, a tool call's start or arguments.</summary>
    Output,
    /// <summary>A token that produced no output piece but has a logprob entry (held-back text, a marker).</summary>
    Logprobs,
    /// <summary>The choice ended; read <see cref="GenerationRun.Choices"/> for its finish and output.</summary>
    ChoiceFinished,
    /// <summary>The request ended; <see cref="GenerationRun.Usage"/> is final. Always the last event.</summary>
    Completed,
    /// <summary>The engine has nothing more ready right now: a stream should flush what it wrote.</summary>
    Flush,
}

/// <summary>One step of a generation's result stream.</summary>
internal readonly record struct ResultEvent(ResultKind Kind, int Choice = -1, OutputEvent Output = default, LogprobEntry? Logprob = null);

/// <summary>Token counts of a finished request, plus the engine's timings.</summary>
internal sealed record UsageRecord(int PromptTokens, int CachedTokens, int CompletionTokens, int ReasoningTokens, GenerationUsage? Engine)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
}

/// <summary>
/// A submitted generation and its result stream: the one loop over engine events (admission, tokens, finished
/// choices, completion). Every wire format reads <see cref="ReadAsync"/> (streaming) or <see cref="CompleteAsync"/>
/// and writes what it yields in its own shape.
/// </summary>
internal sealed class GenerationRun
{
    private readonly GenerationHandle handle;
    private readonly IGenerationObserver? observer;
    private readonly List<OutputEvent> events = [];
    private GenerationUsage? engineUsage;

    private GenerationRun(GenerationPlan plan, GenerationHandle handle, InferenceEngine engine, IGenerationObserver? observer)
    {
        Plan = plan;
        this.handle = handle;
        this.observer = observer;
        var choices = new ChoiceOutput[plan.Request.N];
        for (var i = 0; i < choices.Length; i++)
        {
            choices[i] = new ChoiceOutput(i, plan, engine);
        }

        Choices = choices;
    }

    public GenerationPlan Plan { get; }
    public IReadOnlyList<ChoiceOutput> Choices { get; }

    /// <summary>Prompt tokens reused from the prefix cache, known from admission on.</summary>
    public int CachedTokens { get; private set; }

    /// <summary>The first choice's failure, if any.</summary>
    public string? Error => Choices.FirstOrDefault(c => c.Error is not null)?.Error;

    /// <summary>Counts so far (final after <see cref="ResultKind.Completed"/>).</summary>
    public UsageRecord Usage
    {
        get
        {
            var completion = 0;
            var reasoning = 0;
            foreach (var c in Choices)
            {
                completion += c.CompletionTokens;
                reasoning += c.ReasoningTokens;
            }

            return new UsageRecord(engineUsage?.PromptTokens ?? Plan.PromptTokens, engineUsage?.CachedTokens ?? CachedTokens, completion, reasoning, engineUsage);
        }
    }

    /// <summary>Submits the plan to the engine; a refusal (queue full, draining, too long) is an <see cref="IntentException"/>.</summary>
    /// <param name="observer">Sees every engine event (telemetry, traces).</param>
    public static GenerationRun Start(InferenceEngine engine, GenerationPlan plan, CancellationToken cancellationToken, IGenerationObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(plan);
        GenerationHandle handle;
        try
        {
            handle = engine.Submit(plan.Request, cancellationToken);
        }
        catch (EngineRejectedException e)
        {
            throw Refusal(e);
        }

        return new GenerationRun(plan, handle, engine, observer);
    }

    /// <summary>Stops generating (the client went away).</summary>
    public void Cancel() => handle.Cancel();

    /// <summary>Runs to the end without streaming; then <see cref="Choices"/> and <see cref="Usage"/> are final.</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        await foreach (var _ in ReadAsync(null, cancellationToken).ConfigureAwait(false))
        {
        }
    }

    /// <summary>The result stream. With <paramref name="keepAlive"/>, yields <see cref="ResultKind.KeepAlive"/> after each such quiet spell.</summary>
    public async IAsyncEnumerable<ResultEvent> ReadAsync(TimeSpan? keepAlive, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var reader = handle.Events;
        while (true)
        {
            if (keepAlive is { } every)
            {
                // Wait for the next event, reporting quiet spells while the request is queued or slow.
                var wait = reader.WaitToReadAsync(cancellationToken).AsTask();
                while (!wait.IsCompleted)
                {
                    var finished = await Task.WhenAny(wait, Task.Delay(every, cancellationToken)).ConfigureAwait(false);
                    if (finished != wait)
                    {
                        yield return new ResultEvent(ResultKind.KeepAlive);
                    }
                }

                if (!await wait.ConfigureAwait(false))
                {
                    yield break;
                }
            }
            else if (!await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                yield break;
            }

            while (reader.TryRead(out var e))
            {
                observer?.OnEngineEvent(e);
                switch (e)
                {
                    case AdmittedEvent a:
                        CachedTokens = a.CachedTokens;
                        yield return new ResultEvent(ResultKind.Admitted);
                        break;
                    case TokenEvent t:
                    {
                        events.Clear();
                        var lp = Choices[t.Choice].OnToken(t, events);
                        foreach (var o in events)
                        {
                            yield return new ResultEvent(ResultKind.Output, t.Choice, o, lp);
                            lp = null;
                        }

                        if (lp is not null)
                        {
                            yield return new ResultEvent(ResultKind.Logprobs, t.Choice, default, lp);
                        }

                        break;
                    }

                    case ChoiceFinishedEvent f:
                        events.Clear();
                        Choices[f.Choice].OnFinished(f, events);
                        await RememberAsync(Choices[f.Choice], cancellationToken).ConfigureAwait(false);
                        foreach (var o in events)
                        {
                            yield return new ResultEvent(ResultKind.Output, f.Choice, o);
                        }

                        yield return new ResultEvent(ResultKind.ChoiceFinished, f.Choice);
                        break;
                    case RequestCompletedEvent c:
                        engineUsage = c.Usage;
                        if (Plan.CacheHint is { } hint)
                        {
                            // The conversation's next turn continues this prompt: keep it cached.
                            hint.Pins.Keep(hint.Conversation, Plan.Request);
                        }

                        yield return new ResultEvent(ResultKind.Completed);
                        break;
                }
            }

            yield return new ResultEvent(ResultKind.Flush);
        }
    }

    /// <summary>
    /// Stores a finished turn in the output memory before its end is reported, so a client that sends it straight back
    /// finds it. A memory that cannot answer costs only prefix-cache reuse.
    /// </summary>
    private async ValueTask RememberAsync(ChoiceOutput choice, CancellationToken cancellationToken)
    {
        if (Plan.Memory is not { } memory || choice.ToRemember is not { } turn)
        {
            return;
        }

        try
        {
            await memory.RememberAsync(Plan.Tenant, turn.Key, turn.Turn, cancellationToken).ConfigureAwait(false);
        }
        catch (State.StateUnavailableException)
        {
        }
    }

    /// <summary>Maps an engine refusal onto the intent's fields.</summary>
    internal static IntentException Refusal(EngineRejectedException e)
    {
        var message = e.Message;
        return e.Reason switch
        {
            RejectionReason.QueueFull => new IntentException(new IntentFailure(IntentField.None, IntentFailureKind.QueueFull, _ => message)) { RetryAfterSeconds = 1 },
            RejectionReason.ShuttingDown => new IntentException(new IntentFailure(IntentField.None, IntentFailureKind.ShuttingDown, _ => message)) { RetryAfterSeconds = 5 },
            RejectionReason.ContextLengthExceeded => new IntentException(new IntentFailure(IntentField.Prompt, IntentFailureKind.ContextLengthExceeded, _ => message)),
            _ => new IntentException(IntentFailure.Invalid(e.Field switch
            {
                RequestField.Prompt => IntentField.Prompt,
                RequestField.Count => IntentField.N,
                RequestField.MaxTokens => IntentField.MaxTokens,
                RequestField.Grammar => IntentField.Output,
                RequestField.Adapter => IntentField.Model,
                _ => IntentField.None,
            }, _ => message)),
        };
    }
}
