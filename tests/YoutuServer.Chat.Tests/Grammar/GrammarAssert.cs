using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using YoutuServer.Chat.Grammar;

namespace YoutuServer.Chat.Tests.Grammar;

/// <summary>
/// Accept/reject assertions over generated grammars. When the environment variable <c>YOUTU_GBNF_DUMP</c> names a
/// file, every checked (grammar, input, expected) case is also appended to it as JSON lines, so the same cases can
/// be replayed through llama.cpp's real grammar sampler.
/// </summary>
internal static class GrammarAssert
{
    private static readonly ConcurrentDictionary<string, GbnfGrammar> Parsed = new(StringComparer.Ordinal);
    private static readonly string? DumpPath = Environment.GetEnvironmentVariable("YOUTU_GBNF_DUMP");
    private static readonly Lock DumpLock = new();

    public static GbnfGrammar Parse(string gbnf)
    {
        try
        {
            return Parsed.GetOrAdd(gbnf, GbnfGrammar.Parse);
        }
        catch (FormatException e)
        {
            Assert.Fail($"Grammar does not parse: {e.Message}\n{GbnfGrammar.Describe(gbnf)}");
            throw;
        }
    }

    public static void Accepts(string gbnf, params string[] inputs)
    {
        var grammar = Parse(gbnf);
        foreach (var input in inputs)
        {
            Dump(gbnf, input, expected: true, lazyPatterns: null);
            Assert.True(grammar.Accepts(input), $"Expected the grammar to accept:\n{input}\n\nGrammar:\n{GbnfGrammar.Describe(gbnf)}");
        }
    }

    public static void Rejects(string gbnf, params string[] inputs)
    {
        var grammar = Parse(gbnf);
        foreach (var input in inputs)
        {
            Dump(gbnf, input, expected: false, lazyPatterns: null);
            Assert.False(grammar.Accepts(input), $"Expected the grammar to reject:\n{input}\n\nGrammar:\n{GbnfGrammar.Describe(gbnf)}");
        }
    }

    /// <summary>Asserts one case against an already parsed grammar (and dumps it like the others).</summary>
    public static void Expect(string gbnf, GbnfGrammar grammar, string input, bool expected, string because)
    {
        Dump(gbnf, input, expected, lazyPatterns: null);
        Assert.True(expected == grammar.Accepts(input), because);
    }

    public static void Accepts(GrammarSpec spec, params string[] inputs) => Check(spec, true, inputs);

    public static void Rejects(GrammarSpec spec, params string[] inputs) => Check(spec, false, inputs);

    /// <summary>
    /// For a lazy spec, simulates llama.cpp: the text before the first trigger match is free, the grammar must
    /// accept the rest (from the first capture group, or the match). Text that never triggers is accepted.
    /// </summary>
    private static void Check(GrammarSpec spec, bool expected, string[] inputs)
    {
        var grammar = Parse(spec.Gbnf);
        foreach (var input in inputs)
        {
            Dump(spec.Gbnf, input, expected, spec.Lazy ? spec.TriggerPatterns : null);
            var constrained = input;
            if (spec.Lazy)
            {
                var start = LazyStart(spec.TriggerPatterns, input);
                if (start < 0)
                {
                    Assert.True(expected, $"Expected rejection, but no trigger fires in:\n{input}");
                    continue;
                }

                constrained = input[start..];
            }

            Assert.True(expected == grammar.Accepts(constrained, spec.Root),
                $"Expected the grammar to {(expected ? "accept" : "reject")}:\n{input}\n\nGrammar:\n{GbnfGrammar.Describe(spec.Gbnf)}");
        }
    }

    /// <summary>
    /// Where llama.cpp would start feeding the grammar: it tests the patterns after every token against all output so
    /// far, so the first prefix that matches decides. Checking each prefix (one character per "token") reproduces that.
    /// </summary>
    public static int LazyStart(IReadOnlyList<string> patterns, string output)
    {
        var regexes = patterns
            .Select(p => (Regex: new System.Text.RegularExpressions.Regex(p, System.Text.RegularExpressions.RegexOptions.ECMAScript),
                          Anchored: p.StartsWith('^') && p.EndsWith('$')))
            .ToList();
        for (var end = 1; end <= output.Length; end++)
        {
            var buffer = output[..end];
            foreach (var (regex, anchored) in regexes)
            {
                var m = regex.Match(buffer);
                if (!m.Success || (anchored && (m.Index != 0 || m.Length != buffer.Length)))
                {
                    continue;
                }

                for (var g = 1; g < m.Groups.Count; g++)
                {
                    if (m.Groups[g].Length > 0)
                    {
                        return m.Groups[g].Index;
                    }
                }

                return m.Index;
            }
        }

        return -1;
    }

    private static void Dump(string gbnf, string input, bool expected, IReadOnlyList<string>? lazyPatterns)
    {
        if (string.IsNullOrEmpty(DumpPath))
        {
            return;
        }

        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("gbnf", gbnf);
            w.WriteString("input", input);
            w.WriteBoolean("expected", expected);
            if (lazyPatterns is not null)
            {
                w.WriteStartArray("triggers");
                foreach (var p in lazyPatterns)
                {
                    w.WriteStringValue(p);
                }

                w.WriteEndArray();
            }

            w.WriteEndObject();
        }

        var line = Encoding.UTF8.GetString(stream.ToArray()) + "\n";
        lock (DumpLock)
        {
            File.AppendAllText(DumpPath, line);
        }
    }
}
