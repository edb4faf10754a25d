using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace YoutuServer.Chat.Parsing;

/// <summary>
/// Streaming parser for Youtu-LLM output: splits <c>&lt;think&gt;…&lt;/think&gt;</c> reasoning from content and extracts
/// Hermes <c>&lt;tool_call&gt;{"name": …, "arguments": …}&lt;/tool_call&gt;</c> blocks.
/// </summary>
/// <remarks>
/// <para>
/// The parser is a character-driven state machine: every decision depends only on the text seen so far, never on where the
/// deltas were split, so accumulating the events of any split of a text gives exactly <see cref="ParseComplete"/> of it
/// (which is implemented as one <see cref="Feed(string, List{OutputEvent})"/> plus <see cref="Finish"/>). Text that could
/// still turn out to be a tag (<c>&lt;tool_</c>, <c>&lt;/thi</c>) or whitespace whose fate depends on what follows is held
/// back until it is decided. A delta never ends between the halves of a surrogate pair.
/// </para>
/// <para><b>Whitespace</b> below means ' ', \t, \n, \r, \f and \v.</para>
/// <para><b>Reasoning</b> (<see cref="OutputParserOptions.ThinkingEnabled"/>, <see cref="ReasoningFormat.Parsed"/>):</para>
/// <list type="bullet">
/// <item>The output opens a think block only if <c>&lt;think&gt;</c> comes before any non-whitespace text (or at once, with
/// <see cref="OutputParserOptions.StartsInReasoning"/>). Otherwise the whole output is content: a later <c>&lt;think&gt;</c>
/// or a stray <c>&lt;/think&gt;</c> is plain text.</item>
/// <item>Reasoning is the text between the tags with leading and trailing whitespace removed (like llama.cpp's
/// <c>string_strip</c>), so the <c>\n</c> after <c>&lt;think&gt;</c> and before <c>&lt;/think&gt;</c> never appear.
/// Whitespace-only reasoning is no reasoning.</item>
/// <item>Leading whitespace of content is removed, both at the start of the output and after <c>&lt;/think&gt;</c>
/// (the <c>\n\n</c> the model writes after the think block).</item>
/// <item>Output that ends inside the think block is all reasoning (a partial <c>&lt;/thi</c> at the very end included).</item>
/// <item>Inside the think block <c>&lt;tool_call&gt;</c> is reasoning text, never a call.</item>
/// </list>
/// <para>
/// With <see cref="ReasoningFormat.Raw"/> the think block, its tags and all whitespace outside tool calls stay in content
/// verbatim; with thinking disabled there is no think block at all, and only the leading-whitespace trim applies.
/// </para>
/// <para><b>Tool calls</b> (<see cref="OutputParserOptions.ParseToolCalls"/>), outside the think block:</para>
/// <list type="bullet">
/// <item>The body is one JSON object, optionally surrounded by whitespace. Keys may come in any order; <c>"name"</c> must be
/// a non-empty string; other keys are ignored; a repeated key is ignored after its first occurrence.</item>
/// <item>Arguments: an object or array value is reported as its exact JSON text (as written, not re-serialized). A string
/// value is decoded and its contents reported (the model double-encoded the arguments the way the OpenAI wire format does).
/// <c>null</c>, an empty string, or no <c>"arguments"</c> key gives <c>"{}"</c>; another scalar is reported as written.</item>
/// <item>Streaming: <see cref="OutputEventKind.ToolCallStart"/> is sent when the first character of the arguments value
/// arrives after a complete name; argument text then streams as it arrives. The end of the value is found by tracking
/// brackets and strings, so a <c>}</c> or <c>&lt;/tool_call&gt;</c> inside a JSON string never ends it. If the arguments
/// come before the name, nothing is sent until the object closes and the whole body passed
/// <see cref="Utf8JsonReader"/> validation; then start and arguments go out together.</item>
/// <item>The block ends at <c>&lt;/tool_call&gt;</c>, at the next <c>&lt;tool_call&gt;</c> (a forgotten close tag), or at the
/// end of the output, once the object has closed.</item>
/// <item>Malformed before the start was sent (invalid JSON, missing or non-string name, output ending mid-object): the block
/// is content, verbatim from <c>&lt;tool_call&gt;</c> through the next literal <c>&lt;/tool_call&gt;</c> (or the end of
/// the output), preceded by the whitespace before it.</item>
/// <item>Malformed after the start was sent (it cannot be taken back): the call is kept with exactly the argument text
/// already sent, and the rest of the block through <c>&lt;/tool_call&gt;</c> is discarded; this covers junk such as an extra
/// <c>}</c>. Started calls are not validated further. If the output ends inside such a call's arguments, the call keeps
/// the truncated arguments (<c>"{}"</c> if none were sent).</item>
/// <item>Whitespace touching a call block is never content on its own: whitespace between calls and after the last call is
/// dropped, and content before a call loses its trailing whitespace. If non-whitespace text follows a call it is content,
/// preceded by the whitespace run that preceded the call block: <c>A\n&lt;tool_call&gt;…&lt;/tool_call&gt;\nB</c> gives
/// content <c>A\nB</c>. (vLLM drops text after the calls in non-streaming mode but streams it; keeping it is consistent.)</item>
/// <item><see cref="OutputParserOptions.MaxToolCalls"/>: once that many calls have started, every further block is discarded
/// whole (its whitespace included), well-formed or not.</item>
/// </list>
/// <para>
/// This type is the tag machine (think blocks, call blocks, whitespace, what becomes which event); the JSON inside a call
/// block is read by <see cref="ToolCallJsonScanner"/>, which reports the name, the arguments and the object's end back.
/// </para>
/// </remarks>
public sealed class AssistantOutputParser : IToolCallJsonListener
{
    private const string ThinkOpenTag = "<think>";
    private const string ThinkCloseTag = "</think>";
    private const string CallOpenTag = "<tool_call>";
    private const string CallCloseTag = "</tool_call>";
    private const string EmptyArguments = ToolCallJsonScanner.EmptyArguments;

    private readonly bool parseCalls;
    private readonly bool rawReasoning;
    private readonly int maxCalls;
    private readonly Func<string> newId;

    private State state;
    private List<OutputEvent>? sink;

    // Staged output: consecutive text of one kind is merged into one event per Feed.
    private readonly StringBuilder @out = new();
    private OutputEventKind outKind;
    private int outIndex;

    // Text that may be a tag; decided when it completes or stops matching.
    private readonly StringBuilder tag = new();

    // Trailing whitespace held back: reasoning (dropped before </think>) or content (dropped before a call).
    private readonly StringBuilder pendingWs = new();
    private bool thinkAllowed;
    private bool contentHasText;
    private bool dropLeadingWs;
    private bool afterCall;
    private bool reasoningHasText;

    // The current tool-call block: its text so far (content again if it turns out malformed) and its JSON body.
    private readonly StringBuilder callText = new();
    private readonly ToolCallJsonScanner body;
    private int callCount;
    private int callIndex;
    private bool callStarted;
    private bool callDropped;
    private bool argsEmitted;
    private int closeMatch;

    /// <summary>Creates a parser for one assistant turn.</summary>
    public AssistantOutputParser(OutputParserOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxToolCalls < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "MaxToolCalls must not be negative.");
        }

        parseCalls = options.ParseToolCalls;
        maxCalls = options.MaxToolCalls ?? int.MaxValue;
        newId = options.ToolCallIdGenerator ?? NewToolCallId;
        var thinking = options.ThinkingEnabled;
        rawReasoning = options.ReasoningFormat == ReasoningFormat.Raw;
        thinkAllowed = thinking && !options.StartsInReasoning;
        state = thinking && options.StartsInReasoning ? State.Reasoning : State.Content;
        dropLeadingWs = !(thinking && rawReasoning);
        body = new ToolCallJsonScanner(this);
    }

    private enum State { Content, Reasoning, CallJson, CallAfterObject, CallSkip, MalformedCall, Finished }

    private enum TagMatch { NoMatch, Partial, ThinkOpen, ThinkClose, CallOpen, CallClose }

    [Flags]
    private enum Tags { None = 0, ThinkOpen = 1, ThinkClose = 2, CallOpen = 4, CallClose = 8 }

    /// <summary>The number of tool calls started so far (for finish_reason "tool_calls").</summary>
    public int ToolCallCount => callCount;

    /// <summary>A fresh OpenAI-style tool-call id: "call_" and 24 random alphanumerics.</summary>
    public static string NewToolCallId() => string.Create(29, 0, static (span, _) =>
    {
        "call_".CopyTo(span);
        RandomNumberGenerator.GetItems("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", span[5..]);
    });

    /// <summary>Parses a complete output; identical to accumulating the events of any streaming split of it.</summary>
    public static ParsedAssistantOutput ParseComplete(string text, OutputParserOptions options)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parser = new AssistantOutputParser(options);
        var events = new List<OutputEvent>();
        parser.Feed(text, events);
        parser.Finish(events);
        var accumulator = new OutputAccumulator();
        accumulator.AddRange(events);
        return accumulator.Build();
    }

    /// <summary>Consumes one delta of output text and appends the events it decides to <paramref name="events"/>.</summary>
    public void Feed(string delta, List<OutputEvent> events)
    {
        ArgumentNullException.ThrowIfNull(delta);
        Feed(delta.AsSpan(), events);
    }

    /// <summary>Consumes one delta of output text and appends the events it decides to <paramref name="events"/>.</summary>
    public void Feed(ReadOnlySpan<char> delta, List<OutputEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (state == State.Finished)
        {
            throw new InvalidOperationException("The parser has already finished.");
        }

        sink = events;
        foreach (var c in delta)
        {
            Step(c);
        }

        Flush(holdHighSurrogate: true);
        sink = null;
    }

    /// <summary>Ends the output: decides everything held back and appends the last events.</summary>
    public void Finish(List<OutputEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (state == State.Finished)
        {
            throw new InvalidOperationException("The parser has already finished.");
        }

        sink = events;
        switch (state)
        {
            case State.Content:
                // A partial tag at the very end is just text.
                EmitContentChars(tag);
                tag.Clear();
                break;
            case State.Reasoning:
                EmitReasoningChars(tag);
                tag.Clear();
                pendingWs.Clear();
                break;
            case State.CallJson:
                FinishCallJson();
                break;
            case State.CallAfterObject:
            case State.CallSkip:
                EndCall();
                break;
        }

        if (state is State.Content or State.MalformedCall && !afterCall && pendingWs.Length > 0)
        {
            EmitContent(pendingWs);
        }

        pendingWs.Clear();
        Flush(holdHighSurrogate: false);
        state = State.Finished;
        sink = null;
    }

    private void Step(char c)
    {
        switch (state)
        {
            case State.Content:
                StepContent(c);
                break;
            case State.Reasoning:
                StepReasoning(c);
                break;
            case State.CallJson:
                StepCallJson(c);
                break;
            case State.CallAfterObject:
                StepAfterObject(c);
                break;
            case State.CallSkip:
                StepSkip(c);
                break;
            case State.MalformedCall:
                StepMalformed(c);
                break;
        }
    }

    // ---- content and reasoning ----

    private void StepContent(char c)
    {
        var allowed = (thinkAllowed ? Tags.ThinkOpen : Tags.None) | (parseCalls ? Tags.CallOpen : Tags.None);
        if (allowed != Tags.None && (tag.Length > 0 || c == '<'))
        {
            tag.Append(c);
            switch (Match(tag, allowed))
            {
                case TagMatch.Partial:
                    return;
                case TagMatch.ThinkOpen:
                    tag.Clear();
                    thinkAllowed = false;
                    if (rawReasoning)
                    {
                        EmitContent(pendingWs);
                        pendingWs.Clear();
                        EmitContent(ThinkOpenTag);
                    }

                    reasoningHasText = false;
                    state = State.Reasoning;
                    return;
                case TagMatch.CallOpen:
                    tag.Clear();
                    thinkAllowed = false;
                    BeginCall();
                    return;
                default:
                    // Tags hold a single '<' at their start, so only the newest char can begin another tag.
                    tag.Length--;
                    EmitContentChars(tag);
                    tag.Clear();
                    StepContent(c);
                    return;
            }
        }

        EmitContentChar(c);
    }

    private void EmitContentChar(char c)
    {
        if (IsWhitespace(c))
        {
            if (!contentHasText && dropLeadingWs)
            {
                return;
            }

            if (parseCalls)
            {
                // It might be followed by a call, which takes whitespace around it out of content.
                pendingWs.Append(c);
            }
            else
            {
                Emit(OutputEventKind.ContentDelta, -1, c);
            }

            return;
        }

        thinkAllowed = false;
        if (pendingWs.Length > 0)
        {
            EmitContent(pendingWs);
            pendingWs.Clear();
        }

        Emit(OutputEventKind.ContentDelta, -1, c);
        contentHasText = true;
        afterCall = false;
    }

    private void EmitContentChars(StringBuilder text)
    {
        foreach (var chunk in text.GetChunks())
        {
            foreach (var c in chunk.Span)
            {
                EmitContentChar(c);
            }
        }
    }

    private void StepReasoning(char c)
    {
        if (tag.Length > 0 || c == '<')
        {
            tag.Append(c);
            switch (Match(tag, Tags.ThinkClose))
            {
                case TagMatch.Partial:
                    return;
                case TagMatch.ThinkClose:
                    tag.Clear();
                    pendingWs.Clear();
                    if (rawReasoning)
                    {
                        EmitContent(ThinkCloseTag);
                        contentHasText = true;
                    }
                    else
                    {
                        contentHasText = false;
                        dropLeadingWs = true;
                    }

                    state = State.Content;
                    return;
                default:
                    tag.Length--;
                    EmitReasoningChars(tag);
                    tag.Clear();
                    StepReasoning(c);
                    return;
            }
        }

        EmitReasoningChar(c);
    }

    private void EmitReasoningChar(char c)
    {
        if (rawReasoning)
        {
            Emit(OutputEventKind.ContentDelta, -1, c);
            return;
        }

        if (IsWhitespace(c))
        {
            // Leading whitespace is dropped; trailing whitespace waits to see whether </think> follows.
            if (reasoningHasText)
            {
                pendingWs.Append(c);
            }

            return;
        }

        if (pendingWs.Length > 0)
        {
            Emit(OutputEventKind.ReasoningDelta, -1, pendingWs);
            pendingWs.Clear();
        }

        Emit(OutputEventKind.ReasoningDelta, -1, c);
        reasoningHasText = true;
    }

    private void EmitReasoningChars(StringBuilder text)
    {
        foreach (var chunk in text.GetChunks())
        {
            foreach (var c in chunk.Span)
            {
                EmitReasoningChar(c);
            }
        }
    }

    // ---- tool-call blocks ----

    private void BeginCall()
    {
        // pendingWs (whitespace before the block) is kept: it is content again only if the block is malformed
        // or text follows the calls.
        state = State.CallJson;
        callText.Clear();
        callText.Append(CallOpenTag);
        body.Reset();
        callStarted = false;
        callDropped = callCount >= maxCalls;
        argsEmitted = false;
        closeMatch = 0;
    }

    private void EndCall()
    {
        tag.Clear();
        state = State.Content;
        contentHasText = false;
        dropLeadingWs = true;
        afterCall = true;
    }

    private void StepCallJson(char c)
    {
        callText.Append(c);
        if (body.Step(c))
        {
            return;
        }

        // Structural error: the offending char is not part of what was accepted; the next state decides about it.
        callText.Length--;
        if (callStarted || callDropped)
        {
            tag.Clear();
            state = State.CallSkip;
        }
        else
        {
            state = State.MalformedCall;
            closeMatch = 0;
            EmitContentChars(callText);
        }

        Step(c);
    }

    private void FinishCallJson()
    {
        if (callStarted)
        {
            body.EndOfInput();
            if (!argsEmitted)
            {
                EmitArguments(EmptyArguments);
            }

            EndCall();
        }
        else if (callDropped)
        {
            EndCall();
        }
        else
        {
            state = State.MalformedCall;
            EmitContentChars(callText);
        }
    }

    // ---- what the body's scanner reports ----

    void IToolCallJsonListener.ArgumentsBeginning()
    {
        if (!callDropped)
        {
            StartCall();
        }
    }

    void IToolCallJsonListener.ArgumentsAppended(char c)
    {
        if (callStarted)
        {
            Emit(OutputEventKind.ToolCallArgumentsDelta, callIndex, c);
            argsEmitted = true;
        }
    }

    void IToolCallJsonListener.ScalarArgumentsEnded()
    {
        if (callStarted)
        {
            EmitArguments(body.Arguments);
        }
    }

    /// <summary>The outer object closed: the call is complete, or (if nothing was sent yet) validated now.</summary>
    bool IToolCallJsonListener.ObjectClosed()
    {
        if (!callStarted && !callDropped)
        {
            if (body.Name is null || !body.BodyIsValidJson())
            {
                return false;
            }

            StartCall();
            if (body.ArgumentsDone)
            {
                EmitArguments(body.Arguments);
            }
        }

        if (callStarted && !argsEmitted)
        {
            EmitArguments(EmptyArguments);
        }

        state = State.CallAfterObject;
        return true;
    }

    private void StartCall()
    {
        Flush(holdHighSurrogate: false);
        callIndex = callCount++;
        callStarted = true;
        sink!.Add(OutputEvent.ToolCallStart(callIndex, newId(), body.Name!));
    }

    private void EmitArguments(StringBuilder text)
    {
        if (text.Length > 0)
        {
            Emit(OutputEventKind.ToolCallArgumentsDelta, callIndex, text);
            argsEmitted = true;
        }
    }

    private void EmitArguments(string text)
    {
        Emit(OutputEventKind.ToolCallArgumentsDelta, callIndex, text);
        argsEmitted = true;
    }

    private void StepAfterObject(char c)
    {
        if (tag.Length == 0 && c != '<')
        {
            if (!IsWhitespace(c))
            {
                // Junk after the object (an extra '}' is common): skip to the close tag.
                state = State.CallSkip;
            }

            return;
        }

        tag.Append(c);
        switch (Match(tag, Tags.CallClose | Tags.CallOpen))
        {
            case TagMatch.Partial:
                return;
            case TagMatch.CallClose:
                EndCall();
                return;
            case TagMatch.CallOpen:
                // A forgotten </tool_call>: the next block closes this one.
                EndCall();
                BeginCall();
                return;
            default:
                tag.Clear();
                state = State.CallSkip;
                StepSkip(c);
                return;
        }
    }

    private void StepSkip(char c)
    {
        if (tag.Length == 0 && c != '<')
        {
            return;
        }

        tag.Append(c);
        switch (Match(tag, Tags.CallClose))
        {
            case TagMatch.Partial:
                return;
            case TagMatch.CallClose:
                EndCall();
                return;
            default:
                tag.Clear();
                if (c == '<')
                {
                    tag.Append(c);
                }

                return;
        }
    }

    private void StepMalformed(char c)
    {
        EmitContentChar(c);
        if (c == CallCloseTag[closeMatch])
        {
            if (++closeMatch == CallCloseTag.Length)
            {
                closeMatch = 0;
                state = State.Content;
            }
        }
        else
        {
            closeMatch = c == '<' ? 1 : 0;
        }
    }

    // ---- helpers ----

    private static TagMatch Match(StringBuilder buffer, Tags allowed)
    {
        var partial = false;
        if ((allowed & Tags.ThinkOpen) != 0 && IsTag(buffer, ThinkOpenTag, ref partial))
        {
            return TagMatch.ThinkOpen;
        }

        if ((allowed & Tags.ThinkClose) != 0 && IsTag(buffer, ThinkCloseTag, ref partial))
        {
            return TagMatch.ThinkClose;
        }

        if ((allowed & Tags.CallOpen) != 0 && IsTag(buffer, CallOpenTag, ref partial))
        {
            return TagMatch.CallOpen;
        }

        if ((allowed & Tags.CallClose) != 0 && IsTag(buffer, CallCloseTag, ref partial))
        {
            return TagMatch.CallClose;
        }

        return partial ? TagMatch.Partial : TagMatch.NoMatch;
    }

    private static bool IsTag(StringBuilder buffer, string tag, ref bool partial)
    {
        if (buffer.Length > tag.Length)
        {
            return false;
        }

        for (var i = 0; i < buffer.Length; i++)
        {
            if (buffer[i] != tag[i])
            {
                return false;
            }
        }

        if (buffer.Length == tag.Length)
        {
            return true;
        }

        partial = true;
        return false;
    }

    private static bool IsWhitespace(char c) => c is ' ' or '\t' or '\n' or '\r' or '\f' or '\v';

    private void EmitContent(StringBuilder text) => Emit(OutputEventKind.ContentDelta, -1, text);

    private void EmitContent(string text) => Emit(OutputEventKind.ContentDelta, -1, text);

    private void Stage(OutputEventKind kind, int index)
    {
        if (@out.Length > 0 && (kind != outKind || index != outIndex))
        {
            Flush(holdHighSurrogate: false);
        }

        outKind = kind;
        outIndex = index;
    }

    private void Emit(OutputEventKind kind, int index, char c)
    {
        Stage(kind, index);
        @out.Append(c);
    }

    private void Emit(OutputEventKind kind, int index, string text)
    {
        if (text.Length > 0)
        {
            Stage(kind, index);
            @out.Append(text);
        }
    }

    private void Emit(OutputEventKind kind, int index, StringBuilder text)
    {
        if (text.Length > 0)
        {
            Stage(kind, index);
            @out.Append(text);
        }
    }

    private void Flush(bool holdHighSurrogate)
    {
        var length = @out.Length;
        if (holdHighSurrogate && length > 0 && char.IsHighSurrogate(@out[length - 1]))
        {
            // Its low half comes with a later char (e.g. a \udXXX escape split across deltas).
            length--;
        }

        if (length == 0)
        {
            return;
        }

        var text = @out.ToString(0, length);
        @out.Remove(0, length);
        sink!.Add(outKind switch
        {
            OutputEventKind.ContentDelta => OutputEvent.Content(text),
            OutputEventKind.ReasoningDelta => OutputEvent.Reasoning(text),
            _ => OutputEvent.ToolCallArguments(outIndex, text),
        });
    }
}
