using System.Diagnostics;
using YoutuServer.Engine.Scheduling;

namespace YoutuServer.Operations;

/// <summary>
/// The "YoutuServer" ActivitySource: one span per generation request (started by <see cref="RequestObserver"/> for routes carrying a <see cref="GenerationOperation"/>),
/// with events as the scheduler reports them: admitted (slots granted, cached prompt tokens), first_token, and
/// finished (usage, queue and prompt-evaluation time). The endpoints feed it with one call per engine event.
/// </summary>
internal static class RequestTrace
{
    public const string SourceName = "YoutuServer";

    public static readonly ActivitySource Source = new(SourceName, typeof(RequestTrace).Assembly.GetName().Version?.ToString());

    private const string FirstTokenSeen = "youtu.first_token_seen";

    /// <summary>Starts the request span, or returns null when nobody listens (no tracing configured).</summary>
    internal static Activity? Start(GenerationOperation operation, HttpContext http)
    {
        var activity = Source.StartActivity(operation.SpanName, ActivityKind.Internal);
        if (activity is not null)
        {
            activity.SetTag("gen_ai.operation.name", operation.GenAiOperation);
            activity.SetTag("http.request.method", http.Request.Method);
            activity.SetTag("url.path", http.Request.Path.Value);
        }

        return activity;
    }

    /// <summary>Records one engine event on the current request span (cheap no-op without one).</summary>
    public static void OnEvent(GenerationEvent e)
    {
        var activity = Activity.Current;
        if (activity is null || activity.Source != Source || !activity.IsAllDataRequested)
        {
            return;
        }

        switch (e)
        {
            case AdmittedEvent a:
                activity.AddEvent(new ActivityEvent("admitted", tags: new ActivityTagsCollection
                {
                    ["prompt_tokens"] = a.PromptTokens,
                    ["cached_tokens"] = a.CachedTokens,
                }));
                break;
            case TokenEvent when activity.GetCustomProperty(FirstTokenSeen) is null:
                activity.SetCustomProperty(FirstTokenSeen, true);
                activity.AddEvent(new ActivityEvent("first_token"));
                break;
            case ChoiceFinishedEvent f:
                activity.AddEvent(new ActivityEvent("choice_finished", tags: new ActivityTagsCollection
                {
                    ["choice"] = f.Choice,
                    ["finish_reason"] = f.Reason.ToString().ToLowerInvariant(),
                    ["completion_tokens"] = f.CompletionTokens,
                }));
                break;
            case RequestCompletedEvent c:
                activity.AddEvent(new ActivityEvent("finished", tags: new ActivityTagsCollection
                {
                    ["prompt_tokens"] = c.Usage.PromptTokens,
                    ["cached_tokens"] = c.Usage.CachedTokens,
                    ["completion_tokens"] = c.Usage.CompletionTokens,
                    ["queue_ms"] = c.Usage.QueueMs,
                    ["prompt_eval_ms"] = c.Usage.PromptEvalMs,
                }));
                break;
        }
    }
}
