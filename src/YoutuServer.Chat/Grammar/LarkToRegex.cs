using System.Globalization;
using System.Text;

namespace YoutuServer.Chat.Grammar;

/// <summary>
/// Turns a Lark grammar (a Responses <c>custom</c> tool's <c>format: {"type": "grammar", "syntax": "lark"}</c>) into
/// one regex for the whole input, which <see cref="RegexToGbnf"/> then enforces. Works for the non-recursive
/// grammars agents send (Codex's apply_patch is one): rules and terminals are inlined from <c>start</c>.
/// <para>
/// Supported: rules and terminals (<c>name: ...</c>, <c>NAME: ...</c>, <c>?name</c>/<c>!name</c>, terminal priorities),
/// continuation lines starting with <c>|</c>, <c>//</c> comments, string literals, <c>/regex/</c> (no flags), groups
/// <c>( )</c>, optional <c>[ ]</c>, the operators <c>? * +</c> and <c>~ n</c> / <c>~ n..m</c>, aliases (<c>-&gt; name</c>, dropped),
/// and <c>%import common.X</c> for the usual terminals (LF, CR, WS, DIGIT, LETTER, INT, WORD, ...). Refused with the
/// construct named: recursion, <c>%ignore</c> and other directives, templates, literal flags (<c>"x"i</c>), regex flags.
/// </para>
/// </summary>
public static class LarkToRegex
{
    private const int MaxDefinitionLength = 20_000;
    private const int MaxRegexLength = 20_000;

    private static readonly Dictionary<string, string> Common = new(StringComparer.Ordinal)
    {
        ["LF"] = @"\n",
        ["CR"] = @"\r",
        ["NEWLINE"] = @"(?:\r?\n)+",
        ["WS"] = @"[ \t\f\r\n]+",
        ["WS_INLINE"] = @"[ \t]+",
        ["DIGIT"] = "[0-9]",
        ["HEXDIGIT"] = "[0-9a-fA-F]",
        ["INT"] = "[0-9]+",
        ["SIGNED_INT"] = "[+-]?[0-9]+",
        ["NUMBER"] = @"[0-9]+(?:\.[0-9]+)?",
        ["LETTER"] = "[a-zA-Z]",
        ["LCASE_LETTER"] = "[a-z]",
        ["UCASE_LETTER"] = "[A-Z]",
        ["WORD"] = "[a-zA-Z]+",
        ["CNAME"] = "[a-zA-Z_][a-zA-Z0-9_]*",
        ["ESCAPED_STRING"] = "\"(?:[^\"\\\\]|\\\\.)*\"",
    };

    /// <summary>The regex (for the whole input: <c>^…$</c>) of the grammar's <c>start</c> rule.</summary>
    /// <exception cref="UnsupportedSchemaException">A construct that cannot become a regex, named in the message.</exception>
    public static string Convert(string definition, string path)
    {
        if (definition.Length > MaxDefinitionLength)
        {
            throw Fail(path, $"Lark grammars longer than {MaxDefinitionLength} characters are not supported");
        }

        var rules = Parse(definition, path);
        if (!rules.ContainsKey("start"))
        {
            throw Fail(path, "the Lark grammar has no 'start' rule");
        }

        var regex = new Inliner(rules, path).Rule("start");
        return regex.Length > MaxRegexLength
            ? throw Fail(path, $"the Lark grammar expands to more than {MaxRegexLength} regex characters")
            : "^(?:" + regex + ")$";
    }

    private static UnsupportedSchemaException Fail(string path, string detail) => new("grammar", path, detail);

    private static Dictionary<string, string> Parse(string definition, string path)
    {
        var rules = new Dictionary<string, string>(StringComparer.Ordinal);
        string? last = null;
        foreach (var raw in definition.Split('\n'))
        {
            var line = StripComment(raw).Trim();
            if (line.Length == 0)
            {
                continue;
            }

            if (line[0] == '%')
            {
                var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                if (parts[0] == "%import" && parts.Length >= 2 && parts[1].StartsWith("common.", StringComparison.Ordinal))
                {
                    var name = parts[1]["common.".Length..];
                    var alias = parts.Length == 4 && parts[2] == "->" ? parts[3] : name;
                    rules[alias] = Common.TryGetValue(name, out var r) ? "/" + r + "/" : throw Fail(path, $"'%import common.{name}' is not supported (known: {string.Join(", ", Common.Keys)})");
                    continue;
                }

                throw Fail(path, $"the Lark directive '{parts[0]}' is not supported");
            }

            if (line[0] == '|')
            {
                if (last is null)
                {
                    throw Fail(path, "a '|' continuation line before any rule");
                }

                rules[last] += " " + line;
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw Fail(path, $"cannot read the Lark line '{Shorten(line)}'");
            }

            var head = line[..colon].Trim().TrimStart('?', '!');
            var dot = head.IndexOf('.', StringComparison.Ordinal);
            if (dot > 0)
            {
                head = head[..dot]; // a terminal or rule priority: irrelevant to what matches
            }

            if (head.Length == 0 || !head.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                throw Fail(path, $"the Lark rule name '{Shorten(line[..colon])}' is not supported (templates and parameters are not)");
            }

            rules[head] = line[(colon + 1)..];
            last = head;
        }

        return rules;
    }

    private static string StripComment(string line)
    {
        var inString = false;
        var inRegex = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (c == '\\')
            {
                i++;
                continue;
            }

            if (!inRegex && c == '"')
            {
                inString = !inString;
            }
            else if (!inString && c == '/' && i + 1 < line.Length && line[i + 1] == '/' && !inRegex)
            {
                return line[..i];
            }
            else if (!inString && c == '/')
            {
                inRegex = !inRegex;
            }
        }

        return line;
    }

    private static string Shorten(string s) => s.Length > 40 ? s[..40] + "…" : s;

    /// <summary>Inlines rules into one regex, refusing recursion.</summary>
    private sealed class Inliner(Dictionary<string, string> rules, string path)
    {
        private readonly HashSet<string> active = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> done = new(StringComparer.Ordinal);
        private string text = "";
        private int pos;

        public string Rule(string name)
        {
            if (done.TryGetValue(name, out var known))
            {
                return known;
            }

            if (!rules.TryGetValue(name, out var body))
            {
                throw Fail(path, $"the Lark grammar uses '{name}', which it does not define");
            }

            if (!active.Add(name))
            {
                throw Fail(path, $"the Lark rule '{name}' is recursive; only non-recursive grammars can be enforced");
            }

            var (savedText, savedPos) = (text, pos);
            (text, pos) = (body, 0);
            var regex = Alternatives();
            Space();
            if (pos < text.Length)
            {
                throw Fail(path, $"cannot read '{Shorten(text[pos..])}' in the Lark rule '{name}'");
            }

            (text, pos) = (savedText, savedPos);
            active.Remove(name);
            done[name] = regex;
            return regex;
        }

        private void Space()
        {
            while (pos < text.Length && char.IsWhiteSpace(text[pos]))
            {
                pos++;
            }
        }

        private string Alternatives()
        {
            var options = new List<string> { Sequence() };
            Space();
            while (pos < text.Length && text[pos] == '|')
            {
                pos++;
                options.Add(Sequence());
                Space();
            }

            return options.Count == 1 ? options[0] : "(?:" + string.Join("|", options) + ")";
        }

        private string Sequence()
        {
            var sb = new StringBuilder();
            while (true)
            {
                Space();
                if (pos >= text.Length || text[pos] is '|' or ')' or ']')
                {
                    return sb.ToString();
                }

                if (text.AsSpan(pos).StartsWith("->", StringComparison.Ordinal))
                {
                    // An alias names the tree node; it does not change what matches. Skip to the alternative's end.
                    pos += 2;
                    Space();
                    while (pos < text.Length && (char.IsAsciiLetterOrDigit(text[pos]) || text[pos] == '_'))
                    {
                        pos++;
                    }

                    continue;
                }

                sb.Append(Repeated());
            }
        }

        private string Repeated()
        {
            var atom = Atom();
            Space();
            if (pos < text.Length && text[pos] is '?' or '*' or '+')
            {
                return "(?:" + atom + ")" + text[pos++];
            }

            if (pos < text.Length && text[pos] == '~')
            {
                pos++;
                Space();
                var lo = Number();
                var hi = lo;
                if (text.AsSpan(pos).StartsWith("..", StringComparison.Ordinal))
                {
                    pos += 2;
                    hi = Number();
                }

                return "(?:" + atom + "){" + lo.ToString(CultureInfo.InvariantCulture) + "," + hi.ToString(CultureInfo.InvariantCulture) + "}";
            }

            return atom;
        }

        private int Number()
        {
            var start = pos;
            while (pos < text.Length && char.IsAsciiDigit(text[pos]))
            {
                pos++;
            }

            return start == pos ? throw Fail(path, "'~' needs a count in the Lark grammar") : int.Parse(text[start..pos], CultureInfo.InvariantCulture);
        }

        private string Atom()
        {
            var c = text[pos];
            switch (c)
            {
                case '"':
                    return Literal();
                case '/':
                    return RegexLiteral();
                case '(':
                {
                    pos++;
                    var inner = Alternatives();
                    Expect(')');
                    return "(?:" + inner + ")";
                }

                case '[':
                {
                    pos++;
                    var inner = Alternatives();
                    Expect(']');
                    return "(?:" + inner + ")?";
                }

                default:
                    var start = pos;
                    while (pos < text.Length && (char.IsAsciiLetterOrDigit(text[pos]) || text[pos] == '_'))
                    {
                        pos++;
                    }

                    if (start == pos)
                    {
                        throw Fail(path, $"the Lark construct '{Shorten(text[pos..])}' is not supported");
                    }

                    if (pos < text.Length && text[pos] == '{')
                    {
                        throw Fail(path, "Lark templates ('name{...}') are not supported");
                    }

                    return "(?:" + Rule(text[start..pos]) + ")";
            }
        }

        private void Expect(char c)
        {
            Space();
            if (pos >= text.Length || text[pos] != c)
            {
                throw Fail(path, $"missing '{c}' in the Lark grammar");
            }

            pos++;
        }

        private string Literal()
        {
            var sb = new StringBuilder();
            pos++;
            while (pos < text.Length && text[pos] != '"')
            {
                var c = text[pos++];
                if (c == '\\' && pos < text.Length)
                {
                    var e = text[pos++];
                    c = e switch { 'n' => '\n', 't' => '\t', 'r' => '\r', _ => e };
                }

                sb.Append(c switch
                {
                    '\n' => @"\n",
                    '\t' => @"\t",
                    '\r' => @"\r",
                    _ when @"\^$.|?*+()[]{}/".Contains(c, StringComparison.Ordinal) => "\\" + c,
                    _ => c.ToString(),
                });
            }

            if (pos >= text.Length)
            {
                throw Fail(path, "an unterminated string in the Lark grammar");
            }

            pos++;
            if (pos < text.Length && text[pos] == 'i')
            {
                throw Fail(path, "case-insensitive Lark literals (\"...\"i) are not supported");
            }

            return sb.ToString();
        }

        private string RegexLiteral()
        {
            var start = ++pos;
            while (pos < text.Length && text[pos] != '/')
            {
                pos += text[pos] == '\\' ? 2 : 1;
            }

            if (pos >= text.Length)
            {
                throw Fail(path, "an unterminated /regex/ in the Lark grammar");
            }

            var body = text[start..pos];
            pos++;
            if (pos < text.Length && char.IsAsciiLetterLower(text[pos]))
            {
                throw Fail(path, $"Lark regex flags ('/.../{text[pos]}') are not supported");
            }

            return "(?:" + body + ")";
        }
    }
}
