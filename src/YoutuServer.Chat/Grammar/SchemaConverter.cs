using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;

namespace YoutuServer.Chat.Grammar;

/// <summary>
/// Adds the rules for one JSON schema document to a <see cref="GbnfBuilder"/>. One instance per document:
/// <c>$ref</c>s resolve against the document given to the constructor. See <see cref="JsonSchemaToGbnf"/> for
/// the supported subset.
/// </summary>
internal sealed class SchemaConverter
{
    [Flags]
    private enum JsonTypes
    {
        None = 0,
        Null = 1,
        Boolean = 2,
        Object = 4,
        Array = 8,
        String = 16,
        Number = 32,
        Integer = 64,
    }

    /// <summary>Keywords that constrain values; anything else (title, description, x-..., unknown) is an annotation.</summary>
    private static readonly HashSet<string> Constraining = new(StringComparer.Ordinal)
    {
        "type", "enum", "const", "nullable",
        "properties", "required", "additionalProperties", "minProperties", "maxProperties",
        "patternProperties", "propertyNames", "dependentSchemas", "dependentRequired", "dependencies", "unevaluatedProperties",
        "items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains", "minContains", "maxContains", "unevaluatedItems",
        "minLength", "maxLength", "pattern", "format",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "anyOf", "oneOf", "allOf", "not", "if", "then", "else", "$ref", "$dynamicRef", "$recursiveRef",
    };

    private static readonly JsonElement TrueSchema = SchemaMerger.Write(w => w.WriteBooleanValue(true));
    private static readonly JsonElement EmptySchema = SchemaMerger.Write(w =>
    {
        w.WriteStartObject();
        w.WriteEndObject();
    });

    private readonly GbnfBuilder b;
    private readonly JsonGrammarOptions options;
    private readonly JsonElement document;
    private readonly string basePath;
    private readonly Dictionary<string, string> refRules = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> refsInProgress = new(StringComparer.Ordinal);
    private int containerDepth;
    private int work;

    /// <param name="builder">Where the rules go.</param>
    /// <param name="document">The schema document; <c>#/...</c> references resolve against it.</param>
    /// <param name="basePath">JSON pointer of the document inside the request, prefixed to error paths.</param>
    public SchemaConverter(GbnfBuilder builder, JsonElement document, string basePath)
    {
        b = builder;
        options = builder.Options;
        this.document = document;
        this.basePath = basePath;
    }

    /// <summary>A rule body for the whole document.</summary>
    public string ConvertDocument(string hint) => VisitExpr(document, basePath, hint, 0);

    /// <summary>A rule name for the whole document.</summary>
    public string ConvertDocumentRule(string hint) => VisitRule(document, basePath, hint, 0);

    // ---- dispatch ----

    private string VisitRule(JsonElement schema, string path, string hint, int depth)
    {
        var expr = VisitExpr(schema, path, hint, depth);
        return IsIdentifier(expr) ? expr : b.Add(hint, expr, path);
    }

    private string VisitExpr(JsonElement s, string path, string hint, int depth)
    {
        Enter(path, depth);
        switch (s.ValueKind)
        {
            case JsonValueKind.True:
                return b.AnyValue();
            case JsonValueKind.False:
                throw new UnsupportedSchemaException("false", path, "the schema 'false' accepts no value");
            case JsonValueKind.Object:
                break;
            default:
                throw new UnsupportedSchemaException("schema", path, "a schema must be an object or a boolean");
        }

        CheckRejected(s, path);

        if (s.TryGetProperty("$ref", out var refValue))
        {
            if (HasConstraining(s, "$ref"))
            {
                return VisitExpr(Flatten(s, path, depth), path, hint, depth + 1);
            }

            return VisitRef(RefString(refValue, path), path, depth);
        }

        if (s.TryGetProperty("allOf", out _))
        {
            return VisitExpr(Flatten(s, path, depth), path, hint, depth + 1);
        }

        var hasAny = s.TryGetProperty("anyOf", out var anyOf);
        var hasOne = s.TryGetProperty("oneOf", out var oneOf);
        if (hasAny && hasOne)
        {
            // Both must hold: fold oneOf into anyOf as a cross product.
            var asAny = SchemaMerger.Write(w =>
            {
                w.WriteStartObject();
                w.WritePropertyName("anyOf");
                oneOf.WriteTo(w);
                w.WriteEndObject();
            });
            return VisitExpr(SchemaMerger.Merge(SchemaMerger.Without(s, "oneOf"), asAny, path, options.StrictKeywords), path, hint, depth + 1);
        }

        if (hasAny || hasOne)
        {
            return Union(s, hasAny ? "anyOf" : "oneOf", hasAny ? anyOf : oneOf, path, hint, depth);
        }

        if (s.TryGetProperty("const", out var constValue))
        {
            return EnumExpr(s, [constValue], path);
        }

        if (s.TryGetProperty("enum", out var enumValue))
        {
            if (enumValue.ValueKind != JsonValueKind.Array || enumValue.GetArrayLength() == 0)
            {
                throw new UnsupportedSchemaException("enum", path, "'enum' must be a non-empty array");
            }

            return EnumExpr(s, [.. enumValue.EnumerateArray()], path);
        }

        var types = TypeSet(s, path);
        if (types == JsonTypes.None)
        {
            return b.AnyValue();
        }

        var parts = new List<string>(2);
        if (types.HasFlag(JsonTypes.Object))
        {
            parts.Add(ObjectExpr(s, path, hint, depth));
        }

        if (types.HasFlag(JsonTypes.Array))
        {
            parts.Add(ArrayExpr(s, path, hint, depth));
        }

        if (types.HasFlag(JsonTypes.String))
        {
            parts.Add(StringExpr(s, path, hint));
        }

        if (types.HasFlag(JsonTypes.Number))
        {
            parts.Add(NumberExpr(s, path));
        }
        else if (types.HasFlag(JsonTypes.Integer))
        {
            parts.Add(IntegerExpr(s, path));
        }

        if (types.HasFlag(JsonTypes.Boolean))
        {
            parts.Add(b.Primitive("boolean"));
        }

        if (types.HasFlag(JsonTypes.Null))
        {
            parts.Add(b.Primitive("null"));
        }

        return string.Join(" | ", parts);
    }

    private void Enter(string path, int depth)
    {
        if (depth > options.MaxDepth)
        {
            throw b.TooComplex(path, $"nesting deeper than {options.MaxDepth} levels");
        }

        // Bounds the work of merges and inlined references, which add no rules of their own.
        if (++work > options.MaxRules * 20)
        {
            throw b.TooComplex(path, "too many sub-schemas to visit");
        }
    }

    private static void CheckRejected(JsonElement s, string path)
    {
        foreach (var prop in s.EnumerateObject())
        {
            var v = prop.Value;
            string? why = prop.Name switch
            {
                "not" => "'not' cannot be expressed as a grammar",
                "if" when s.TryGetProperty("then", out _) || s.TryGetProperty("else", out _) =>
                    "conditional schemas (if/then/else) are not supported",
                "patternProperties" or "dependentSchemas" or "dependentRequired" or "dependencies" when !IsEmptyObject(v) =>
                    $"'{prop.Name}' is not supported",
                "propertyNames" or "unevaluatedProperties" or "unevaluatedItems" when !IsTrivial(v) =>
                    $"'{prop.Name}' is not supported",
                "contains" => "'contains' is not supported",
                "$dynamicRef" or "$recursiveRef" => "dynamic references are not supported",
                _ => null,
            };
            if (why is not null)
            {
                throw new UnsupportedSchemaException(prop.Name, path, why);
            }
        }
    }

    private static bool IsEmptyObject(JsonElement v) => v.ValueKind == JsonValueKind.Object && !v.EnumerateObject().Any();

    private static bool IsTrivial(JsonElement v) => v.ValueKind == JsonValueKind.True || IsEmptyObject(v);

    private static bool HasConstraining(JsonElement s, string except)
    {
        foreach (var prop in s.EnumerateObject())
        {
            if (prop.Name != except && Constraining.Contains(prop.Name))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsIdentifier(string expr)
    {
        if (expr.Length == 0)
        {
            return false;
        }

        foreach (var c in expr)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '-')
            {
                return false;
            }
        }

        return true;
    }

    private static string Child(string path, string segment) =>
        path + "/" + segment.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);

    // ---- $ref and allOf ----

    private static string RefString(JsonElement value, string path) =>
        value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new UnsupportedSchemaException("$ref", path, "'$ref' must be a string");

    private (JsonElement Target, string Pointer) Resolve(string reference, string path)
    {
        if (!reference.StartsWith('#'))
        {
            throw new UnsupportedSchemaException("$ref", path, $"only local references ('#/...') are supported, not {JsonText.Quote(reference)}");
        }

        var fragment = Uri.UnescapeDataString(reference[1..]);
        if (fragment.Length == 0)
        {
            return (document, "");
        }

        if (!fragment.StartsWith('/'))
        {
            throw new UnsupportedSchemaException("$ref", path, $"anchor references are not supported: {JsonText.Quote(reference)}");
        }

        var current = document;
        foreach (var raw in fragment[1..].Split('/'))
        {
            var segment = raw.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
            if (current.ValueKind == JsonValueKind.Object && current.TryGetProperty(segment, out var next))
            {
                current = next;
            }
            else if (current.ValueKind == JsonValueKind.Array &&
                     int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out var index) &&
                     index < current.GetArrayLength())
            {
                current = current[index];
            }
            else
            {
                throw new UnsupportedSchemaException("$ref", path, $"cannot resolve {JsonText.Quote(reference)}");
            }
        }

        return (current, fragment);
    }

    private string VisitRef(string reference, string path, int depth)
    {
        var (target, pointer) = Resolve(reference, path);
        if (refRules.TryGetValue(pointer, out var known))
        {
            // A reference back to a schema still being converted is fine only if something was consumed
            // in between (an object or array was opened); otherwise the grammar would be left-recursive.
            if (refsInProgress.TryGetValue(pointer, out var at) && at == containerDepth)
            {
                throw new UnsupportedSchemaException("$ref", path,
                    $"recursive reference {JsonText.Quote(reference)} must be nested inside an object property or array item");
            }

            return known;
        }

        var segments = pointer.Split('/');
        var hint = pointer.Length == 0 ? "ref-root" : "ref-" + segments[^1];
        var name = b.Reserve(hint, path);
        refRules[pointer] = name;
        refsInProgress[pointer] = containerDepth;
        string body;
        try
        {
            body = VisitExpr(target, basePath + pointer, name, depth + 1);
        }
        finally
        {
            refsInProgress.Remove(pointer);
        }

        b.Define(name, body, path);
        return name;
    }

    /// <summary>The schema with its top-level <c>$ref</c> and <c>allOf</c> merged in.</summary>
    private JsonElement Flatten(JsonElement s, string path, int depth)
    {
        Enter(path, depth);
        switch (s.ValueKind)
        {
            case JsonValueKind.True:
                return EmptySchema;
            case JsonValueKind.False:
                throw new UnsupportedSchemaException("allOf", path, "a branch is 'false', so no value is valid");
            case JsonValueKind.Object:
                break;
            default:
                throw new UnsupportedSchemaException("schema", path, "a schema must be an object or a boolean");
        }

        CheckRejected(s, path);
        var hasRef = s.TryGetProperty("$ref", out var refValue);
        var hasAll = s.TryGetProperty("allOf", out var allOf);
        if (!hasRef && !hasAll)
        {
            return s;
        }

        var result = SchemaMerger.Without(s, "$ref", "allOf");
        if (hasRef)
        {
            var (target, pointer) = Resolve(RefString(refValue, path), path);
            result = SchemaMerger.Merge(Flatten(target, basePath + pointer, depth + 1), result, path, options.StrictKeywords);
        }

        if (hasAll)
        {
            if (allOf.ValueKind != JsonValueKind.Array || allOf.GetArrayLength() == 0)
            {
                throw new UnsupportedSchemaException("allOf", path, "'allOf' must be a non-empty array");
            }

            var i = 0;
            foreach (var part in allOf.EnumerateArray())
            {
                var partPath = Child(Child(path, "allOf"), i.ToString(CultureInfo.InvariantCulture));
                result = SchemaMerger.Merge(result, Flatten(part, partPath, depth + 1), path, options.StrictKeywords);
                i++;
            }
        }

        return result;
    }

    // ---- anyOf / oneOf / enum ----

    private string Union(JsonElement s, string key, JsonElement branches, string path, string hint, int depth)
    {
        if (branches.ValueKind != JsonValueKind.Array || branches.GetArrayLength() == 0)
        {
            throw new UnsupportedSchemaException(key, path, $"'{key}' must be a non-empty array");
        }

        // Keywords next to anyOf apply to every branch: (S and (A or B)) = (S and A) or (S and B).
        var siblings = SchemaMerger.Without(s, key);
        var merge = HasConstraining(siblings, key);
        var alternatives = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var i = 0;
        foreach (var branch in branches.EnumerateArray())
        {
            var branchPath = Child(Child(path, key), i.ToString(CultureInfo.InvariantCulture));
            var branchHint = hint + "-" + i.ToString(CultureInfo.InvariantCulture);
            i++;
            var schema = branch;
            if (merge)
            {
                if (branch.ValueKind == JsonValueKind.False)
                {
                    continue;
                }

                schema = SchemaMerger.Merge(siblings, Flatten(branch, branchPath, depth + 1), branchPath, options.StrictKeywords);
            }
            else if (branch.ValueKind == JsonValueKind.False)
            {
                continue;
            }

            var rule = VisitRule(schema, branchPath, branchHint, depth + 1);
            if (seen.Add(rule))
            {
                alternatives.Add(rule);
            }
        }

        if (alternatives.Count == 0)
        {
            throw new UnsupportedSchemaException(key, path, "no branch accepts any value");
        }

        return string.Join(" | ", alternatives);
    }

    private string EnumExpr(JsonElement s, List<JsonElement> values, string path)
    {
        // Only 'type' filters the listed values; other sibling keywords are not checked against them.
        var types = s.TryGetProperty("type", out _) ? TypeSet(s, path) : JsonTypes.None;
        var alternatives = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var chars = 0L;
        foreach (var v in values)
        {
            if (types != JsonTypes.None && !HasType(types, v))
            {
                continue;
            }

            var expr = ConstExpr(v, path);
            if (seen.Add(expr))
            {
                alternatives.Add(expr);
                chars += expr.Length + 3;
                if (chars > options.MaxGrammarChars)
                {
                    throw b.TooComplex(path, $"the grammar would exceed {options.MaxGrammarChars} characters");
                }
            }
        }

        if (alternatives.Count == 0)
        {
            throw new UnsupportedSchemaException("enum", path, "no listed value matches 'type'");
        }

        return string.Join(" | ", alternatives);
    }

    private static bool HasType(JsonTypes types, JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Object => types.HasFlag(JsonTypes.Object),
        JsonValueKind.Array => types.HasFlag(JsonTypes.Array),
        JsonValueKind.String => types.HasFlag(JsonTypes.String),
        JsonValueKind.True or JsonValueKind.False => types.HasFlag(JsonTypes.Boolean),
        JsonValueKind.Null => types.HasFlag(JsonTypes.Null),
        JsonValueKind.Number => types.HasFlag(JsonTypes.Number) ||
                                (types.HasFlag(JsonTypes.Integer) && v.TryGetDecimal(out var d) && d == decimal.Truncate(d)),
        _ => false,
    };

    /// <summary>Exactly one JSON value, spelled as the model writes it (whitespace as in any other object/array).</summary>
    private string ConstExpr(JsonElement v, string path)
    {
        switch (v.ValueKind)
        {
            case JsonValueKind.String:
                return GbnfBuilder.Literal(JsonText.Quote(GetString(v, path)));
            case JsonValueKind.Number:
                return GbnfBuilder.Literal(v.GetRawText());
            case JsonValueKind.True:
                return "\"true\"";
            case JsonValueKind.False:
                return "\"false\"";
            case JsonValueKind.Null:
                return "\"null\"";
            case JsonValueKind.Array:
            {
                b.Primitive(GbnfBuilder.Ws);
                var items = v.EnumerateArray().Select(e => ConstExpr(e, path)).ToList();
                return items.Count == 0 ? "\"[\" ws \"]\"" : "\"[\" ws " + string.Join(" \",\" ws ", items) + " ws \"]\"";
            }

            case JsonValueKind.Object:
            {
                b.Primitive(GbnfBuilder.Ws);
                var members = v.EnumerateObject()
                    .Select(p => GbnfBuilder.Literal(JsonText.Quote(p.Name) + ":") + " ws " + ConstExpr(p.Value, path))
                    .ToList();
                return members.Count == 0 ? "\"{\" ws \"}\"" : "\"{\" ws " + string.Join(" \",\" ws ", members) + " ws \"}\"";
            }

            default:
                throw new UnsupportedSchemaException("enum", path, "unexpected value");
        }
    }

    private static string GetString(JsonElement v, string path)
    {
        try
        {
            return v.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw new UnsupportedSchemaException("enum", path, "a string value is not valid UTF-16");
        }
    }

    // ---- types ----

    private static JsonTypes TypeSet(JsonElement s, string path)
    {
        var types = JsonTypes.None;
        if (s.TryGetProperty("type", out var t))
        {
            if (t.ValueKind == JsonValueKind.String)
            {
                types = ParseType(t.GetString()!, path);
            }
            else if (t.ValueKind == JsonValueKind.Array && t.GetArrayLength() > 0)
            {
                foreach (var item in t.EnumerateArray())
                {
                    types |= item.ValueKind == JsonValueKind.String
                        ? ParseType(item.GetString()!, path)
                        : throw new UnsupportedSchemaException("type", path, "'type' entries must be strings");
                }
            }
            else
            {
                throw new UnsupportedSchemaException("type", path, "'type' must be a string or a non-empty array of strings");
            }
        }
        else
        {
            // No 'type': take the types the keywords talk about, so {"properties": ...} means an object.
            foreach (var prop in s.EnumerateObject())
            {
                types |= prop.Name switch
                {
                    "properties" or "required" or "additionalProperties" or "minProperties" or "maxProperties" => JsonTypes.Object,
                    "items" or "prefixItems" or "additionalItems" or "minItems" or "maxItems" or "uniqueItems" => JsonTypes.Array,
                    "minLength" or "maxLength" or "pattern" or "format" => JsonTypes.String,
                    "minimum" or "maximum" or "exclusiveMinimum" or "exclusiveMaximum" or "multipleOf" => JsonTypes.Number,
                    _ => JsonTypes.None,
                };
            }
        }

        if (types != JsonTypes.None && s.TryGetProperty("nullable", out var nullable) && nullable.ValueKind == JsonValueKind.True)
        {
            types |= JsonTypes.Null;
        }

        return types;
    }

    private static JsonTypes ParseType(string name, string path) => name switch
    {
        "null" => JsonTypes.Null,
        "boolean" => JsonTypes.Boolean,
        "object" => JsonTypes.Object,
        "array" => JsonTypes.Array,
        "string" => JsonTypes.String,
        "number" => JsonTypes.Number,
        "integer" => JsonTypes.Integer,
        _ => throw new UnsupportedSchemaException("type", path, $"unknown type {JsonText.Quote(name)}"),
    };

    private static int? ReadCount(JsonElement s, string key, string path)
    {
        if (!s.TryGetProperty(key, out var v))
        {
            return null;
        }

        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && d >= 0 && d == Math.Floor(d))
        {
            return d >= int.MaxValue ? int.MaxValue : (int)d;
        }

        throw new UnsupportedSchemaException(key, path, $"'{key}' must be a non-negative integer");
    }

    private void Relaxed(string keyword, string path, string detail)
    {
        if (options.StrictKeywords)
        {
            throw new UnsupportedSchemaException(keyword, path, detail);
        }
    }

    // ---- strings ----

    private string StringExpr(JsonElement s, string path, string hint)
    {
        var min = ReadCount(s, "minLength", path);
        var max = ReadCount(s, "maxLength", path);
        var format = s.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
        string? pattern = null;
        if (s.TryGetProperty("pattern", out var p))
        {
            pattern = p.ValueKind == JsonValueKind.String
                ? p.GetString()
                : throw new UnsupportedSchemaException("pattern", path, "'pattern' must be a string");
        }

        // Formats other than these are annotations (JSON Schema 2020-12 default) and accept any string.
        var formatRule = format switch
        {
            "date" => "date-string",
            "time" => "time-string",
            "date-time" => "date-time-string",
            "uuid" => "uuid-string",
            _ => null,
        };

        if (pattern is not null && formatRule is not null)
        {
            throw new UnsupportedSchemaException("pattern", path, "'pattern' together with 'format' is not supported");
        }

        if ((pattern is not null || formatRule is not null) && (min is not null || max is not null))
        {
            Relaxed(min is not null ? "minLength" : "maxLength", path, "string length limits together with 'pattern' or 'format' are not supported");
        }

        if (formatRule is not null)
        {
            return b.Primitive(formatRule);
        }

        if (pattern is not null)
        {
            return RegexToGbnf.Convert(b, pattern, path, hint);
        }

        var lo = min ?? 0;
        var hi = max ?? (b.Options.MaxStringLength is { } most ? Math.Max(lo, most) : -1);
        if (hi >= 0 && lo > hi)
        {
            throw new UnsupportedSchemaException("minLength", path, "minLength is greater than maxLength, so no value is valid");
        }

        if (lo == 0 && hi < 0)
        {
            return b.Primitive("string");
        }

        if (hi == 0)
        {
            return GbnfBuilder.Literal("\"\"");
        }

        var chars = b.Repeat(b.Primitive("char"), lo, hi, "minLength", path);
        return "\"\\\"\" " + chars + " \"\\\"\"";
    }

    // ---- numbers ----

    private string IntegerExpr(JsonElement s, string path)
    {
        if (s.TryGetProperty("multipleOf", out var multiple) &&
            !(multiple.ValueKind == JsonValueKind.Number && multiple.TryGetDecimal(out var m) && m == 1))
        {
            Relaxed("multipleOf", path, "'multipleOf' is not supported");
        }

        BigInteger? lo = null;
        BigInteger? hi = null;
        if (ReadNumber(s, "minimum", path) is { } min)
        {
            var exclusive = s.TryGetProperty("exclusiveMinimum", out var em) && em.ValueKind == JsonValueKind.True;
            lo = exclusive ? Floor(min) + 1 : Ceiling(min);
        }

        if (ReadNumber(s, "exclusiveMinimum", path) is { } xmin)
        {
            var bound = Floor(xmin) + 1;
            lo = lo is { } l ? BigInteger.Max(l, bound) : bound;
        }

        if (ReadNumber(s, "maximum", path) is { } max)
        {
            var exclusive = s.TryGetProperty("exclusiveMaximum", out var em) && em.ValueKind == JsonValueKind.True;
            hi = exclusive ? Ceiling(max) - 1 : Floor(max);
        }

        if (ReadNumber(s, "exclusiveMaximum", path) is { } xmax)
        {
            var bound = Ceiling(xmax) - 1;
            hi = hi is { } h ? BigInteger.Min(h, bound) : bound;
        }

        if (lo is null && hi is null)
        {
            return this.b.Primitive("integer");
        }

        if ((lo is { } a && hi is { } b && a > b) || lo > IntegerRange.Largest || hi < -IntegerRange.Largest)
        {
            throw new UnsupportedSchemaException(lo is not null ? "minimum" : "maximum", path,
                "no integer (of at most 19 digits) satisfies the bounds");
        }

        return IntegerRange.Build(lo, hi);
    }

    private string NumberExpr(JsonElement s, string path)
    {
        if (s.TryGetProperty("multipleOf", out _))
        {
            Relaxed("multipleOf", path, "'multipleOf' is not supported");
        }

        var min = ReadNumber(s, "minimum", path);
        var xmin = ReadNumber(s, "exclusiveMinimum", path);
        var max = ReadNumber(s, "maximum", path);
        var xmax = ReadNumber(s, "exclusiveMaximum", path);
        if (min is null && xmin is null && max is null && xmax is null)
        {
            return b.Primitive("number");
        }

        // Bounds on non-integer numbers are not enforced, except that a lower bound >= 0 drops the minus sign.
        var exactNonNegative = min == 0 && xmin is null && max is null && xmax is null &&
                               !(s.TryGetProperty("exclusiveMinimum", out var em) && em.ValueKind == JsonValueKind.True);
        if (!exactNonNegative)
        {
            Relaxed(min is not null ? "minimum" : xmin is not null ? "exclusiveMinimum" : max is not null ? "maximum" : "exclusiveMaximum",
                path, "bounds on non-integer numbers are not supported");
        }

        var lower = min is null ? xmin : xmin is null ? min : Math.Max(min.Value, xmin.Value);
        if (lower >= 0)
        {
            return "( \"0\" | [1-9] [0-9]{0,18} ) ( \".\" [0-9]{1,18} )? ( [eE] [-+]? [0-9]{1,3} )?";
        }

        return b.Primitive("number");
    }

    private static decimal? ReadNumber(JsonElement s, string key, string path)
    {
        if (!s.TryGetProperty(key, out var v) || v.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            return null; // booleans: draft-4 exclusiveMinimum/Maximum, read next to minimum/maximum
        }

        if (v.ValueKind != JsonValueKind.Number)
        {
            throw new UnsupportedSchemaException(key, path, $"'{key}' must be a number");
        }

        if (v.TryGetDecimal(out var d))
        {
            return d;
        }

        // Beyond decimal's range: far outside 19 digits either way.
        return v.GetDouble() > 0 ? decimal.MaxValue : decimal.MinValue;
    }

    private static BigInteger Floor(decimal d) => new(decimal.Floor(d));

    private static BigInteger Ceiling(decimal d) => new(decimal.Ceiling(d));

    // ---- arrays ----

    private string ArrayExpr(JsonElement s, string path, string hint, int depth)
    {
        b.Primitive(GbnfBuilder.Ws);
        var prefix = new List<JsonElement>();
        var restSchema = TrueSchema;
        var restKey = "items";
        if (s.TryGetProperty("prefixItems", out var prefixItems))
        {
            if (prefixItems.ValueKind != JsonValueKind.Array)
            {
                throw new UnsupportedSchemaException("prefixItems", path, "'prefixItems' must be an array");
            }

            prefix.AddRange(prefixItems.EnumerateArray());
            if (s.TryGetProperty("items", out var items))
            {
                restSchema = items;
            }
        }
        else if (s.TryGetProperty("items", out var items))
        {
            if (items.ValueKind == JsonValueKind.Array)
            {
                // Draft 4-7 tuple form.
                prefix.AddRange(items.EnumerateArray());
                restKey = "additionalItems";
                if (s.TryGetProperty("additionalItems", out var additional))
                {
                    restSchema = additional;
                }
            }
            else
            {
                restSchema = items;
            }
        }

        var min = ReadCount(s, "minItems", path) ?? 0;
        var max = ReadCount(s, "maxItems", path) ?? -1;
        if (max >= 0 && min > max)
        {
            throw new UnsupportedSchemaException("minItems", path, "minItems is greater than maxItems, so no array is valid");
        }

        if (s.TryGetProperty("uniqueItems", out var unique) && unique.ValueKind == JsonValueKind.True && !(max is >= 0 and <= 1))
        {
            Relaxed("uniqueItems", path, "'uniqueItems' is not supported");
        }

        if (max >= 0 && prefix.Count > max)
        {
            prefix.RemoveRange(max, prefix.Count - max);
        }

        containerDepth++;
        try
        {
            var prefixRules = new List<string>(prefix.Count);
            for (var i = 0; i < prefix.Count; i++)
            {
                var key = s.TryGetProperty("prefixItems", out _) ? "prefixItems" : "items";
                var itemPath = Child(Child(path, key), i.ToString(CultureInfo.InvariantCulture));
                prefixRules.Add(VisitRule(prefix[i], itemPath, hint + "-" + i.ToString(CultureInfo.InvariantCulture), depth + 1));
            }

            string? itemRule = null;
            if (restSchema.ValueKind != JsonValueKind.False && (max < 0 || max > prefix.Count))
            {
                itemRule = VisitRule(restSchema, Child(path, restKey), hint + "-item", depth + 1);
            }

            var k = prefix.Count;
            var restMin = Math.Max(0, min - k);
            var restMax = max < 0 ? -1 : max - k;
            if (itemRule is null && restMin > 0)
            {
                throw new UnsupportedSchemaException("minItems", path, $"minItems is {min} but at most {k} items are allowed");
            }

            string? elements;
            if (k == 0)
            {
                if (itemRule is null)
                {
                    elements = null;
                }
                else
                {
                    var more = b.Add(hint + "-more", "\",\" ws " + itemRule, path);
                    var tail = b.Repeat(more, Math.Max(0, min - 1), max < 0 ? -1 : max - 1, "minItems", path);
                    elements = tail.Length == 0 ? itemRule : itemRule + " " + tail;
                }
            }
            else
            {
                var rest = "";
                if (itemRule is not null && restMax != 0)
                {
                    var more = b.Add(hint + "-more", "\",\" ws " + itemRule, path);
                    rest = b.Repeat(more, restMin, restMax, "minItems", path);
                }

                // p1 ("," p2 ("," p3 rest)?)? — item j is required when j <= minItems.
                var inner = rest.Length == 0 ? prefixRules[k - 1] : prefixRules[k - 1] + " " + rest;
                for (var j = k - 1; j >= 1; j--)
                {
                    var next = IsIdentifier(inner) ? inner : b.Add(hint + "-from-" + j.ToString(CultureInfo.InvariantCulture), inner, path);
                    var link = j + 1 <= min ? "\",\" ws " + next : "( \",\" ws " + next + " )?";
                    inner = prefixRules[j - 1] + " " + link;
                }

                elements = inner;
            }

            if (elements is null)
            {
                return "\"[\" ws \"]\"";
            }

            return min == 0 ? "\"[\" ws ( " + elements + " ws )? \"]\"" : "\"[\" ws " + elements + " ws \"]\"";
        }
        finally
        {
            containerDepth--;
        }
    }

    // ---- objects ----

    private string ObjectExpr(JsonElement s, string path, string hint, int depth)
    {
        b.Primitive(GbnfBuilder.Ws);
        var props = new List<(string Name, JsonElement Schema, string Path)>();
        var declared = new HashSet<string>(StringComparer.Ordinal);
        if (s.TryGetProperty("properties", out var properties))
        {
            if (properties.ValueKind != JsonValueKind.Object)
            {
                throw new UnsupportedSchemaException("properties", path, "'properties' must be an object");
            }

            foreach (var p in properties.EnumerateObject())
            {
                if (declared.Add(p.Name))
                {
                    props.Add((p.Name, p.Value, Child(Child(path, "properties"), p.Name)));
                }
            }
        }

        var required = new HashSet<string>(StringComparer.Ordinal);
        if (s.TryGetProperty("required", out var req))
        {
            if (req.ValueKind != JsonValueKind.Array)
            {
                throw new UnsupportedSchemaException("required", path, "'required' must be an array of strings");
            }

            foreach (var r in req.EnumerateArray())
            {
                required.Add(r.ValueKind == JsonValueKind.String
                    ? r.GetString()!
                    : throw new UnsupportedSchemaException("required", path, "'required' must be an array of strings"));
            }
        }

        JsonElement? extra;
        if (s.TryGetProperty("additionalProperties", out var additional))
        {
            extra = additional.ValueKind switch
            {
                JsonValueKind.False => null,
                JsonValueKind.True or JsonValueKind.Object => additional,
                _ => throw new UnsupportedSchemaException("additionalProperties", path, "'additionalProperties' must be a schema"),
            };
        }
        else
        {
            extra = options.AdditionalPropertiesByDefault ? TrueSchema : null;
        }

        foreach (var r in required)
        {
            if (declared.Contains(r))
            {
                continue;
            }

            if (extra is null)
            {
                throw new UnsupportedSchemaException("required", path,
                    $"property {JsonText.Quote(r)} is required but not declared, and additionalProperties is false");
            }

            // Required but undeclared: governed by additionalProperties; listed after the declared ones.
            declared.Add(r);
            props.Add((r, extra.Value, Child(path, "additionalProperties")));
        }

        props.RemoveAll(p =>
        {
            if (p.Schema.ValueKind != JsonValueKind.False)
            {
                return false;
            }

            return required.Contains(p.Name)
                ? throw new UnsupportedSchemaException("required", path, $"property {JsonText.Quote(p.Name)} is required but its schema is false")
                : true;
        });

        if (ReadCount(s, "minProperties", path) is { } minProps && minProps > required.Count)
        {
            Relaxed("minProperties", path, "'minProperties' beyond the required properties is not supported");
        }

        if (ReadCount(s, "maxProperties", path) is { } maxProps && (extra is not null || props.Count > maxProps))
        {
            Relaxed("maxProperties", path, "'maxProperties' is not supported");
        }

        containerDepth++;
        try
        {
            var kvs = new List<string>(props.Count);
            var isRequired = new List<bool>(props.Count);
            foreach (var (name, schema, propPath) in props)
            {
                var value = VisitRule(schema, propPath, hint + "-" + name, depth + 1);
                kvs.Add(b.Add(hint + "-" + name + "-kv", GbnfBuilder.Literal(JsonText.Quote(name) + ":") + " ws " + value, propPath));
                isRequired.Add(required.Contains(name));
            }

            string? extraKv = null;
            if (extra is { } extraSchema)
            {
                var extraPath = Child(path, "additionalProperties");
                var value = VisitRule(extraSchema, extraPath, hint + "-additional", depth + 1);
                var key = KeyNotIn(props.Select(p => p.Name), hint, extraPath);
                extraKv = b.Add(hint + "-additional-kv", key + " \":\" ws " + value, extraPath);
            }

            return ObjectBody(kvs, isRequired, extraKv, hint, path);
        }
        finally
        {
            containerDepth--;
        }
    }

    /// <summary>
    /// "{" members "}" with the declared properties in order (optional ones may be skipped) and then any
    /// additional ones. <c>rest[i]</c>: what may follow once something was written before member i;
    /// <c>from[i]</c>: at least one member, starting at member i or later.
    /// </summary>
    private string ObjectBody(List<string> kvs, List<bool> isRequired, string? extraKv, string hint, string path)
    {
        var n = kvs.Count;
        var rest = new string[n + 1];
        rest[n] = extraKv is null ? "" : "( \",\" ws " + extraKv + " )*";
        for (var i = n - 1; i >= 1; i--)
        {
            var piece = isRequired[i] ? "\",\" ws " + kvs[i] : "( \",\" ws " + kvs[i] + " )?";
            rest[i] = rest[i + 1].Length == 0
                ? piece
                : b.Add(hint + "-rest-" + i.ToString(CultureInfo.InvariantCulture), piece + " " + rest[i + 1], path);
        }

        string? from = extraKv is null ? null : extraKv + " ( \",\" ws " + extraKv + " )*";
        var fromHasAlternatives = false;
        for (var i = n - 1; i >= 0; i--)
        {
            var with = rest[i + 1].Length == 0 ? kvs[i] : kvs[i] + " " + rest[i + 1];
            if (isRequired[i] || from is null)
            {
                from = with;
                fromHasAlternatives = false;
            }
            else
            {
                var next = IsIdentifier(from) ? from : b.Add(hint + "-from-" + (i + 1).ToString(CultureInfo.InvariantCulture), from, path);
                from = with + " | " + next;
                fromHasAlternatives = true;
            }
        }

        if (from is null)
        {
            return "\"{\" ws \"}\"";
        }

        var members = fromHasAlternatives ? "( " + from + " )" : from;
        return isRequired.Contains(true)
            ? "\"{\" ws " + members + " ws \"}\""
            : "\"{\" ws ( " + members + " ws )? \"}\"";
    }

    /// <summary>
    /// A JSON string (quotes included) that is none of <paramref name="names"/>, built as a trie: at each step
    /// the key may close (unless the prefix so far is a declared name), continue along a declared name, or
    /// leave the trie with any other character. Names that need JSON escapes, or are very long, are not
    /// excluded; an escape sequence always counts as leaving the trie.
    /// </summary>
    private string KeyNotIn(IEnumerable<string> names, string hint, string path)
    {
        var root = new TrieNode();
        var any = false;
        foreach (var name in names)
        {
            if (name.Length > 256 || name.EnumerateRunes().Any(r => JsonText.NeedsEscape(r.Value)))
            {
                continue;
            }

            var node = root;
            foreach (var rune in name.EnumerateRunes())
            {
                if (!node.Children.TryGetValue(rune.Value, out var child))
                {
                    child = new TrieNode();
                    node.Children.Add(rune.Value, child);
                }

                node = child;
            }

            node.Terminal = true;
            any = true;
        }

        var charRule = b.Primitive("char");
        if (!any)
        {
            return b.Primitive("string");
        }

        var sb = new StringBuilder();
        sb.Append("\"\\\"\" ");
        AppendTrie(sb, root, charRule);
        return b.Add(hint + "-additional-key", sb.ToString(), path);
    }

    private static void AppendTrie(StringBuilder sb, TrieNode node, string charRule)
    {
        sb.Append("( ");
        if (!node.Terminal)
        {
            sb.Append("\"\\\"\" | ");
        }

        foreach (var (cp, child) in node.Children)
        {
            sb.Append(GbnfBuilder.Literal(char.ConvertFromUtf32(cp))).Append(' ');
            AppendTrie(sb, child, charRule);
            sb.Append(" | ");
        }

        sb.Append("( [^\"\\\\\\x00-\\x1F");
        foreach (var cp in node.Children.Keys)
        {
            sb.Append(GbnfBuilder.ClassChar(cp));
        }

        sb.Append("] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4} ) ) ")
            .Append(charRule).Append("* \"\\\"\" )");
    }

    private sealed class TrieNode
    {
        public Dictionary<int, TrieNode> Children { get; } = [];

        public bool Terminal { get; set; }
    }
}
