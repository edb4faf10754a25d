using System.Globalization;
using System.Text;

namespace YoutuServer.Chat.Grammar;

/// <summary>
/// Turns a JSON Schema <c>pattern</c> (an ECMAScript regex) into GBNF for the JSON string that holds a
/// matching value, quotes included. The supported subset: literals and escaped metacharacters, <c>.</c>,
/// classes <c>[...]</c>/<c>[^...]</c> with ranges, <c>\d \w \s</c> (and <c>\D \W \S</c> outside classes),
/// <c>\t \n \r \f \v \0 \xHH \uHHHH</c>, groups <c>(...)</c>, <c>(?:...)</c>, <c>(?&lt;name&gt;...)</c>, alternation,
/// quantifiers <c>* + ? {n} {n,} {n,m}</c> (lazy forms too), and <c>^</c>/<c>$</c> at the start/end of a top-level
/// branch. A pattern without <c>^</c> (or <c>$</c>) may have any text before (after) the match, as in JSON Schema.
/// Anything else (lookaround, backreferences, <c>\b</c>, <c>\p{...}</c>, anchors elsewhere) is refused.
/// <para>
/// Matching is on the decoded string; the grammar writes it the way the model does (<c>"</c> and <c>\</c> and
/// control characters escaped, everything else raw). A negated class or <c>.</c> also admits the simple escapes
/// <c>\" \\ \/ \b \f \n \r \t</c> of characters it does not exclude, but never <c>\uXXXX</c>.
/// </para>
/// </summary>
internal sealed class RegexToGbnf
{
    private const int MaxPatternLength = 2000;
    private const int MaxNesting = 64;

    private readonly GbnfBuilder builder;
    private readonly string pattern;
    private readonly string path;
    private readonly string hint;
    private int pos;
    private int nesting;

    private RegexToGbnf(GbnfBuilder builder, string pattern, string path, string hint)
    {
        this.builder = builder;
        this.pattern = pattern;
        this.path = path;
        this.hint = hint;
    }

    /// <summary>Rule body for a JSON string whose value matches <paramref name="pattern"/>.</summary>
    public static string Convert(GbnfBuilder builder, string pattern, string path, string hint)
    {
        if (pattern.Length > MaxPatternLength)
        {
            throw new UnsupportedSchemaException("pattern", path, $"patterns longer than {MaxPatternLength} characters are not supported");
        }

        var converter = new RegexToGbnf(builder, pattern, path, hint);
        var tree = converter.ParseAlternation();
        if (converter.pos < pattern.Length)
        {
            throw converter.Fail("unbalanced ')'");
        }

        return converter.EmitTop(tree);
    }

    // ---- syntax tree ----

    private abstract class Node;

    private sealed class AltNode(List<Node> branches) : Node
    {
        public List<Node> Branches { get; } = branches;
    }

    private sealed class SeqNode(List<Node> items) : Node
    {
        public List<Node> Items { get; } = items;
    }

    private sealed class RepeatNode(Node inner, int min, int max) : Node
    {
        public Node Inner { get; } = inner;
        public int Min { get; } = min;
        public int Max { get; } = max;
    }

    private sealed class CharNode(int codePoint) : Node
    {
        public int CodePoint { get; } = codePoint;
    }

    private sealed class SetNode(List<(int Lo, int Hi)> ranges, bool negated) : Node
    {
        public List<(int Lo, int Hi)> Ranges { get; } = ranges;
        public bool Negated { get; } = negated;
    }

    private sealed class AnchorNode(bool start) : Node
    {
        public bool Start { get; } = start;
    }

    // ---- parser ----

    private UnsupportedSchemaException Fail(string detail) =>
        new("pattern", path, $"cannot convert pattern {JsonText.Quote(pattern)} to a grammar: {detail}");

    private bool AtEnd => pos >= pattern.Length;

    private char Peek => pattern[pos];

    private Node ParseAlternation()
    {
        if (++nesting > MaxNesting)
        {
            throw Fail("nesting too deep");
        }

        var branches = new List<Node> { ParseSequence() };
        while (!AtEnd && Peek == '|')
        {
            pos++;
            branches.Add(ParseSequence());
        }

        nesting--;
        return branches.Count == 1 ? branches[0] : new AltNode(branches);
    }

    private SeqNode ParseSequence()
    {
        var items = new List<Node>();
        while (!AtEnd && Peek != '|' && Peek != ')')
        {
            var atom = ParseAtom();
            items.Add(ParseQuantifier(atom));
        }

        return new SeqNode(items);
    }

    private Node ParseQuantifier(Node atom)
    {
        if (AtEnd)
        {
            return atom;
        }

        int min, max;
        var start = pos;
        switch (Peek)
        {
            case '*': min = 0; max = -1; pos++; break;
            case '+': min = 1; max = -1; pos++; break;
            case '?': min = 0; max = 1; pos++; break;
            case '{':
                if (!TryParseBraces(out min, out max))
                {
                    return atom; // a '{' that is not a quantifier is a literal in ECMAScript
                }

                break;
            default:
                return atom;
        }

        if (atom is AnchorNode)
        {
            pos = start;
            throw Fail("quantifier on an anchor");
        }

        if (!AtEnd && Peek == '?')
        {
            pos++; // lazy: same language
        }

        if (!AtEnd && Peek is '*' or '+' or '?')
        {
            throw Fail("nothing to repeat");
        }

        return new RepeatNode(atom, min, max);
    }

    private bool TryParseBraces(out int min, out int max)
    {
        min = 0;
        max = -1;
        var p = pos + 1;
        var lo = ReadInt(ref p);
        if (lo is null)
        {
            return false;
        }

        int? hi = lo;
        if (p < pattern.Length && pattern[p] == ',')
        {
            p++;
            hi = ReadInt(ref p);
            if (hi is null)
            {
                hi = -1;
            }
        }

        if (p >= pattern.Length || pattern[p] != '}')
        {
            return false;
        }

        if (hi >= 0 && hi < lo)
        {
            throw Fail("numbers out of order in {} quantifier");
        }

        pos = p + 1;
        min = lo.Value;
        max = hi.Value;
        return true;
    }

    private int? ReadInt(ref int p)
    {
        var start = p;
        while (p < pattern.Length && char.IsAsciiDigit(pattern[p]))
        {
            p++;
        }

        if (p == start)
        {
            return null;
        }

        // Bounds this large are refused or dropped later anyway; saturate instead of overflowing.
        return int.TryParse(pattern.AsSpan(start, p - start), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : int.MaxValue;
    }

    private Node ParseAtom()
    {
        var c = Peek;
        switch (c)
        {
            case '^':
                pos++;
                return new AnchorNode(true);
            case '$':
                pos++;
                return new AnchorNode(false);
            case '.':
                pos++;
                return new SetNode([('\n', '\n'), ('\r', '\r'), (0x2028, 0x2029)], negated: true);
            case '[':
                return ParseClass();
            case '(':
                return ParseGroup();
            case '\\':
                return ParseEscape(inClass: false);
            case '*' or '+' or '?':
                throw Fail("nothing to repeat");
            default:
                return new CharNode(ReadCodePoint());
        }
    }

    private int ReadCodePoint()
    {
        var c = pattern[pos];
        if (!char.IsSurrogate(c))
        {
            pos++;
            return c;
        }

        if (pos + 1 < pattern.Length && char.IsSurrogatePair(c, pattern[pos + 1]))
        {
            var cp = char.ConvertToUtf32(c, pattern[pos + 1]);
            pos += 2;
            return cp;
        }

        throw Fail("invalid UTF-16 (lone surrogate)");
    }

    private Node ParseGroup()
    {
        pos++; // (
        if (!AtEnd && Peek == '?')
        {
            if (pos + 1 < pattern.Length && pattern[pos + 1] == ':')
            {
                pos += 2;
            }
            else if (pos + 2 < pattern.Length && pattern[pos + 1] == '<' && pattern[pos + 2] is not ('=' or '!'))
            {
                var close = pattern.IndexOf('>', pos);
                if (close < 0)
                {
                    throw Fail("unterminated group name");
                }

                pos = close + 1; // named group: the name does not change the language
            }
            else
            {
                throw Fail("lookaround and inline flags are not supported");
            }
        }

        var inner = ParseAlternation();
        if (AtEnd || Peek != ')')
        {
            throw Fail("missing ')'");
        }

        pos++;
        return inner;
    }

    private SetNode ParseClass()
    {
        pos++; // [
        var negated = false;
        if (!AtEnd && Peek == '^')
        {
            negated = true;
            pos++;
        }

        var ranges = new List<(int, int)>();
        var first = true;
        while (true)
        {
            if (AtEnd)
            {
                throw Fail("unterminated character class");
            }

            if (Peek == ']' && !first)
            {
                pos++;
                break;
            }

            if (Peek == ']' && first)
            {
                // "[]" matches nothing and "[^]" anything in ECMAScript; neither is worth supporting.
                throw Fail("empty character class");
            }

            first = false;
            var lo = ParseClassAtom(ranges);
            if (lo is null)
            {
                continue;
            }

            if (pos + 1 < pattern.Length && Peek == '-' && pattern[pos + 1] != ']')
            {
                pos++;
                var hi = ParseClassAtom(ranges) ?? throw Fail("a class escape cannot end a range");
                if (hi < lo)
                {
                    throw Fail("range out of order in character class");
                }

                ranges.Add((lo.Value, hi));
            }
            else
            {
                ranges.Add((lo.Value, lo.Value));
            }
        }

        return new SetNode(ranges, negated);
    }

    /// <summary>One class member: a code point, or null after adding a shorthand class (\d \w \s) to <paramref name="ranges"/>.</summary>
    private int? ParseClassAtom(List<(int, int)> ranges)
    {
        if (Peek != '\\')
        {
            return ReadCodePoint();
        }

        var node = ParseEscape(inClass: true);
        if (node is CharNode ch)
        {
            return ch.CodePoint;
        }

        var set = (SetNode)node;
        if (set.Negated)
        {
            throw Fail("negated shorthand (\\D \\W \\S) inside a character class");
        }

        ranges.AddRange(set.Ranges);
        return null;
    }

    private Node ParseEscape(bool inClass)
    {
        pos++; // backslash
        if (AtEnd)
        {
            throw Fail("trailing backslash");
        }

        var c = Peek;
        pos++;
        switch (c)
        {
            case 'd': return new SetNode(Digit, false);
            case 'D': return new SetNode(Digit, true);
            case 'w': return new SetNode(Word, false);
            case 'W': return new SetNode(Word, true);
            case 's': return new SetNode(Space, false);
            case 'S': return new SetNode(Space, true);
            case 't': return new CharNode('\t');
            case 'n': return new CharNode('\n');
            case 'r': return new CharNode('\r');
            case 'f': return new CharNode('\f');
            case 'v': return new CharNode('\v');
            case 'b' when inClass: return new CharNode('\b');
            case '0' when AtEnd || !char.IsAsciiDigit(Peek): return new CharNode(0);
            case 'x': return new CharNode(ReadHex(2));
            case 'u': return new CharNode(ReadHex(4));
            case '-' when inClass: return new CharNode('-');
        }

        if (char.IsAsciiLetterOrDigit(c))
        {
            throw Fail($"escape '\\{c}' is not supported");
        }

        return new CharNode(c);
    }

    private int ReadHex(int digits)
    {
        if (pos + digits > pattern.Length ||
            !int.TryParse(pattern.AsSpan(pos, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var v))
        {
            throw Fail("bad hex escape");
        }

        pos += digits;
        return v;
    }

    private static readonly List<(int, int)> Digit = [('0', '9')];

    private static readonly List<(int, int)> Word = [('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')];

    private static readonly List<(int, int)> Space =
    [
        ('\t', '\r'), (' ', ' '), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
        (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF),
    ];

    // ---- emitter ----

    private string EmitTop(Node tree)
    {
        var branches = tree is AltNode alt ? alt.Branches : [tree];
        var parts = new List<string>(branches.Count);
        var charRule = builder.Primitive("char");
        foreach (var branch in branches)
        {
            var items = branch is SeqNode seq ? new List<Node>(seq.Items) : [branch];
            var anchoredStart = items.Count > 0 && items[0] is AnchorNode { Start: true };
            if (anchoredStart)
            {
                items.RemoveAt(0);
            }

            var anchoredEnd = items.Count > 0 && items[^1] is AnchorNode { Start: false };
            if (anchoredEnd)
            {
                items.RemoveAt(items.Count - 1);
            }

            var body = EmitSequence(items);
            var sb = new StringBuilder();
            if (!anchoredStart)
            {
                sb.Append(charRule).Append("* ");
            }

            sb.Append(body);
            if (!anchoredEnd)
            {
                sb.Append(' ').Append(charRule).Append('*');
            }

            var text = body.Length == 0
                ? (anchoredStart && anchoredEnd ? "\"\"" : charRule + "*")
                : sb.ToString().Trim();
            parts.Add(text);
        }

        var inner = parts.Count == 1 ? parts[0] : "( " + string.Join(" | ", parts) + " )";
        return "\"\\\"\" " + inner + " \"\\\"\"";
    }

    private string Emit(Node node) => node switch
    {
        AltNode alt => "( " + string.Join(" | ", alt.Branches.Select(b => EmitOrEmpty(b))) + " )",
        SeqNode seq => EmitSequence(seq.Items),
        RepeatNode rep => EmitRepeat(rep),
        CharNode ch => GbnfBuilder.Literal(JsonText.Escape(ch.CodePoint)),
        SetNode set => EmitSet(set),
        AnchorNode => throw Fail("anchors are only supported at the start or end of the whole pattern"),
        _ => throw new InvalidOperationException(),
    };

    private string EmitOrEmpty(Node node)
    {
        var text = Emit(node);
        return text.Length == 0 ? "\"\"" : text;
    }

    private string EmitSequence(List<Node> items)
    {
        var parts = new List<string>(items.Count);
        var literal = new StringBuilder();
        foreach (var item in items)
        {
            if (item is CharNode ch)
            {
                literal.Append(JsonText.Escape(ch.CodePoint));
                continue;
            }

            if (literal.Length > 0)
            {
                parts.Add(GbnfBuilder.Literal(literal.ToString()));
                literal.Clear();
            }

            var text = Emit(item);
            if (text.Length > 0)
            {
                parts.Add(item is AltNode || !text.Contains('|', StringComparison.Ordinal) ? text : "( " + text + " )");
            }
        }

        if (literal.Length > 0)
        {
            parts.Add(GbnfBuilder.Literal(literal.ToString()));
        }

        return string.Join(" ", parts);
    }

    private string EmitRepeat(RepeatNode rep)
    {
        var inner = Emit(rep.Inner);
        if (inner.Length == 0 || rep.Max == 0)
        {
            return "";
        }

        // {m,n} must sit on one symbol: a literal, a class, or a rule reference (never a group).
        string symbol;
        if (IsSingleSymbol(rep.Inner, inner))
        {
            symbol = inner;
        }
        else if (((rep.Min, rep.Max) is (0, 1) or (0, -1) or (1, -1)) && !inner.Contains('{', StringComparison.Ordinal))
        {
            // Inline only when the group holds no {m,n}: llama.cpp counts a group's inner rules towards its limit.
            symbol = "( " + inner + " )";
        }
        else
        {
            symbol = builder.Add(hint + "-rep", inner, path);
        }

        return builder.Repeat(symbol, rep.Min, rep.Max, "pattern", path);
    }

    private static bool IsSingleSymbol(Node node, string text) =>
        node is CharNode || (node is SetNode && !text.Contains('|', StringComparison.Ordinal) && !text.Contains(' ', StringComparison.Ordinal));

    /// <summary>A character set as GBNF over JSON string text.</summary>
    private static string EmitSet(SetNode set)
    {
        var alternatives = new List<string>();
        if (!set.Negated)
        {
            var plain = new StringBuilder();
            foreach (var (lo, hi) in set.Ranges)
            {
                // Raw characters: everything printable except '"' and '\'; those and controls go as escapes.
                foreach (var (a, b) in Split(lo, hi))
                {
                    if (JsonText.NeedsEscape(a))
                    {
                        for (var cp = a; cp <= b; cp++)
                        {
                            alternatives.Add(GbnfBuilder.Literal(JsonText.Escape(cp)));
                        }
                    }
                    else
                    {
                        plain.Append(GbnfBuilder.ClassChar(a));
                        if (b > a)
                        {
                            plain.Append('-').Append(GbnfBuilder.ClassChar(b));
                        }
                    }
                }
            }

            if (plain.Length > 0)
            {
                alternatives.Insert(0, "[" + plain + "]");
            }

            return alternatives.Count == 0 ? throw new InvalidOperationException("empty set") : string.Join(" | ", alternatives.Distinct());
        }

        var excluded = new StringBuilder("\"\\\\\\x00-\\x1F");
        foreach (var (lo, hi) in set.Ranges)
        {
            foreach (var (a, b) in Split(lo, hi))
            {
                if (JsonText.NeedsEscape(a))
                {
                    continue;
                }

                excluded.Append(GbnfBuilder.ClassChar(a));
                if (b > a)
                {
                    excluded.Append('-').Append(GbnfBuilder.ClassChar(b));
                }
            }
        }

        alternatives.Add("[^" + excluded + "]");
        var escapes = new StringBuilder();
        foreach (var (cp, letter) in (ReadOnlySpan<(int, char)>)[('"', '"'), ('\\', '\\'), ('/', '/'), ('\b', 'b'), ('\f', 'f'), ('\n', 'n'), ('\r', 'r'), ('\t', 't')])
        {
            if (!Contains(set.Ranges, cp))
            {
                escapes.Append(letter == '"' || letter == '\\' ? "\\" + letter : letter.ToString());
            }
        }

        if (escapes.Length > 0)
        {
            alternatives.Add("\"\\\\\" [" + escapes + "]");
        }

        return string.Join(" | ", alternatives);
    }

    private static bool Contains(List<(int Lo, int Hi)> ranges, int cp)
    {
        foreach (var (lo, hi) in ranges)
        {
            if (lo <= cp && cp <= hi)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Splits a range so that each piece is entirely "needs a JSON escape" or entirely "raw".</summary>
    private static IEnumerable<(int, int)> Split(int lo, int hi)
    {
        foreach (var (a, b) in Categories)
        {
            var from = Math.Max(a, lo);
            var to = Math.Min(b, hi);
            if (from <= to)
            {
                yield return (from, to);
            }
        }
    }

    private static readonly (int, int)[] Categories =
        [(0x00, 0x1F), (0x20, 0x21), (0x22, 0x22), (0x23, 0x5B), (0x5C, 0x5C), (0x5D, 0x10FFFF)];
}
