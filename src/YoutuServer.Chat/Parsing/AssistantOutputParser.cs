using System.Buffers;
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
/// </remarks>
public sealed class AssistantOutputParser
{
    private const string ThinkOpenTag = "<think>";
    private const string ThinkCloseTag = "</think>";
    private const string CallOpenTag = "<tool_call>";
    private const string CallCloseTag = "</tool_call>";
    private const string EmptyArguments = "{}";

    private readonly bool _parseCalls;
    private readonly bool _rawReasoning;
    private readonly int _maxCalls;
    private readonly Func<string> _newId;

    private State _state;
    private List<OutputEvent>? _sink;

    // Staged output: consecutive text of one kind is merged into one event per Feed.
    private readonly StringBuilder _out = new();
    private OutputEventKind _outKind;
    private int _outIndex;

    // Text that may be a tag; decided when it completes or stops matching.
    private readonly StringBuilder _tag = new();

    // Trailing whitespace held back: reasoning (dropped before </think>) or content (dropped before a call).
    private readonly StringBuilder _pendingWs = new();
    private bool _thinkAllowed;
    private bool _contentHasText;
    private bool _dropLeadingWs;
    private bool _afterCall;
    private bool _reasoningHasText;

    // The current tool-call block.
    private readonly StringBuilder _callText = new();
    private readonly StringBuilder _key = new();
    private readonly StringBuilder _nameText = new();
    private readonly StringBuilder _args = new();
    private readonly StringBuilder _brackets = new();
    private int _bodyStart;
    private int _callCount;
    private int _callIndex;
    private bool _callStarted;
    private bool _callDropped;
    private string? _name;
    private bool _nameSeen;
    private bool _argsSeen;
    private bool _argsDone;
    private bool _argsEmitted;
    private Json _json;
    private Role _role;
    private StringTarget _stringTarget;
    private bool _inString;
    private bool _escape;
    private int _hexLeft;
    private int _hexValue;
    private int _closeMatch;

    /// <summary>Creates a parser for one assistant turn.</summary>
    public AssistantOutputParser(OutputParserOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxToolCalls < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "MaxToolCalls must not be negative.");
        }

        _parseCalls = options.ParseToolCalls;
        _maxCalls = options.MaxToolCalls ?? int.MaxValue;
        _newId = options.ToolCallIdGenerator ?? NewToolCallId;
        var thinking = options.ThinkingEnabled;
        _rawReasoning = options.ReasoningFormat == ReasoningFormat.Raw;
        _thinkAllowed = thinking && !options.StartsInReasoning;
        _state = thinking && options.StartsInReasoning ? State.Reasoning : State.Content;
        _dropLeadingWs = !(thinking && _rawReasoning);
    }

    private enum State { Content, Reasoning, CallJson, CallAfterObject, CallSkip, MalformedCall, Finished }

    private enum Json { ObjectStart, FirstKeyOrEnd, Key, Colon, Value, String, Container, Scalar, CommaOrEnd }

    private enum Role { Other, Name, Arguments }

    private enum StringTarget { None, Key, Name, Arguments }

    private enum TagMatch { NoMatch, Partial, ThinkOpen, ThinkClose, CallOpen, CallClose }

    [Flags]
    private enum Tags { None = 0, ThinkOpen = 1, ThinkClose = 2, CallOpen = 4, CallClose = 8 }

    /// <summary>The number of tool calls started so far (for finish_reason "tool_calls").</summary>
    public int ToolCallCount => _callCount;

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
        if (_state == State.Finished)
        {
            throw new InvalidOperationException("The parser has already finished.");
        }

        _sink = events;
        foreach (var c in delta)
        {
            Step(c);
        }

        Flush(holdHighSurrogate: true);
        _sink = null;
    }

    /// <summary>Ends the output: decides everything held back and appends the last events.</summary>
    public void Finish(List<OutputEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (_state == State.Finished)
        {
            throw new InvalidOperationException("The parser has already finished.");
        }

        _sink = events;
        switch (_state)
        {
            case State.Content:
                // A partial tag at the very end is just text.
                EmitContentChars(_tag);
                _tag.Clear();
                break;
            case State.Reasoning:
                EmitReasoningChars(_tag);
                _tag.Clear();
                _pendingWs.Clear();
                break;
            case State.CallJson:
                FinishCallJson();
                break;
            case State.CallAfterObject:
            case State.CallSkip:
                EndCall();
                break;
        }

        if (_state is State.Content or State.MalformedCall && !_afterCall && _pendingWs.Length > 0)
        {
            EmitContent(_pendingWs);
        }

        _pendingWs.Clear();
        Flush(holdHighSurrogate: false);
        _state = State.Finished;
        _sink = null;
    }

    private void Step(char c)
    {
        switch (_state)
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
        var allowed = (_thinkAllowed ? Tags.ThinkOpen : Tags.None) | (_parseCalls ? Tags.CallOpen : Tags.None);
        if (allowed != Tags.None && (_tag.Length > 0 || c == '<'))
        {
            _tag.Append(c);
            switch (Match(_tag, allowed))
            {
                case TagMatch.Partial:
                    return;
                case TagMatch.ThinkOpen:
                    _tag.Clear();
                    _thinkAllowed = false;
                    if (_rawReasoning)
                    {
                        EmitContent(_pendingWs);
                        _pendingWs.Clear();
                        EmitContent(ThinkOpenTag);
                    }

                    _reasoningHasText = false;
                    _state = State.Reasoning;
                    return;
                case TagMatch.CallOpen:
                    _tag.Clear();
                    _thinkAllowed = false;
                    BeginCall();
                    return;
                default:
                    // Tags hold a single '<' at their start, so only the newest char can begin another tag.
                    _tag.Length--;
                    EmitContentChars(_tag);
                    _tag.Clear();
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
            if (!_contentHasText && _dropLeadingWs)
            {
                return;
            }

            if (_parseCalls)
            {
                // It might be followed by a call, which takes whitespace around it out of content.
                _pendingWs.Append(c);
            }
            else
            {
                Emit(OutputEventKind.ContentDelta, -1, c);
            }

            return;
        }

        _thinkAllowed = false;
        if (_pendingWs.Length > 0)
        {
            EmitContent(_pendingWs);
            _pendingWs.Clear();
        }

        Emit(OutputEventKind.ContentDelta, -1, c);
        _contentHasText = true;
        _afterCall = false;
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
        if (_tag.Length > 0 || c == '<')
        {
            _tag.Append(c);
            switch (Match(_tag, Tags.ThinkClose))
            {
                case TagMatch.Partial:
                    return;
                case TagMatch.ThinkClose:
                    _tag.Clear();
                    _pendingWs.Clear();
                    if (_rawReasoning)
                    {
                        EmitContent(ThinkCloseTag);
                        _contentHasText = true;
                    }
                    else
                    {
                        _contentHasText = false;
                        _dropLeadingWs = true;
                    }

                    _state = State.Content;
                    return;
                default:
                    _tag.Length--;
                    EmitReasoningChars(_tag);
                    _tag.Clear();
                    StepReasoning(c);
                    return;
            }
        }

        EmitReasoningChar(c);
    }

    private void EmitReasoningChar(char c)
    {
        if (_rawReasoning)
        {
            Emit(OutputEventKind.ContentDelta, -1, c);
            return;
        }

        if (IsWhitespace(c))
        {
            // Leading whitespace is dropped; trailing whitespace waits to see whether </think> follows.
            if (_reasoningHasText)
            {
                _pendingWs.Append(c);
            }

            return;
        }

        if (_pendingWs.Length > 0)
        {
            Emit(OutputEventKind.ReasoningDelta, -1, _pendingWs);
            _pendingWs.Clear();
        }

        Emit(OutputEventKind.ReasoningDelta, -1, c);
        _reasoningHasText = true;
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
        // _pendingWs (whitespace before the block) is kept: it is content again only if the block is malformed
        // or text follows the calls.
        _state = State.CallJson;
        _callText.Clear();
        _callText.Append(CallOpenTag);
        _key.Clear();
        _nameText.Clear();
        _args.Clear();
        _brackets.Clear();
        _bodyStart = -1;
        _callStarted = false;
        _callDropped = _callCount >= _maxCalls;
        _name = null;
        _nameSeen = false;
        _argsSeen = false;
        _argsDone = false;
        _argsEmitted = false;
        _json = Json.ObjectStart;
        _role = Role.Other;
        _inString = false;
        _escape = false;
        _hexLeft = 0;
        _closeMatch = 0;
    }

    private void EndCall()
    {
        _tag.Clear();
        _state = State.Content;
        _contentHasText = false;
        _dropLeadingWs = true;
        _afterCall = true;
    }

    private void StepCallJson(char c)
    {
        _callText.Append(c);
        if (StepJson(c))
        {
            return;
        }

        // Structural error: the offending char is not part of what was accepted; the next state decides about it.
        _callText.Length--;
        if (_callStarted || _callDropped)
        {
            _tag.Clear();
            _state = State.CallSkip;
        }
        else
        {
            _state = State.MalformedCall;
            _closeMatch = 0;
            EmitContentChars(_callText);
        }

        Step(c);
    }

    private void FinishCallJson()
    {
        if (_callStarted)
        {
            if (_json == Json.Scalar && _role == Role.Arguments)
            {
                EndScalarArguments();
            }

            if (!_argsEmitted)
            {
                EmitArguments(EmptyArguments);
            }

            EndCall();
        }
        else if (_callDropped)
        {
            EndCall();
        }
        else
        {
            _state = State.MalformedCall;
            EmitContentChars(_callText);
        }
    }

    /// <summary>Advances the JSON scanner of the call body by one char; false on a structural error.</summary>
    private bool StepJson(char c)
    {
        switch (_json)
        {
            case Json.ObjectStart:
                if (IsJsonWhitespace(c))
                {
                    return true;
                }

                if (c != '{')
                {
                    return false;
                }

                _bodyStart = _callText.Length - 1;
                _json = Json.FirstKeyOrEnd;
                return true;

            case Json.FirstKeyOrEnd:
            case Json.Key:
                if (IsJsonWhitespace(c))
                {
                    return true;
                }

                if (c == '}' && _json == Json.FirstKeyOrEnd)
                {
                    return CloseObject();
                }

                if (c != '"')
                {
                    return false;
                }

                _key.Clear();
                BeginString(StringTarget.Key);
                return true;

            case Json.String:
                return StepString(c);

            case Json.Colon:
                if (IsJsonWhitespace(c))
                {
                    return true;
                }

                if (c != ':')
                {
                    return false;
                }

                _role = Role.Other;
                if (!_nameSeen && _key.Equals("name".AsSpan()))
                {
                    _role = Role.Name;
                    _nameSeen = true;
                }
                else if (!_argsSeen && _key.Equals("arguments".AsSpan()))
                {
                    _role = Role.Arguments;
                    _argsSeen = true;
                }

                _json = Json.Value;
                return true;

            case Json.Value:
                return BeginValue(c);

            case Json.Container:
                return StepContainer(c);

            case Json.Scalar:
                if (IsJsonWhitespace(c) || c is ',' or '}' or ']')
                {
                    if (_role == Role.Arguments)
                    {
                        EndScalarArguments();
                    }

                    _json = Json.CommaOrEnd;
                    return StepJson(c);
                }

                if (c is not ((>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '+' or '-' or '.'))
                {
                    return false;
                }

                if (_role == Role.Arguments)
                {
                    // Held until the scalar ends: null becomes "{}".
                    _args.Append(c);
                }

                return true;

            case Json.CommaOrEnd:
                if (IsJsonWhitespace(c))
                {
                    return true;
                }

                if (c == ',')
                {
                    _json = Json.Key;
                    return true;
                }

                return c == '}' && CloseObject();

            default:
                return false;
        }
    }

    private bool BeginValue(char c)
    {
        if (IsJsonWhitespace(c))
        {
            return true;
        }

        // Only a plausible value start may announce a call: "arguments": after… is prose, not a value.
        if (c is not ('"' or '{' or '[' or '-' or (>= '0' and <= '9') or 't' or 'f' or 'n'))
        {
            return false;
        }

        switch (_role)
        {
            case Role.Name:
                if (c != '"')
                {
                    return false;
                }

                _nameText.Clear();
                BeginString(StringTarget.Name);
                return true;

            case Role.Arguments:
                // The name is known and the arguments begin: the earliest point a call is worth announcing.
                if (_name is not null && !_callDropped)
                {
                    StartCall();
                }

                if (c == '"')
                {
                    BeginString(StringTarget.Arguments);
                }
                else if (c is '{' or '[')
                {
                    _brackets.Clear();
                    _brackets.Append(c);
                    _inString = false;
                    _escape = false;
                    AppendArguments(c);
                    _json = Json.Container;
                }
                else
                {
                    _args.Append(c);
                    _json = Json.Scalar;
                }

                return true;

            default:
                if (c == '"')
                {
                    BeginString(StringTarget.None);
                }
                else if (c is '{' or '[')
                {
                    _brackets.Clear();
                    _brackets.Append(c);
                    _inString = false;
                    _escape = false;
                    _json = Json.Container;
                }
                else
                {
                    _json = Json.Scalar;
                }

                return true;
        }
    }

    private void BeginString(StringTarget target)
    {
        _stringTarget = target;
        _escape = false;
        _hexLeft = 0;
        _json = Json.String;
    }

    /// <summary>One char of a JSON string, decoding it into the current target.</summary>
    private bool StepString(char c)
    {
        if (_hexLeft > 0)
        {
            var digit = HexValue(c);
            if (digit < 0)
            {
                return false;
            }

            _hexValue = (_hexValue << 4) | digit;
            if (--_hexLeft == 0)
            {
                AppendDecoded((char)_hexValue);
            }

            return true;
        }

        if (_escape)
        {
            _escape = false;
            char decoded;
            switch (c)
            {
                case '"' or '\\' or '/':
                    decoded = c;
                    break;
                case 'b':
                    decoded = '\b';
                    break;
                case 'f':
                    decoded = '\f';
                    break;
                case 'n':
                    decoded = '\n';
                    break;
                case 'r':
                    decoded = '\r';
                    break;
                case 't':
                    decoded = '\t';
                    break;
                case 'u':
                    _hexLeft = 4;
                    _hexValue = 0;
                    return true;
                default:
                    return false;
            }

            AppendDecoded(decoded);
            return true;
        }

        if (c == '\\')
        {
            _escape = true;
            return true;
        }

        if (c != '"')
        {
            AppendDecoded(c);
            return true;
        }

        switch (_stringTarget)
        {
            case StringTarget.Key:
                _json = Json.Colon;
                return true;
            case StringTarget.Name:
                if (_nameText.Length == 0)
                {
                    return false;
                }

                _name = _nameText.ToString();
                break;
            case StringTarget.Arguments:
                if (_args.Length == 0)
                {
                    AppendArguments(EmptyArguments);
                }

                _argsDone = true;
                break;
        }

        _json = Json.CommaOrEnd;
        return true;
    }

    private void AppendDecoded(char c)
    {
        switch (_stringTarget)
        {
            case StringTarget.Key:
                _key.Append(c);
                break;
            case StringTarget.Name:
                _nameText.Append(c);
                break;
            case StringTarget.Arguments:
                AppendArguments(c);
                break;
        }
    }

    /// <summary>One char inside an object or array value: tracks strings and bracket nesting to find its end.</summary>
    private bool StepContainer(char c)
    {
        if (_inString)
        {
            if (_escape)
            {
                _escape = false;
            }
            else if (c == '\\')
            {
                _escape = true;
            }
            else if (c == '"')
            {
                _inString = false;
            }
        }
        else if (c == '"')
        {
            _inString = true;
        }
        else if (c is '{' or '[')
        {
            _brackets.Append(c);
        }
        else if (c is '}' or ']')
        {
            var open = _brackets[^1];
            if ((open == '{') != (c == '}'))
            {
                return false;
            }

            _brackets.Length--;
        }

        if (_role == Role.Arguments)
        {
            AppendArguments(c);
        }

        if (_brackets.Length == 0)
        {
            _argsDone |= _role == Role.Arguments;
            _json = Json.CommaOrEnd;
        }

        return true;
    }

    private void EndScalarArguments()
    {
        if (_args.Equals("null".AsSpan()))
        {
            _args.Clear();
            _args.Append(EmptyArguments);
        }

        if (_callStarted)
        {
            EmitArguments(_args);
        }

        _argsDone = true;
    }

    /// <summary>The outer object closed: the call is complete, or (if nothing was sent yet) validated now.</summary>
    private bool CloseObject()
    {
        if (!_callStarted && !_callDropped)
        {
            if (_name is null || !IsValidJson(_callText, _bodyStart))
            {
                return false;
            }

            StartCall();
            if (_argsDone)
            {
                EmitArguments(_args);
            }
        }

        if (_callStarted && !_argsEmitted)
        {
            EmitArguments(EmptyArguments);
        }

        _state = State.CallAfterObject;
        return true;
    }

    private void StartCall()
    {
        Flush(holdHighSurrogate: false);
        _callIndex = _callCount++;
        _callStarted = true;
        _sink!.Add(OutputEvent.ToolCallStart(_callIndex, _newId(), _name!));
    }

    private void AppendArguments(char c)
    {
        _args.Append(c);
        if (_callStarted)
        {
            Emit(OutputEventKind.ToolCallArgumentsDelta, _callIndex, c);
            _argsEmitted = true;
        }
    }

    private void AppendArguments(string text)
    {
        foreach (var c in text)
        {
            AppendArguments(c);
        }
    }

    private void EmitArguments(StringBuilder text)
    {
        if (text.Length > 0)
        {
            Emit(OutputEventKind.ToolCallArgumentsDelta, _callIndex, text);
            _argsEmitted = true;
        }
    }

    private void EmitArguments(string text)
    {
        Emit(OutputEventKind.ToolCallArgumentsDelta, _callIndex, text);
        _argsEmitted = true;
    }

    private void StepAfterObject(char c)
    {
        if (_tag.Length == 0 && c != '<')
        {
            if (!IsWhitespace(c))
            {
                // Junk after the object (an extra '}' is common): skip to the close tag.
                _state = State.CallSkip;
            }

            return;
        }

        _tag.Append(c);
        switch (Match(_tag, Tags.CallClose | Tags.CallOpen))
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
                _tag.Clear();
                _state = State.CallSkip;
                StepSkip(c);
                return;
        }
    }

    private void StepSkip(char c)
    {
        if (_tag.Length == 0 && c != '<')
        {
            return;
        }

        _tag.Append(c);
        switch (Match(_tag, Tags.CallClose))
        {
            case TagMatch.Partial:
                return;
            case TagMatch.CallClose:
                EndCall();
                return;
            default:
                _tag.Clear();
                if (c == '<')
                {
                    _tag.Append(c);
                }

                return;
        }
    }

    private void StepMalformed(char c)
    {
        EmitContentChar(c);
        if (c == CallCloseTag[_closeMatch])
        {
            if (++_closeMatch == CallCloseTag.Length)
            {
                _closeMatch = 0;
                _state = State.Content;
            }
        }
        else
        {
            _closeMatch = c == '<' ? 1 : 0;
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

    private static bool IsJsonWhitespace(char c) => c is ' ' or '\t' or '\n' or '\r';

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>Strict JSON check of the call body (no comments, no trailing commas, one value).</summary>
    private static bool IsValidJson(StringBuilder text, int start)
    {
        var length = text.Length - start;
        var chars = ArrayPool<char>.Shared.Rent(length);
        var bytes = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(length));
        try
        {
            text.CopyTo(start, chars, 0, length);
            var count = Encoding.UTF8.GetBytes(chars, 0, length, bytes, 0);
            var reader = new Utf8JsonReader(bytes.AsSpan(0, count), new JsonReaderOptions { MaxDepth = 256 });
            while (reader.Read())
            {
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    private void EmitContent(StringBuilder text) => Emit(OutputEventKind.ContentDelta, -1, text);

    private void EmitContent(string text) => Emit(OutputEventKind.ContentDelta, -1, text);

    private void Stage(OutputEventKind kind, int index)
    {
        if (_out.Length > 0 && (kind != _outKind || index != _outIndex))
        {
            Flush(holdHighSurrogate: false);
        }

        _outKind = kind;
        _outIndex = index;
    }

    private void Emit(OutputEventKind kind, int index, char c)
    {
        Stage(kind, index);
        _out.Append(c);
    }

    private void Emit(OutputEventKind kind, int index, string text)
    {
        if (text.Length > 0)
        {
            Stage(kind, index);
            _out.Append(text);
        }
    }

    private void Emit(OutputEventKind kind, int index, StringBuilder text)
    {
        if (text.Length > 0)
        {
            Stage(kind, index);
            _out.Append(text);
        }
    }

    private void Flush(bool holdHighSurrogate)
    {
        var length = _out.Length;
        if (holdHighSurrogate && length > 0 && char.IsHighSurrogate(_out[length - 1]))
        {
            // Its low half comes with a later char (e.g. a \udXXX escape split across deltas).
            length--;
        }

        if (length == 0)
        {
            return;
        }

        var text = _out.ToString(0, length);
        _out.Remove(0, length);
        _sink!.Add(_outKind switch
        {
            OutputEventKind.ContentDelta => OutputEvent.Content(text),
            OutputEventKind.ReasoningDelta => OutputEvent.Reasoning(text),
            _ => OutputEvent.ToolCallArguments(_outIndex, text),
        });
    }
}
