using System.Globalization;
using System.Text;

namespace YoutuServer.Chat.Grammar;

/// <summary>
/// Collects GBNF rules for one grammar: unique rule names, shared primitive rules, and the size limits.
/// The text it writes keeps to llama.cpp's parser (<c>src/llama-grammar.cpp</c>): one rule per line,
/// names of <c>[a-zA-Z0-9-]</c>, ASCII only (other code points as <c>\u</c>/<c>\U</c> escapes), and
/// <c>{m,n}</c> only on a single symbol, never on a parenthesised group (llama.cpp multiplies a group's
/// inner rule count by the bound and refuses products above 2000).
/// </summary>
internal sealed class GbnfBuilder
{
    /// <summary>Optional single space: the only whitespace allowed between JSON tokens (", " and ": " style).</summary>
    public const string Ws = "ws";

    private static readonly Dictionary<string, (string Body, string[] Deps)> Primitives = new(StringComparer.Ordinal)
    {
        [Ws] = ("\" \"?", []),
        ["char"] = ("[^\"\\\\\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4} )", []),
        ["string"] = ("\"\\\"\" char* \"\\\"\"", ["char"]),
        ["integer"] = ("\"-\"? ( \"0\" | [1-9] [0-9]{0,18} )", []),
        ["number"] = ("\"-\"? ( \"0\" | [1-9] [0-9]{0,18} ) ( \".\" [0-9]{1,18} )? ( [eE] [-+]? [0-9]{1,3} )?", []),
        ["boolean"] = ("\"true\" | \"false\"", []),
        ["null"] = ("\"null\"", []),
        ["date"] = ("[0-9]{4} \"-\" ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"3\" [01] )", []),
        ["time"] = ("( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" ( [0-5] [0-9] | \"60\" ) ( \".\" [0-9]{1,9} )? ( [Zz] | [-+] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )", []),
        ["date-time"] = ("date [Tt] time", ["date", "time"]),
        ["uuid"] = ("[0-9a-fA-F]{8} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{12}", []),
        ["date-string"] = ("\"\\\"\" date \"\\\"\"", ["date"]),
        ["time-string"] = ("\"\\\"\" time \"\\\"\"", ["time"]),
        ["date-time-string"] = ("\"\\\"\" date-time \"\\\"\"", ["date-time"]),
        ["uuid-string"] = ("\"\\\"\" uuid \"\\\"\"", ["uuid"]),
    };

    /// <summary>The largest bound ever written, whatever <see cref="JsonGrammarOptions.MaxRepetition"/> says.</summary>
    public const int HardRepetitionCap = 1000;

    private readonly JsonGrammarOptions options;
    private readonly List<string> order = [];
    private readonly Dictionary<string, string?> rules = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> byBody = new(StringComparer.Ordinal);
    private int chars;

    public GbnfBuilder(JsonGrammarOptions options)
    {
        this.options = options;
    }

    public JsonGrammarOptions Options => options;

    public int RuleCount => rules.Count;

    /// <summary>Adds a rule named after <paramref name="hint"/>, or returns an existing rule with the same body.</summary>
    public string Add(string hint, string body, string path)
    {
        if (byBody.TryGetValue(body, out var existing))
        {
            return existing;
        }

        var name = Reserve(hint, path);
        Define(name, body, path);
        return name;
    }

    /// <summary>Reserves a unique name for a rule whose body comes later (recursive <c>$ref</c>s).</summary>
    public string Reserve(string hint, string path)
    {
        var baseName = SanitizeName(hint);
        var name = baseName;
        for (var i = 1; IsTaken(name); i++)
        {
            name = baseName + "-" + i.ToString(CultureInfo.InvariantCulture);
        }

        CountRule(path);
        rules[name] = null;
        order.Add(name);
        return name;
    }

    /// <summary>Gives a body to a name from <see cref="Reserve"/>, or defines an exact name such as <c>root</c>.</summary>
    public void Define(string name, string body, string path)
    {
        if (rules.TryGetValue(name, out var old))
        {
            if (old is not null)
            {
                throw new InvalidOperationException($"GBNF rule '{name}' is defined twice.");
            }
        }
        else
        {
            CountRule(path);
            order.Add(name);
        }

        rules[name] = body;
        byBody.TryAdd(body, name);
        chars += name.Length + body.Length + 6;
        if (chars > options.MaxGrammarChars)
        {
            throw TooComplex(path, $"the grammar would exceed {options.MaxGrammarChars} characters");
        }
    }

    /// <summary>Makes sure a shared primitive rule (and what it needs) is defined; returns its name.</summary>
    public string Primitive(string name)
    {
        if (rules.ContainsKey(name))
        {
            return name;
        }

        var (body, deps) = Primitives[name];
        if (name == "string" && options.MaxStringLength is { } most)
        {
            // Bounded strings (a forced call that must fit): at most that many characters.
            body = most <= 0 ? "\"\\\"\\\"\"" : $"\"\\\"\" char{{0,{Math.Min(most, HardRepetitionCap).ToString(CultureInfo.InvariantCulture)}}} \"\\\"\"";
        }

        foreach (var dep in deps)
        {
            Primitive(dep);
        }

        Define(name, body, "");
        return name;
    }

    /// <summary>
    /// Any JSON value whose objects and arrays nest at most <see cref="JsonGrammarOptions.AnyValueDepth"/> deep.
    /// A bounded depth keeps a sampler from opening brackets forever.
    /// </summary>
    public string AnyValue() => AnyValueAt(0);

    /// <summary>Any JSON object (for <c>response_format: json_object</c> and tools without parameters).</summary>
    public string AnyObject()
    {
        AnyValueAt(0);
        return "object";
    }

    private string AnyValueAt(int level)
    {
        var suffix = level == 0 ? "" : "-" + level.ToString(CultureInfo.InvariantCulture);
        var value = "value" + suffix;
        if (rules.ContainsKey(value))
        {
            return value;
        }

        Primitive(Ws);
        Primitive("string");
        Primitive("number");
        Primitive("boolean");
        Primitive("null");
        if (level >= options.AnyValueDepth)
        {
            Define(value, "\"{\" ws \"}\" | \"[\" ws \"]\" | string | number | boolean | null", "");
            return value;
        }

        var obj = "object" + suffix;
        var arr = "array" + suffix;
        Define(value, $"{obj} | {arr} | string | number | boolean | null", "");
        var inner = AnyValueAt(level + 1);
        Define(obj, $"\"{{\" ws ( string \":\" ws {inner} ( \",\" ws string \":\" ws {inner} )* ws )? \"}}\"", "");
        Define(arr, $"\"[\" ws ( {inner} ( \",\" ws {inner} )* ws )? \"]\"", "");
        return value;
    }

    /// <summary>Writes all rules, <c>root</c> first, one per line.</summary>
    public string Build()
    {
        var sb = new StringBuilder(chars + 64);
        if (rules.TryGetValue("root", out var rootBody) && rootBody is not null)
        {
            AppendRule(sb, "root", rootBody);
        }

        foreach (var name in order)
        {
            if (name == "root")
            {
                continue;
            }

            var body = rules[name] ?? throw new InvalidOperationException($"GBNF rule '{name}' was reserved but never defined.");
            AppendRule(sb, name, body);
        }

        return sb.ToString();
    }

    private static void AppendRule(StringBuilder sb, string name, string body) =>
        sb.Append(name).Append(" ::= ").Append(body).Append('\n');

    public UnsupportedSchemaException TooComplex(string path, string detail) =>
        new("schema", path, "schema too complex: " + detail);

    private void CountRule(string path)
    {
        if (rules.Count >= options.MaxRules)
        {
            throw TooComplex(path, $"more than {options.MaxRules} grammar rules");
        }
    }

    private bool IsTaken(string name) =>
        rules.ContainsKey(name) || Primitives.ContainsKey(name) || IsAnyValueName(name) || name == "root";

    private static bool IsAnyValueName(string name)
    {
        foreach (var prefix in (ReadOnlySpan<string>)["value", "object", "array"])
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal))
            {
                var rest = name.AsSpan(prefix.Length);
                if (rest.IsEmpty || (rest[0] == '-' && int.TryParse(rest[1..], NumberStyles.None, CultureInfo.InvariantCulture, out _)))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Turns free text (property names, tool names) into a rule name of <c>[a-zA-Z0-9-]</c>.</summary>
    public static string SanitizeName(string hint)
    {
        var sb = new StringBuilder(Math.Min(hint.Length, 48));
        var dash = false;
        foreach (var c in hint)
        {
            if (sb.Length >= 48)
            {
                break;
            }

            if (char.IsAsciiLetterOrDigit(c))
            {
                sb.Append(c);
                dash = false;
            }
            else if (!dash && sb.Length > 0)
            {
                sb.Append('-');
                dash = true;
            }
        }

        while (sb.Length > 0 && sb[^1] == '-')
        {
            sb.Length--;
        }

        return sb.Length == 0 ? "r" : sb.ToString();
    }

    /// <summary>A GBNF string literal matching exactly <paramref name="text"/>.</summary>
    public static string Literal(string text)
    {
        var sb = new StringBuilder(text.Length + 2);
        sb.Append('"');
        foreach (var rune in text.EnumerateRunes())
        {
            switch (rune.Value)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                default: AppendEscaped(sb, rune.Value); break;
            }
        }

        sb.Append('"');
        return sb.ToString();
    }

    /// <summary>One code point written for use inside a GBNF character class <c>[...]</c>.</summary>
    public static string ClassChar(int codePoint)
    {
        switch (codePoint)
        {
            case '\\': return "\\\\";
            case ']': return "\\]";
            case '[': return "\\[";
            case '-': return "\\-";
            case '"': return "\\\"";
            case '^': return "\\x5E";
            default:
                var sb = new StringBuilder(10);
                AppendEscaped(sb, codePoint);
                return sb.ToString();
        }
    }

    private static void AppendEscaped(StringBuilder sb, int cp)
    {
        switch (cp)
        {
            case '\n': sb.Append("\\n"); return;
            case '\r': sb.Append("\\r"); return;
            case '\t': sb.Append("\\t"); return;
        }

        if (cp < 0x20 || cp == 0x7F)
        {
            sb.Append("\\x").Append(cp.ToString("X2", CultureInfo.InvariantCulture));
        }
        else if (cp < 0x7F)
        {
            sb.Append((char)cp);
        }
        else if (cp <= 0xFFFF)
        {
            sb.Append("\\u").Append(cp.ToString("X4", CultureInfo.InvariantCulture));
        }
        else
        {
            sb.Append("\\U").Append(cp.ToString("X8", CultureInfo.InvariantCulture));
        }
    }

    /// <summary>
    /// <paramref name="item"/> repeated between <paramref name="min"/> and <paramref name="max"/> times
    /// (<paramref name="max"/> &lt; 0 = unbounded). <paramref name="item"/> must be a single symbol.
    /// A bound above <see cref="JsonGrammarOptions.MaxRepetition"/> is dropped (max) or refused (min).
    /// </summary>
    public string Repeat(string item, int min, int max, string keyword, string path)
    {
        // llama.cpp refuses more than 2000 and counts a repetition's rules against any group around it.
        var cap = Math.Min(options.MaxRepetition, HardRepetitionCap);
        if (min > cap)
        {
            throw new UnsupportedSchemaException(keyword, path,
                $"schema too complex: a minimum repetition of {min} exceeds the limit of {cap}");
        }

        if (max > cap)
        {
            max = -1;
        }

        if (max == 0)
        {
            return "";
        }

        var inv = CultureInfo.InvariantCulture;
        return (min, max) switch
        {
            (0, -1) => item + "*",
            (1, -1) => item + "+",
            (_, -1) => $"{item}{{{min.ToString(inv)},}}",
            (0, 1) => item + "?",
            (1, 1) => item,
            _ when min == max => $"{item}{{{min.ToString(inv)}}}",
            _ => $"{item}{{{min.ToString(inv)},{max.ToString(inv)}}}",
        };
    }
}
