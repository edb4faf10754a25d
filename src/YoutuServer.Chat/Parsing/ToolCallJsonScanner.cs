using System.Buffers;
using System.Text;
using System.Text.Json;

namespace YoutuServer.Chat.Parsing;

/// <summary>What the scanner of a tool-call body reports as it reads (implemented by the tag machine).</summary>
internal interface IToolCallJsonListener
{
    /// <summary>The value of <c>"arguments"</c> begins and <see cref="ToolCallJsonScanner.Name"/> is already known.</summary>
    void ArgumentsBeginning();

    /// <summary>One char of the arguments' text (a string value decoded, an object or array as written).</summary>
    void ArgumentsAppended(char c);

    /// <summary>A scalar arguments value ended; <see cref="ToolCallJsonScanner.Arguments"/> holds it (<c>null</c> as <c>{}</c>).</summary>
    void ScalarArgumentsEnded();

    /// <summary>The body's object closed; false rejects the body (a structural error).</summary>
    bool ObjectClosed();
}

/// <summary>
/// The streaming JSON scanner of one <c>&lt;tool_call&gt;</c> body: reads the body char by char, finds <c>"name"</c> and
/// <c>"arguments"</c> (first occurrence of each, any order), decodes string values, and tracks brackets and strings so
/// that the end of an object or array value is found without buffering the whole body. It knows no tags and sends no
/// events: it reports what it finds to its <see cref="IToolCallJsonListener"/>, which decides what reaches the client.
/// Reused for every block (<see cref="Reset"/>).
/// </summary>
internal sealed class ToolCallJsonScanner(IToolCallJsonListener listener)
{
    /// <summary>The arguments of a call whose value was an empty string, <c>null</c>, or absent.</summary>
    public const string EmptyArguments = "{}";

    private readonly StringBuilder body = new();
    private readonly StringBuilder key = new();
    private readonly StringBuilder nameText = new();
    private readonly StringBuilder args = new();
    private readonly StringBuilder brackets = new();
    private bool nameSeen;
    private bool argsSeen;
    private Json json;
    private Role role;
    private StringTarget stringTarget;
    private bool inString;
    private bool escape;
    private int hexLeft;
    private int hexValue;

    private enum Json { ObjectStart, FirstKeyOrEnd, Key, Colon, Value, String, Container, Scalar, CommaOrEnd }

    private enum Role { Other, Name, Arguments }

    private enum StringTarget { None, Key, Name, Arguments }

    /// <summary>The call's name, once its string value is complete and non-empty.</summary>
    public string? Name { get; private set; }

    /// <summary>The arguments' text so far (see <see cref="IToolCallJsonListener.ArgumentsAppended"/>).</summary>
    public StringBuilder Arguments => args;

    /// <summary>The arguments value is complete.</summary>
    public bool ArgumentsDone { get; private set; }

    /// <summary>Starts a new body.</summary>
    public void Reset()
    {
        body.Clear();
        key.Clear();
        nameText.Clear();
        args.Clear();
        brackets.Clear();
        Name = null;
        nameSeen = false;
        argsSeen = false;
        ArgumentsDone = false;
        json = Json.ObjectStart;
        role = Role.Other;
        inString = false;
        escape = false;
        hexLeft = 0;
    }

    /// <summary>Advances by one char; false on a structural error (the char is then not part of the body).</summary>
    public bool Step(char c)
    {
        if (json != Json.ObjectStart || c == '{')
        {
            body.Append(c);
        }

        return StepJson(c);
    }

    /// <summary>The output ended inside the body: a scalar arguments value ends here.</summary>
    public void EndOfInput()
    {
        if (json == Json.Scalar && role == Role.Arguments)
        {
            EndScalarArguments();
        }
    }

    /// <summary>Strict JSON check of the body so far (no comments, no trailing commas, one value).</summary>
    public bool BodyIsValidJson()
    {
        var length = body.Length;
        var chars = ArrayPool<char>.Shared.Rent(length);
        var bytes = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(length));
        try
        {
            body.CopyTo(0, chars, 0, length);
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

    private bool StepJson(char c)
    {
        switch (json)
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

                json = Json.FirstKeyOrEnd;
                return true;

            case Json.FirstKeyOrEnd:
            case Json.Key:
                if (IsJsonWhitespace(c))
                {
                    return true;
                }

                if (c == '}' && json == Json.FirstKeyOrEnd)
                {
                    return listener.ObjectClosed();
                }

                if (c != '"')
                {
                    return false;
                }

                key.Clear();
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

                role = Role.Other;
                if (!nameSeen && key.Equals("name".AsSpan()))
                {
                    role = Role.Name;
                    nameSeen = true;
                }
                else if (!argsSeen && key.Equals("arguments".AsSpan()))
                {
                    role = Role.Arguments;
                    argsSeen = true;
                }

                json = Json.Value;
                return true;

            case Json.Value:
                return BeginValue(c);

            case Json.Container:
                return StepContainer(c);

            case Json.Scalar:
                if (IsJsonWhitespace(c) || c is ',' or '}' or ']')
                {
                    if (role == Role.Arguments)
                    {
                        EndScalarArguments();
                    }

                    json = Json.CommaOrEnd;
                    return StepJson(c);
                }

                if (c is not ((>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '+' or '-' or '.'))
                {
                    return false;
                }

                if (role == Role.Arguments)
                {
                    // Held until the scalar ends: null becomes "{}".
                    args.Append(c);
                }

                return true;

            case Json.CommaOrEnd:
                if (IsJsonWhitespace(c))
                {
                    return true;
                }

                if (c == ',')
                {
                    json = Json.Key;
                    return true;
                }

                return c == '}' && listener.ObjectClosed();

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

        switch (role)
        {
            case Role.Name:
                if (c != '"')
                {
                    return false;
                }

                nameText.Clear();
                BeginString(StringTarget.Name);
                return true;

            case Role.Arguments:
                // The name is known and the arguments begin: the earliest point a call is worth announcing.
                if (Name is not null)
                {
                    listener.ArgumentsBeginning();
                }

                if (c == '"')
                {
                    BeginString(StringTarget.Arguments);
                }
                else if (c is '{' or '[')
                {
                    brackets.Clear();
                    brackets.Append(c);
                    inString = false;
                    escape = false;
                    AppendArguments(c);
                    json = Json.Container;
                }
                else
                {
                    args.Append(c);
                    json = Json.Scalar;
                }

                return true;

            default:
                if (c == '"')
                {
                    BeginString(StringTarget.None);
                }
                else if (c is '{' or '[')
                {
                    brackets.Clear();
                    brackets.Append(c);
                    inString = false;
                    escape = false;
                    json = Json.Container;
                }
                else
                {
                    json = Json.Scalar;
                }

                return true;
        }
    }

    private void BeginString(StringTarget target)
    {
        stringTarget = target;
        escape = false;
        hexLeft = 0;
        json = Json.String;
    }

    /// <summary>One char of a JSON string, decoding it into the current target.</summary>
    private bool StepString(char c)
    {
        if (hexLeft > 0)
        {
            var digit = HexValue(c);
            if (digit < 0)
            {
                return false;
            }

            hexValue = (hexValue << 4) | digit;
            if (--hexLeft == 0)
            {
                AppendDecoded((char)hexValue);
            }

            return true;
        }

        if (escape)
        {
            escape = false;
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
                    hexLeft = 4;
                    hexValue = 0;
                    return true;
                default:
                    return false;
            }

            AppendDecoded(decoded);
            return true;
        }

        if (c == '\\')
        {
            escape = true;
            return true;
        }

        if (c != '"')
        {
            AppendDecoded(c);
            return true;
        }

        switch (stringTarget)
        {
            case StringTarget.Key:
                json = Json.Colon;
                return true;
            case StringTarget.Name:
                if (nameText.Length == 0)
                {
                    return false;
                }

                Name = nameText.ToString();
                break;
            case StringTarget.Arguments:
                if (args.Length == 0)
                {
                    foreach (var e in EmptyArguments)
                    {
                        AppendArguments(e);
                    }
                }

                ArgumentsDone = true;
                break;
        }

        json = Json.CommaOrEnd;
        return true;
    }

    private void AppendDecoded(char c)
    {
        switch (stringTarget)
        {
            case StringTarget.Key:
                key.Append(c);
                break;
            case StringTarget.Name:
                nameText.Append(c);
                break;
            case StringTarget.Arguments:
                AppendArguments(c);
                break;
        }
    }

    /// <summary>One char inside an object or array value: tracks strings and bracket nesting to find its end.</summary>
    private bool StepContainer(char c)
    {
        if (inString)
        {
            if (escape)
            {
                escape = false;
            }
            else if (c == '\\')
            {
                escape = true;
            }
            else if (c == '"')
            {
                inString = false;
            }
        }
        else if (c == '"')
        {
            inString = true;
        }
        else if (c is '{' or '[')
        {
            brackets.Append(c);
        }
        else if (c is '}' or ']')
        {
            var open = brackets[^1];
            if ((open == '{') != (c == '}'))
            {
                return false;
            }

            brackets.Length--;
        }

        if (role == Role.Arguments)
        {
            AppendArguments(c);
        }

        if (brackets.Length == 0)
        {
            ArgumentsDone |= role == Role.Arguments;
            json = Json.CommaOrEnd;
        }

        return true;
    }

    private void EndScalarArguments()
    {
        if (args.Equals("null".AsSpan()))
        {
            args.Clear();
            args.Append(EmptyArguments);
        }

        listener.ScalarArgumentsEnded();
        ArgumentsDone = true;
    }

    private void AppendArguments(char c)
    {
        args.Append(c);
        listener.ArgumentsAppended(c);
    }

    private static bool IsJsonWhitespace(char c) => c is ' ' or '\t' or '\n' or '\r';

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
