using YoutuServer.Chat.Parsing;
using YoutuServer.Engine;
using YoutuServer.Engine.Scheduling;

namespace YoutuServer.Generation;

/// <summary>How a choice ended, in no wire format's vocabulary.</summary>
internal enum ChoiceFinish
{
    /// <summary>End of generation, a stop string, or a grammar that completed.</summary>
    Stop,
    /// <summary>The token limit (or the context) was reached.</summary>
    Length,
    /// <summary>The answer ended with tool calls.</summary>
    ToolCalls,
    /// <summary>The client went away.</summary>
    Cancelled,
    Error,
}

/// <summary>One sampled token's log-probability, its bytes and the most likely alternatives (when asked for).</summary>
internal sealed record LogprobEntry(string Token, float Logprob, byte[] Bytes, IReadOnlyList<LogprobAlternative> Top);

internal sealed record LogprobAlternative(string Token, float Logprob, byte[] Bytes);

/// <summary>
/// One choice's output: engine token text in, the Chat room's parsed events out (content, reasoning, tool calls),
/// with token counts, finish and the whole output so far. Raw choices (legacy completions) pass text through unparsed.
/// </summary>
internal sealed class ChoiceOutput
{
    private readonly AssistantOutputParser? parser;
    private readonly OutputAccumulator accumulator = new();
    private readonly bool thinkingParsed;
    private readonly InferenceEngine engine;
    private readonly bool logprobs;
    private List<LogprobEntry>? logprobList;
    private int tokensBeforeAnswer;
    private int tokensSeen;
    /// <summary>Tokens through the one that closed the think block (0 until then), and the text just before, to see a split close tag.</summary>
    private int tokensThroughThinkClose;
    private string thinkTail = "";
    private bool answerStarted;
    private ParsedAssistantOutput? built;
    private readonly GenerationPlan plan;
    private readonly List<int>? tokenIds;
    private readonly System.Text.StringBuilder? rawText;

    private const string ThinkClose = "</think>";

    internal ChoiceOutput(int index, GenerationPlan plan, InferenceEngine engine)
    {
        var options = plan.Parser;
        Index = index;
        this.plan = plan;
        parser = options is null ? null : new AssistantOutputParser(options);
        logprobs = plan.Logprobs;
        this.engine = engine;
        if (plan.Memory is not null)
        {
            tokenIds = [];
            rawText = new System.Text.StringBuilder();
        }

        thinkingParsed = options is { ThinkingEnabled: true, ReasoningFormat: ReasoningFormat.Parsed };
        answerStarted = !thinkingParsed;
    }

    public int Index { get; }
    public int CompletionTokens { get; private set; }
    public int ReasoningTokens { get; private set; }
    public bool Finished { get; private set; }
    public ChoiceFinish Finish { get; private set; }

    /// <summary>The stop string that ended the choice, when one did (Anthropic's <c>stop_sequence</c>).</summary>
    public string? StopString { get; private set; }

    /// <summary>Why generation failed (finish <see cref="ChoiceFinish.Error"/>).</summary>
    public string? Error { get; private set; }

    /// <summary>Every token's log-probability, in order (when logprobs were asked for).</summary>
    public IReadOnlyList<LogprobEntry>? Logprobs => logprobList;

    /// <summary>The output so far: content, reasoning and tool calls (empty content or reasoning is null).</summary>
    public ParsedAssistantOutput Output => built ??= accumulator.Build();

    /// <summary>Feeds one token; adds its parsed events to <paramref name="events"/> and returns its logprob entry (when asked for).</summary>
    internal LogprobEntry? OnToken(TokenEvent t, List<OutputEvent> events)
    {
        tokenIds?.Add(t.Token);
        rawText?.Append(t.Text);
        Feed(t.Text, events);
        tokensSeen++;
        if (!answerStarted)
        {
            tokensBeforeAnswer++;
        }

        if (thinkingParsed && tokensThroughThinkClose == 0)
        {
            var tail = thinkTail + t.Text;
            if (tail.Contains(ThinkClose, StringComparison.Ordinal))
            {
                tokensThroughThinkClose = tokensSeen;
            }

            thinkTail = tail.Length > ThinkClose.Length ? tail[^ThinkClose.Length..] : tail;
        }

        Track(events);
        if (!logprobs)
        {
            return null;
        }

        var entry = LogprobEntryOf(t);
        (logprobList ??= []).Add(entry);
        return entry;
    }

    /// <summary>The choice ended: releases held-back text and closes the parser.</summary>
    internal void OnFinished(ChoiceFinishedEvent f, List<OutputEvent> events)
    {
        Feed(f.Text, events);
        if (parser is not null)
        {
            parser.Finish(events);
        }

        Track(events);
        CompletionTokens = f.CompletionTokens;
        StopString = f.StopString;
        Finished = true;
        var output = Output;
        Error = f.Reason == FinishReason.Error ? f.Error ?? "unknown error" : null;
        Finish = f.Reason switch
        {
            FinishReason.Error => ChoiceFinish.Error,
            FinishReason.Cancelled => ChoiceFinish.Cancelled,
            FinishReason.Length => ChoiceFinish.Length,
            _ when output.ToolCalls.Count > 0 => ChoiceFinish.ToolCalls,
            _ => ChoiceFinish.Stop,
        };

        // Tokens through the think block's close were thinking (or, without a close, until the answer began: a tool
        // call's opening tokens are answer, not thinking); output that never left its think block is all reasoning.
        var thinkingTokens = tokensThroughThinkClose > 0 ? tokensThroughThinkClose : answerStarted ? tokensBeforeAnswer : CompletionTokens;
        ReasoningTokens = output.Reasoning is null ? 0 : Math.Min(thinkingTokens, CompletionTokens);
        if (rawText is not null && Finish is ChoiceFinish.Stop or ChoiceFinish.ToolCalls or ChoiceFinish.Length)
        {
            Remember(f.Text);
        }
    }

    /// <summary>A complete turn is remembered token for token, unless a stop string cut its text (then text and tokens differ).</summary>
    private void Remember(string tail)
    {
        rawText!.Append(tail);
        var text = rawText.ToString();
        if (engine.Detokenize(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tokenIds), renderSpecial: true) != text)
        {
            return;
        }

        int[] ids = [.. plan.PrefillTokens, .. tokenIds!];
        ToRemember = (OutputMemoryKeys.Of(Output, plan.Request.CacheSalt), new State.RememberedOutput(plan.Prefill + text, ids));
    }

    /// <summary>The finished turn for the output memory (key and turn), when it is one to remember; the run stores it.</summary>
    internal (string Key, State.RememberedOutput Turn)? ToRemember { get; private set; }

    /// <summary>The token ids generated so far (chat plans; empty for raw prompts).</summary>
    internal IReadOnlyList<int> TokenIds => (IReadOnlyList<int>?)tokenIds ?? [];

    /// <summary>The text <see cref="TokenIds"/> detokenize to, special tokens included (what the context holds after the prompt).</summary>
    internal string GeneratedText => tokenIds is null ? "" : engine.Detokenize(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tokenIds), renderSpecial: true);

    private void Feed(string text, List<OutputEvent> events)
    {
        if (text.Length == 0)
        {
            return;
        }

        if (parser is null)
        {
            events.Add(OutputEvent.Content(text));
        }
        else
        {
            parser.Feed(text, events);
        }
    }

    private void Track(List<OutputEvent> events)
    {
        if (events.Count == 0)
        {
            return;
        }

        built = null;
        foreach (var e in events)
        {
            accumulator.Add(e);
            if (!answerStarted && e.Kind != OutputEventKind.ReasoningDelta)
            {
                answerStarted = true;
            }
        }
    }

    private LogprobEntry LogprobEntryOf(TokenEvent t)
    {
        // bytes are the token's own bytes (OpenAI's contract: concatenated, they rebuild the text even where a token
        // holds only part of a UTF-8 character); token is its text, U+FFFD for such a part.
        var top = t.TopLogprobs is { } alternatives
            ? alternatives.Select(a => new LogprobAlternative(engine.Detokenize([a.Token], renderSpecial: true), a.Logprob, engine.TokenBytes(a.Token))).ToArray()
            : [];
        return new LogprobEntry(engine.Detokenize([t.Token], renderSpecial: true), t.Logprob, engine.TokenBytes(t.Token), top);
    }
}
