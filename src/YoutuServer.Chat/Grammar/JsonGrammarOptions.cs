namespace YoutuServer.Chat.Grammar;

/// <summary>Limits and policy knobs for the JSON schema → GBNF conversion.</summary>
public sealed record JsonGrammarOptions
{
    /// <summary>The defaults used when no options are given.</summary>
    public static JsonGrammarOptions Default { get; } = new();

    /// <summary>Most grammar rules one conversion may produce before it is refused as too complex.</summary>
    public int MaxRules { get; init; } = 5000;

    /// <summary>Deepest schema nesting (sub-schemas inside sub-schemas) before it is refused as too complex.</summary>
    public int MaxDepth { get; init; } = 64;

    /// <summary>Most characters of grammar text one conversion may produce.</summary>
    public int MaxGrammarChars { get; init; } = 1 << 20;

    /// <summary>
    /// Largest repetition bound written as GBNF <c>{m,n}</c>. llama.cpp expands <c>x{m,n}</c> into n rules and
    /// refuses bounds above 2000, so a larger <c>maxItems</c>/<c>maxLength</c> is dropped (treated as unbounded)
    /// and a larger <c>minItems</c>/<c>minLength</c> is refused. Values above 1000 act as 1000.
    /// </summary>
    public int MaxRepetition { get; init; } = 1000;

    /// <summary>How deeply an unconstrained ("any JSON") value may nest objects and arrays.</summary>
    public int AnyValueDepth { get; init; } = 10;

    /// <summary>
    /// Whether an object schema without <c>additionalProperties</c> accepts extra keys (after the declared ones).
    /// True follows JSON Schema; false follows llama.cpp, which keeps small models from inventing keys.
    /// </summary>
    public bool AdditionalPropertiesByDefault { get; init; } = true;

    /// <summary>
    /// When true, keywords the grammar cannot enforce exactly (<c>uniqueItems</c>, <c>multipleOf</c>, bounds on
    /// non-integer numbers, <c>minProperties</c>/<c>maxProperties</c>, string lengths combined with
    /// <c>pattern</c>/<c>format</c>) are refused; when false (default) they are relaxed and the grammar accepts a
    /// superset of the valid documents.
    /// </summary>
    public bool StrictKeywords { get; init; }

    /// <summary>
    /// When set, a string without its own <c>maxLength</c> (and without <c>pattern</c> or <c>format</c>) is held to
    /// this many characters: a subset of the valid documents, so that a forced call always fits in a bounded output.
    /// </summary>
    public int? MaxStringLength { get; init; }
}
