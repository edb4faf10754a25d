using YoutuServer.Engine.Sampling;

namespace YoutuServer.Engine.Scheduling;

/// <summary>When thinking passes the budget, the engine writes the close tokens itself and the model goes on with the answer.</summary>
public sealed record ReasoningBudget(int MaxTokens, IReadOnlyList<int> CloseTokens, string OpenTag = "<think>", string CloseTag = "</think>", bool StartsInReasoning = false);

/// <summary>
/// A grammar that engages only when <paramref name="TriggerToken"/> is sampled outside a think block (tool_choice
/// auto: free text stays free, every call is well-formed). Done here rather than with llama.cpp's lazy grammar,
/// whose trigger cannot tell reasoning from answer and re-scans the whole output with std::regex every token.
/// </summary>
public sealed record DeferredGrammar(GrammarConstraint Grammar, int TriggerToken, int ThinkOpenToken = -1, int ThinkCloseToken = -1, bool StartsInReasoning = false);

/// <summary>
/// Ends a choice (finish Stop) as soon as its output ends with <paramref name="AfterText"/> while fewer than
/// <paramref name="MinRoom"/> tokens of its MaxTokens are left: whatever would begin there (e.g. one more tool call)
/// cannot fit whole, so the output ends complete instead of cut. Text, not a token: a model may spell a marker in pieces.
/// </summary>
public sealed record RoomCheck(string AfterText, int MinRoom);

/// <summary>One generation job: token ids in, one or more completions out.</summary>
public sealed record GenerationRequest
{
    public required IReadOnlyList<int> Prompt { get; init; }
    public int MaxTokens { get; init; } = 256;
    /// <summary>End-of-generation tokens are masked until this many tokens were produced.</summary>
    public int MinTokens { get; init; }
    /// <summary>Never stop on end-of-generation tokens (benchmarks with random models).</summary>
    public bool IgnoreEos { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>Number of independent completions; the prompt is evaluated once and copied.</summary>
    public int N { get; init; } = 1;
    public SamplingParams Sampling { get; init; } = new();
    /// <summary>-1: no logprobs; 0: the chosen token's logprob only; k: plus the k most likely alternatives.</summary>
    public int TopLogprobs { get; init; } = -1;
    public ReasoningBudget? ReasoningBudget { get; init; }
    public DeferredGrammar? DeferredGrammar { get; init; }
    public RoomCheck? EndUnlessRoom { get; init; }
    /// <summary>
    /// Tokens the prompt already ends with that the grammar must see as output (e.g. "&lt;think&gt;\n" of forced
    /// thinking): accepted into every choice's sampler before the first sample.
    /// </summary>
    public IReadOnlyList<int> SamplerPrefill { get; init; } = [];
    /// <summary>Id of a loaded LoRA adapter to generate with (EngineOptions.Adapters); null = the base model.</summary>
    public string? Adapter { get; init; }
    /// <summary>
    /// Opaque tenant salt of the prefix cache: cached prompt cells and saved states are reused only between requests
    /// with the same salt (and the same adapter), in every tier. Null is the shared scope. The engine never stores
    /// the salt itself, only a hash of it.
    /// </summary>
    public string? CacheSalt { get; init; }
    /// <summary>Used in logs and traces only.</summary>
    public string? Id { get; init; }
}

public enum FinishReason
{
    /// <summary>End-of-generation token or a stop string.</summary>
    Stop,
    /// <summary>max tokens, the context limit, or ended by a drain.</summary>
    Length,
    Cancelled,
    Error,
}

/// <summary>A candidate token and its log-probability.</summary>
public readonly record struct TokenLogprob(int Token, float Logprob);

/// <summary>What the engine streams back for one request.</summary>
public abstract record GenerationEvent;

/// <summary>The request got its slots: prompt evaluation begins (queue time ends here).</summary>
public sealed record AdmittedEvent(int PromptTokens, int CachedTokens) : GenerationEvent;

/// <summary>One sampled token of one choice. Text is UTF-8-complete and never contains a stop string.</summary>
public sealed record TokenEvent(int Choice, int Token, string Text, float Logprob, TokenLogprob[]? TopLogprobs) : GenerationEvent;

/// <summary>A choice ended. Text may carry held-back characters released at the end.</summary>
public sealed record ChoiceFinishedEvent(int Choice, FinishReason Reason, int CompletionTokens, string Text, string? Error = null) : GenerationEvent
{
    /// <summary>The stop string that ended the choice (finish <see cref="FinishReason.Stop"/> by a stop string), else null.</summary>
    public string? StopString { get; init; }
}

/// <summary>The whole request ended (always the last event).</summary>
public sealed record RequestCompletedEvent(GenerationUsage Usage) : GenerationEvent;

/// <summary>
/// A request's token counts and timings. <see cref="CachedTokens"/> counts every reused prompt token, whichever tier
/// it came from (the sequence's own cells, another sequence's, a saved state in RAM or on disk).
/// </summary>
public sealed record GenerationUsage(int PromptTokens, int CachedTokens, int CompletionTokens, double QueueMs, double PromptEvalMs, double TotalMs)
{
    /// <summary>Of <see cref="CachedTokens"/>, those restored from a saved state (host RAM or disk).</summary>
    public int RestoredTokens { get; init; }
    /// <summary>Time spent restoring them (reading a file included), in milliseconds; part of the queue-to-prompt time.</summary>
    public double RestoreMs { get; init; }
}
