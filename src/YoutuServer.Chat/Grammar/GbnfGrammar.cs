using System.Globalization;
using System.Text;

namespace YoutuServer.Chat.Grammar;

/// <summary>
/// A GBNF parser and recognizer (the tests check grammars with it; the planner asks it for the shortest string a grammar admits). The parser follows llama.cpp's <c>src/llama-grammar.cpp</c>
/// (<c>parse_space</c>, <c>parse_name</c>, <c>parse_char</c>, <c>parse_sequence</c>, <c>parse_rule</c>): the same
/// escapes, one rule per line (newlines only inside parentheses or after <c>|</c>), the same <c>{m,n}</c> limits
/// (2000, and the rule-count product for repeated groups), undefined rules, a missing <c>root</c>, and left recursion
/// are errors. The recognizer computes, for each node and start position, the set of end positions (memoized),
/// so ambiguity costs nothing exponential on small inputs.
/// </summary>
internal sealed class GbnfGrammar
{
    private const int MaxRepetitionThreshold = 2000;

    internal abstract class Node;

    private sealed class Lit(int[] codePoints) : Node
    {
        public int[] CodePoints { get; } = codePoints;
    }

    private sealed class Cls(bool negated, List<(int Lo, int Hi)> ranges) : Node
    {
        public bool Negated { get; } = negated;
        public List<(int Lo, int Hi)> Ranges { get; } = ranges;
    }

    private sealed class AnyChar : Node;

    private sealed class Ref(string name) : Node
    {
        public string Name { get; } = name;
    }

    private sealed class Seq(List<Node> items) : Node
    {
        public List<Node> Items { get; } = items;
    }

    private sealed class Alt(List<Node> options) : Node
    {
        public List<Node> Options { get; } = options;
    }

    private sealed class Rep(Node inner, int min, int max) : Node
    {
        public Node Inner { get; } = inner;
        public int Min { get; } = min;
        public int Max { get; } = max; // -1 = unbounded
    }

    private readonly Dictionary<string, Node> rules;

    private GbnfGrammar(Dictionary<string, Node> rules)
    {
        this.rules = rules;
    }

    public IReadOnlyCollection<string> RuleNames => rules.Keys;

    // ---------------- parsing ----------------

    public static GbnfGrammar Parse(string text)
    {
        var parser = new Parser(text);
        var rules = parser.ParseAll();
        foreach (var name in parser.Referenced)
        {
            if (!rules.ContainsKey(name))
            {
                throw new FormatException($"Undefined rule identifier '{name}'");
            }
        }

        if (!rules.ContainsKey("root"))
        {
            throw new FormatException("grammar does not contain a root symbol");
        }

        var grammar = new GbnfGrammar(rules);
        grammar.CheckLeftRecursion();
        return grammar;
    }

    private sealed class Parser(string src)
    {
        private int pos;

        public HashSet<string> Referenced { get; } = [];

        public Dictionary<string, Node> ParseAll()
        {
            var rules = new Dictionary<string, Node>(StringComparer.Ordinal);
            SkipSpace(newlineOk: true);
            while (pos < src.Length)
            {
                var name = ParseName();
                SkipSpace(newlineOk: false);
                if (!src.AsSpan(pos).StartsWith("::=", StringComparison.Ordinal))
                {
                    throw Error("expecting ::=");
                }

                pos += 3;
                SkipSpace(newlineOk: true);
                var body = ParseAlternates(nested: false, out _);
                if (pos < src.Length)
                {
                    if (src[pos] == '\r')
                    {
                        pos += pos + 1 < src.Length && src[pos + 1] == '\n' ? 2 : 1;
                    }
                    else if (src[pos] == '\n')
                    {
                        pos++;
                    }
                    else
                    {
                        throw Error("expecting newline or end");
                    }
                }

                // llama.cpp silently lets a later definition replace an earlier one; we call it a mistake.
                if (!rules.TryAdd(name, body))
                {
                    throw Error($"rule '{name}' defined twice");
                }

                SkipSpace(newlineOk: true);
            }

            return rules;
        }

        private FormatException Error(string message)
        {
            var snippet = src.Substring(pos, Math.Min(40, src.Length - pos));
            return new FormatException($"{message} at offset {pos}: '{snippet}'");
        }

        private static bool IsWordChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '-';

        private void SkipSpace(bool newlineOk)
        {
            while (pos < src.Length)
            {
                var c = src[pos];
                if (c is ' ' or '\t' || (newlineOk && c is '\r' or '\n'))
                {
                    pos++;
                }
                else if (c == '#')
                {
                    while (pos < src.Length && src[pos] is not ('\r' or '\n'))
                    {
                        pos++;
                    }
                }
                else
                {
                    break;
                }
            }
        }

        private string ParseName()
        {
            var start = pos;
            while (pos < src.Length && IsWordChar(src[pos]))
            {
                pos++;
            }

            if (pos == start)
            {
                throw Error("expecting name");
            }

            return src[start..pos];
        }

        /// <summary>Parses alternatives; <paramref name="generated"/> counts the rules llama.cpp would synthesise.</summary>
        private Node ParseAlternates(bool nested, out int generated)
        {
            var options = new List<Node> { ParseSequence(nested, out generated) };
            while (pos < src.Length && src[pos] == '|')
            {
                pos++;
                SkipSpace(newlineOk: true);
                options.Add(ParseSequence(nested, out var g));
                generated += g;
            }

            return options.Count == 1 ? options[0] : new Alt(options);
        }

        private Seq ParseSequence(bool nested, out int generated)
        {
            generated = 0;
            var items = new List<Node>();
            var lastRules = 1; // llama.cpp's n_prev_rules for the last symbol
            while (pos < src.Length)
            {
                var c = src[pos];
                if (c == '"')
                {
                    pos++;
                    var cps = new List<int>();
                    while (true)
                    {
                        if (pos >= src.Length)
                        {
                            throw Error("unexpected end of input");
                        }

                        if (src[pos] == '"')
                        {
                            break;
                        }

                        cps.Add(ParseChar());
                    }

                    pos++;
                    items.Add(new Lit([.. cps]));
                    lastRules = 1;
                    SkipSpace(nested);
                }
                else if (c == '[')
                {
                    pos++;
                    var negated = false;
                    if (pos < src.Length && src[pos] == '^')
                    {
                        negated = true;
                        pos++;
                    }

                    var ranges = new List<(int, int)>();
                    while (true)
                    {
                        if (pos >= src.Length)
                        {
                            throw Error("unexpected end of input");
                        }

                        if (src[pos] == ']')
                        {
                            break;
                        }

                        var lo = ParseChar();
                        var hi = lo;
                        if (pos + 1 < src.Length && src[pos] == '-' && src[pos + 1] != ']')
                        {
                            pos++;
                            hi = ParseChar();
                        }

                        ranges.Add((lo, hi));
                    }

                    pos++;
                    items.Add(new Cls(negated, ranges));
                    lastRules = 1;
                    SkipSpace(nested);
                }
                else if (c is '<' or '!')
                {
                    throw Error("token syntax is not used by our grammars");
                }
                else if (IsWordChar(c))
                {
                    var name = ParseName();
                    Referenced.Add(name);
                    items.Add(new Ref(name));
                    lastRules = 1;
                    SkipSpace(nested);
                }
                else if (c == '(')
                {
                    pos++;
                    SkipSpace(newlineOk: true);
                    var inner = ParseAlternates(nested: true, out var innerGenerated);
                    if (pos >= src.Length || src[pos] != ')')
                    {
                        throw Error("expecting ')'");
                    }

                    pos++;
                    items.Add(inner);
                    lastRules = Math.Max(1, 1 + innerGenerated);
                    generated += 1 + innerGenerated;
                    SkipSpace(nested);
                }
                else if (c == '.')
                {
                    pos++;
                    items.Add(new AnyChar());
                    lastRules = 1;
                    SkipSpace(nested);
                }
                else if (c is '*' or '+' or '?')
                {
                    pos++;
                    SkipSpace(nested);
                    var (min, max) = c switch { '*' => (0, -1), '+' => (1, -1), _ => (0, 1) };
                    generated += ApplyRepetition(items, min, max, ref lastRules);
                }
                else if (c == '{')
                {
                    pos++;
                    SkipSpace(nested);
                    var min = ParseInt();
                    SkipSpace(nested);
                    long max;
                    if (pos < src.Length && src[pos] == '}')
                    {
                        max = min;
                        pos++;
                        SkipSpace(nested);
                    }
                    else if (pos < src.Length && src[pos] == ',')
                    {
                        pos++;
                        SkipSpace(nested);
                        max = -1;
                        if (pos < src.Length && char.IsAsciiDigit(src[pos]))
                        {
                            max = ParseInt();
                            SkipSpace(nested);
                        }

                        if (pos >= src.Length || src[pos] != '}')
                        {
                            throw Error("expecting '}'");
                        }

                        pos++;
                        SkipSpace(nested);
                    }
                    else
                    {
                        throw Error("expecting ','");
                    }

                    if (min > MaxRepetitionThreshold)
                    {
                        throw Error("number of repetitions exceeds sane defaults");
                    }

                    if (max > MaxRepetitionThreshold)
                    {
                        max = -1;
                    }

                    generated += ApplyRepetition(items, (int)min, (int)max, ref lastRules);
                }
                else
                {
                    break;
                }
            }

            return new Seq(items);
        }

        /// <summary>Wraps the last item; returns how many rules llama.cpp generates for it.</summary>
        private int ApplyRepetition(List<Node> items, int min, int max, ref int lastRules)
        {
            if (items.Count == 0)
            {
                throw Error("expecting preceding item to */+/?/{");
            }

            long total = max > 0 ? max : min > 0 ? min : 1;
            if (lastRules * total > MaxRepetitionThreshold)
            {
                throw Error("number of rules that are going to be repeated multiplied by the new repetition exceeds sane defaults");
            }

            items[^1] = new Rep(items[^1], min, max);
            lastRules = (int)(lastRules * total);
            return max < 0 ? 1 : max - min;
        }

        private long ParseInt()
        {
            var start = pos;
            while (pos < src.Length && char.IsAsciiDigit(src[pos]))
            {
                pos++;
            }

            if (pos == start)
            {
                throw Error("expecting an int");
            }

            return long.Parse(src.AsSpan(start, pos - start), CultureInfo.InvariantCulture);
        }

        private int ParseChar()
        {
            if (src[pos] == '\\')
            {
                if (pos + 1 >= src.Length)
                {
                    throw Error("unexpected end of input");
                }

                var e = src[pos + 1];
                pos += 2;
                switch (e)
                {
                    case 'x': return ParseHex(2);
                    case 'u': return ParseHex(4);
                    case 'U': return ParseHex(8);
                    case 't': return '\t';
                    case 'r': return '\r';
                    case 'n': return '\n';
                    case '\\' or '"' or '[' or ']' or '-': return e;
                    default:
                        pos -= 2;
                        throw Error("unknown escape");
                }
            }

            var cp = char.ConvertToUtf32(src, pos);
            pos += cp > 0xFFFF ? 2 : 1;
            return cp;
        }

        private int ParseHex(int size)
        {
            if (pos + size > src.Length ||
                !int.TryParse(src.AsSpan(pos, size), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var v))
            {
                throw Error($"expecting {size} hex chars");
            }

            pos += size;
            return v;
        }
    }

    // ---------------- left recursion (llama.cpp refuses it at init) ----------------

    private void CheckLeftRecursion()
    {
        var nullable = new Dictionary<string, bool>(StringComparer.Ordinal);
        bool changed;
        do
        {
            changed = false;
            foreach (var (name, body) in rules)
            {
                if (!nullable.GetValueOrDefault(name) && IsNullable(body, nullable))
                {
                    nullable[name] = true;
                    changed = true;
                }
            }
        }
        while (changed);

        var leftRefs = rules.ToDictionary(kv => kv.Key, kv => LeftRefs(kv.Value, nullable), StringComparer.Ordinal);
        var state = new Dictionary<string, int>(StringComparer.Ordinal); // 1 = visiting, 2 = done
        foreach (var name in rules.Keys)
        {
            Visit(name, []);
        }

        void Visit(string name, List<string> stack)
        {
            if (state.GetValueOrDefault(name) == 2)
            {
                return;
            }

            if (state.GetValueOrDefault(name) == 1)
            {
                throw new FormatException("left recursion: " + string.Join(" -> ", stack) + " -> " + name);
            }

            state[name] = 1;
            stack.Add(name);
            foreach (var next in leftRefs[name])
            {
                Visit(next, stack);
            }

            stack.RemoveAt(stack.Count - 1);
            state[name] = 2;
        }
    }

    private static bool IsNullable(Node node, Dictionary<string, bool> nullable) => node switch
    {
        Lit l => l.CodePoints.Length == 0,
        Cls or AnyChar => false,
        Ref r => nullable.GetValueOrDefault(r.Name),
        Seq s => s.Items.All(i => IsNullable(i, nullable)),
        Alt a => a.Options.Any(o => IsNullable(o, nullable)),
        Rep p => p.Min == 0 || IsNullable(p.Inner, nullable),
        _ => throw new InvalidOperationException(),
    };

    private static HashSet<string> LeftRefs(Node node, Dictionary<string, bool> nullable)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        Collect(node);
        return result;

        void Collect(Node n)
        {
            switch (n)
            {
                case Ref r:
                    result.Add(r.Name);
                    break;
                case Seq s:
                    foreach (var item in s.Items)
                    {
                        Collect(item);
                        if (!IsNullable(item, nullable))
                        {
                            break;
                        }
                    }

                    break;
                case Alt a:
                    a.Options.ForEach(Collect);
                    break;
                case Rep p:
                    Collect(p.Inner);
                    break;
            }
        }
    }

    // ---------------- matching ----------------

    /// <summary>True when the whole of <paramref name="input"/> is in the language of <paramref name="root"/>.</summary>
    public bool Accepts(string input, string root = "root")
    {
        var cps = new List<int>(input.Length);
        foreach (var rune in input.EnumerateRunes())
        {
            cps.Add(rune.Value);
        }

        var matcher = new Matcher(this, [.. cps]);
        return matcher.Match(new Ref(root), 0).Contains(cps.Count);
    }

    private sealed class Matcher(GbnfGrammar grammar, int[] input)
    {
        private readonly Dictionary<(Node, int), HashSet<int>> memo = [];
        private readonly HashSet<(string, int)> inProgress = [];

        public HashSet<int> Match(Node node, int pos)
        {
            if (memo.TryGetValue((node, pos), out var cached))
            {
                return cached;
            }

            HashSet<int> result;
            switch (node)
            {
                case Lit lit:
                    result = [];
                    if (pos + lit.CodePoints.Length <= input.Length &&
                        input.AsSpan(pos, lit.CodePoints.Length).SequenceEqual(lit.CodePoints))
                    {
                        result.Add(pos + lit.CodePoints.Length);
                    }

                    break;
                case Cls cls:
                    result = [];
                    if (pos < input.Length)
                    {
                        var c = input[pos];
                        var inSet = cls.Ranges.Any(r => r.Lo <= c && c <= r.Hi);
                        if (inSet != cls.Negated)
                        {
                            result.Add(pos + 1);
                        }
                    }

                    break;
                case AnyChar:
                    result = pos < input.Length ? [pos + 1] : [];
                    break;
                case Ref r:
                    if (!inProgress.Add((r.Name, pos)))
                    {
                        throw new InvalidOperationException($"left recursion through '{r.Name}'");
                    }

                    result = Match(grammar.rules[r.Name], pos);
                    inProgress.Remove((r.Name, pos));
                    break;
                case Seq seq:
                    result = [pos];
                    foreach (var item in seq.Items)
                    {
                        var next = new HashSet<int>();
                        foreach (var p in result)
                        {
                            next.UnionWith(Match(item, p));
                        }

                        result = next;
                        if (result.Count == 0)
                        {
                            break;
                        }
                    }

                    break;
                case Alt alt:
                    result = [];
                    foreach (var option in alt.Options)
                    {
                        result.UnionWith(Match(option, pos));
                    }

                    break;
                case Rep rep:
                    result = MatchRepeat(rep, pos);
                    break;
                default:
                    throw new InvalidOperationException();
            }

            memo[(node, pos)] = result;
            return result;
        }

        private HashSet<int> MatchRepeat(Rep rep, int pos)
        {
            var result = new HashSet<int>();
            var seenAfterMin = new HashSet<int>();
            var frontier = new HashSet<int> { pos };
            for (var count = 0; frontier.Count > 0; count++)
            {
                if (count >= rep.Min)
                {
                    // A position first reached with fewer repetitions dominates later arrivals.
                    frontier.ExceptWith(seenAfterMin);
                    seenAfterMin.UnionWith(frontier);
                    result.UnionWith(frontier);
                }

                if (count == rep.Max)
                {
                    break;
                }

                var next = new HashSet<int>();
                foreach (var p in frontier)
                {
                    next.UnionWith(Match(rep.Inner, p));
                }

                frontier = next;
            }

            return result;
        }
    }

    // ---------------- shortest string ----------------

    /// <summary>
    /// The shortest string (in characters) the grammar admits from <paramref name="root"/>: a fixed point over the
    /// rules, each rule's best string shrinking until none changes. A character class stands for its first allowed
    /// character. Null when the rule admits no finite string.
    /// </summary>
    public string? ShortestString(string root = "root")
    {
        var best = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var name in rules.Keys)
        {
            best[name] = null;
        }

        for (var changed = true; changed;)
        {
            changed = false;
            foreach (var (name, node) in rules)
            {
                var s = Shortest(node, best);
                if (s is not null && (best[name] is not { } old || s.Length < old.Length))
                {
                    best[name] = s;
                    changed = true;
                }
            }
        }

        return best.GetValueOrDefault(root);
    }

    private static string? Shortest(Node node, Dictionary<string, string?> best)
    {
        switch (node)
        {
            case Lit lit:
                return string.Concat(lit.CodePoints.Select(char.ConvertFromUtf32));
            case Cls cls:
                return FirstAllowed(cls) is { } c ? char.ConvertFromUtf32(c) : null;
            case AnyChar:
                return "a";
            case Ref r:
                return best.GetValueOrDefault(r.Name);
            case Seq seq:
                var sb = new StringBuilder();
                foreach (var item in seq.Items)
                {
                    if (Shortest(item, best) is not { } part)
                    {
                        return null;
                    }

                    sb.Append(part);
                }

                return sb.ToString();
            case Alt alt:
                string? min = null;
                foreach (var option in alt.Options)
                {
                    if (Shortest(option, best) is { } s && (min is null || s.Length < min.Length))
                    {
                        min = s;
                    }
                }

                return min;
            case Rep rep:
                if (rep.Min == 0)
                {
                    return "";
                }

                return Shortest(rep.Inner, best) is { } one ? string.Concat(Enumerable.Repeat(one, rep.Min)) : null;
            default:
                throw new InvalidOperationException();
        }
    }

    /// <summary>
    /// The most UTF-8 bytes any string of <paramref name="root"/> can have (so the most tokens it can take, a token
    /// being at least one byte); null when unbounded (an unbounded repetition or recursion on the way).
    /// </summary>
    public long? LongestUtf8(string root = "root")
    {
        var memo = new Dictionary<string, long?>(StringComparer.Ordinal);
        var visiting = new HashSet<string>(StringComparer.Ordinal);

        long? Rule(string name)
        {
            if (memo.TryGetValue(name, out var known))
            {
                return known;
            }

            if (!visiting.Add(name))
            {
                return null; // recursion: as long as you like
            }

            var v = Longest(rules[name]);
            visiting.Remove(name);
            memo[name] = v;
            return v;
        }

        long? Longest(Node node)
        {
            switch (node)
            {
                case Lit lit:
                    return lit.CodePoints.Sum(Utf8Length);
                case Cls cls:
                    return cls.Negated ? 4 : cls.Ranges.Max(r => Utf8Length(r.Hi));
                case AnyChar:
                    return 4;
                case Ref r:
                    return Rule(r.Name);
                case Seq seq:
                    long total = 0;
                    foreach (var item in seq.Items)
                    {
                        if (Longest(item) is not { } n)
                        {
                            return null;
                        }

                        total += n;
                    }

                    return total;
                case Alt alt:
                    long max = 0;
                    foreach (var option in alt.Options)
                    {
                        if (Longest(option) is not { } n)
                        {
                            return null;
                        }

                        max = Math.Max(max, n);
                    }

                    return max;
                case Rep rep:
                    if (Longest(rep.Inner) is not { } one)
                    {
                        return null;
                    }

                    return one == 0 ? 0 : rep.Max < 0 ? null : one * rep.Max;
                default:
                    throw new InvalidOperationException();
            }
        }

        return rules.ContainsKey(root) ? Rule(root) : null;
    }

    private static int Utf8Length(int codePoint) => codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;

    private static int? FirstAllowed(Cls cls)
    {
        if (!cls.Negated)
        {
            return cls.Ranges.Count == 0 ? null : cls.Ranges[0].Lo;
        }

        // A negated class: the first printable ASCII character it lets through, else any code point it does.
        foreach (var c in "a0 ".Select(ch => (int)ch).Concat(Enumerable.Range(0x21, 0x5E)).Concat(Enumerable.Range(0xA0, 0x100)))
        {
            if (!cls.Ranges.Any(r => r.Lo <= c && c <= r.Hi))
            {
                return c;
            }
        }

        return null;
    }

    /// <summary>A readable dump, for failure messages.</summary>
    public static string Describe(string gbnf, int maxChars = 4000)
    {
        var sb = new StringBuilder(gbnf.Length > maxChars ? gbnf[..maxChars] + "\n…" : gbnf);
        return sb.ToString();
    }
}
