namespace YoutuServer.Chat.Grammar;

/// <summary>
/// A grammar ready for llama.cpp's grammar sampler.
/// <para>
/// When <see cref="Lazy"/> is false, pass <see cref="Gbnf"/> and <see cref="Root"/> to
/// <c>llama_sampler_init_grammar</c>: every generated token is constrained from the first one.
/// </para>
/// <para>
/// When <see cref="Lazy"/> is true, pass them with <see cref="TriggerPatterns"/> to
/// <c>llama_sampler_init_grammar_lazy_patterns</c>. Semantics (llama.cpp <c>src/llama-grammar.cpp</c>,
/// <c>llama_grammar_accept_impl</c> and <c>llama_grammar_trigger_pattern::find</c>): until a pattern
/// matches, tokens are unconstrained and their text is appended to a buffer holding everything generated
/// so far. After each token every pattern is tried on that buffer: a pattern that starts with <c>^</c>
/// and ends with <c>$</c> must match the whole buffer (<c>std::regex_match</c>), any other pattern may match
/// anywhere (<c>std::regex_search</c>). On a match the grammar takes over, fed with the buffer from the start
/// of the first non-empty capture group (or of the whole match when there is none); that text, and
/// everything after it, must satisfy the grammar.
/// </para>
/// </summary>
public sealed class GrammarSpec
{
    /// <summary>The grammar text (GBNF, one rule per line, ASCII only).</summary>
    public required string Gbnf { get; init; }

    /// <summary>The start rule.</summary>
    public string Root { get; init; } = "root";

    /// <summary>ECMAScript regexes for the lazy trigger; empty when <see cref="Lazy"/> is false.</summary>
    public IReadOnlyList<string> TriggerPatterns { get; init; } = [];

    /// <summary>True when the grammar only applies once a trigger pattern has matched.</summary>
    public bool Lazy { get; init; }

    /// <summary>
    /// The shortest output the grammar admits from <see cref="Root"/> (an optional think block left out): what a
    /// forced call or answer needs at the least, so a bounded output can keep room for it. Null when none is finite.
    /// </summary>
    public string? ShortestOutput() => GbnfGrammar.Parse(Gbnf).ShortestString(Root);

    /// <summary>The most UTF-8 bytes (so tokens) any output of the grammar can take; null when unbounded.</summary>
    public long? LongestOutputBytes() => GbnfGrammar.Parse(Gbnf).LongestUtf8(Root);
}
