using System.Text.Json;

namespace YoutuServer.Chat.Grammar;

/// <summary>
/// JSON Schema → GBNF for llama.cpp's grammar sampler. The grammar's language is the JSON documents valid under
/// the schema (within the subset below), written compactly the way the model writes JSON: no newlines, at most
/// one space after <c>{ [ , :</c> and before <c>} ]</c> (so <c>", "</c> and <c>": "</c> are fine).
/// <para><b>Supported.</b>
/// <c>type</c> (a name or a list; without <c>type</c> the keywords present decide, e.g. <c>properties</c> → object;
/// OpenAPI <c>nullable: true</c> adds null);
/// objects: <c>properties</c> (written in declared order, optional ones may be left out), <c>required</c>,
/// <c>additionalProperties</c> false/true/schema (extra keys come after the declared ones and may not repeat them;
/// when absent, <see cref="JsonGrammarOptions.AdditionalPropertiesByDefault"/>);
/// strings: <c>minLength</c>, <c>maxLength</c>, <c>pattern</c> (the regex subset of <see cref="RegexToGbnf"/>),
/// <c>format</c> date / time / date-time / uuid (other formats are annotations);
/// <c>integer</c> with <c>minimum</c>/<c>maximum</c>/<c>exclusiveMinimum</c>/<c>exclusiveMaximum</c> (numbers up to 19 digits);
/// <c>number</c>, <c>boolean</c>, <c>null</c>; <c>enum</c> and <c>const</c> of any JSON values (each written in the
/// model's spelling, e.g. <c>{"a": 1}</c>; numbers exactly as in the schema);
/// arrays: <c>items</c>, <c>prefixItems</c> (and the draft-7 tuple <c>items</c> + <c>additionalItems</c>), <c>minItems</c>, <c>maxItems</c>;
/// <c>anyOf</c>/<c>oneOf</c> (oneOf's exclusivity is not enforced), with sibling keywords distributed into the branches;
/// <c>allOf</c> (merged: properties, required, types, bounds, enums intersected); <c>$ref</c> to any <c>#/...</c>
/// pointer (e.g. <c>#/$defs/X</c>, <c>#/definitions/X</c>, <c>#</c>), recursion included when it passes through an
/// object or array; <c>true</c>/<c>{}</c> = any JSON value (nesting bounded by <see cref="JsonGrammarOptions.AnyValueDepth"/>).
/// Annotations and unknown keywords are ignored.
/// </para>
/// <para><b>Relaxed</b> (ignored, so the grammar accepts a superset; refused instead with
/// <see cref="JsonGrammarOptions.StrictKeywords"/>): <c>uniqueItems</c>, <c>multipleOf</c>, bounds on <c>number</c>
/// (except that a lower bound ≥ 0 forbids the minus sign), <c>minProperties</c>/<c>maxProperties</c> beyond what the
/// required/declared properties imply, string lengths next to <c>pattern</c>/<c>format</c>.
/// A <c>maxItems</c>/<c>maxLength</c> (or regex bound) above <see cref="JsonGrammarOptions.MaxRepetition"/> is dropped.</para>
/// <para><b>Refused</b> with <see cref="UnsupportedSchemaException"/>: <c>not</c>, <c>if</c> with <c>then</c>/<c>else</c>,
/// <c>patternProperties</c>, <c>dependentSchemas</c>, <c>dependentRequired</c>, <c>dependencies</c>, <c>propertyNames</c>,
/// <c>unevaluatedProperties</c>, <c>unevaluatedItems</c>, <c>contains</c>, <c>$dynamicRef</c>/<c>$recursiveRef</c>,
/// non-local or anchor <c>$ref</c>s, left-recursive <c>$ref</c>s, patterns outside the regex subset, unsatisfiable
/// schemas (<c>false</c>, <c>minItems &gt; maxItems</c>, ...), and schemas beyond the limits in
/// <see cref="JsonGrammarOptions"/> ("schema too complex").</para>
/// </summary>
public static class JsonSchemaToGbnf
{
    /// <summary>The grammar (start rule <c>root</c>) for documents valid under <paramref name="schema"/>.</summary>
    /// <param name="schema">The schema document; <c>$ref</c>s resolve against it.</param>
    /// <param name="options">Limits and policy; <see cref="JsonGrammarOptions.Default"/> when null.</param>
    /// <param name="basePath">JSON pointer of the schema in the request, for error messages.</param>
    /// <exception cref="UnsupportedSchemaException">The schema uses something outside the supported subset.</exception>
    public static string Convert(JsonElement schema, JsonGrammarOptions? options = null, string basePath = "") =>
        SchemaGuard.Run(basePath, () =>
        {
            var builder = new GbnfBuilder(options ?? JsonGrammarOptions.Default);
            var body = new SchemaConverter(builder, schema, basePath).ConvertDocument("schema");
            builder.Define("root", body, basePath);
            return builder.Build();
        });

    /// <summary>The grammar for any JSON object (<c>response_format: {"type": "json_object"}</c>).</summary>
    public static string AnyJsonObject(JsonGrammarOptions? options = null)
    {
        var builder = new GbnfBuilder(options ?? JsonGrammarOptions.Default);
        builder.Define("root", builder.AnyObject(), "");
        return builder.Build();
    }

    /// <summary>The grammar for any JSON value.</summary>
    public static string AnyJsonValue(JsonGrammarOptions? options = null)
    {
        var builder = new GbnfBuilder(options ?? JsonGrammarOptions.Default);
        builder.Define("root", builder.AnyValue(), "");
        return builder.Build();
    }
}
