using System.Buffers;
using System.Text.Json;

namespace YoutuServer.Chat.Grammar;

/// <summary>
/// Intersects two object schemas (for <c>allOf</c>, and for keywords next to <c>anyOf</c>/<c>oneOf</c>/<c>$ref</c>).
/// The merge is shallow: where both sides constrain the same sub-schema (a property, <c>items</c>, ...) the
/// result holds <c>{"allOf": [a, b]}</c> there, merged in turn when the converter reaches it.
/// </summary>
internal static class SchemaMerger
{
    private static readonly HashSet<string> MaxOfBoth = new(StringComparer.Ordinal)
    {
        "minLength", "minItems", "minProperties", "minimum",
    };

    private static readonly HashSet<string> MinOfBoth = new(StringComparer.Ordinal)
    {
        "maxLength", "maxItems", "maxProperties", "maximum",
    };

    /// <summary>The schema accepting exactly what both <paramref name="a"/> and <paramref name="b"/> accept.</summary>
    /// <param name="a">An object schema without a top-level <c>$ref</c> or <c>allOf</c>.</param>
    /// <param name="b">Likewise.</param>
    /// <param name="path">Where the merge happens, for error messages.</param>
    /// <param name="strict">Refuse instead of relaxing where an intersection cannot be written.</param>
    public static JsonElement Merge(JsonElement a, JsonElement b, string path, bool strict)
    {
        var result = new List<KeyValuePair<string, Action<Utf8JsonWriter>>>();
        var done = new HashSet<string>(StringComparer.Ordinal);

        foreach (var prop in a.EnumerateObject())
        {
            if (!done.Add(prop.Name))
            {
                continue;
            }

            if (b.TryGetProperty(prop.Name, out var other))
            {
                var merged = MergeKeyword(prop.Name, prop.Value, other, a, b, path, strict);
                if (merged is not null)
                {
                    result.Add(new(prop.Name, merged));
                }
            }
            else
            {
                var value = prop.Value;
                result.Add(new(prop.Name, w => value.WriteTo(w)));
            }
        }

        foreach (var prop in b.EnumerateObject())
        {
            if (done.Add(prop.Name))
            {
                var value = prop.Value;
                result.Add(new(prop.Name, w => value.WriteTo(w)));
            }
        }

        // Properties one side declares but the other side's additionalProperties governs.
        var props = MergeProperties(a, b, path);
        if (props is not null)
        {
            result.RemoveAll(kv => kv.Key is "properties" or "required");
            result.Add(new("properties", props.Value.Properties));
            result.Add(new("required", props.Value.Required));
        }

        return Write(w =>
        {
            w.WriteStartObject();
            foreach (var (key, write) in result)
            {
                w.WritePropertyName(key);
                write(w);
            }

            w.WriteEndObject();
        });
    }

    /// <summary><c>{"allOf": [a, b]}</c>.</summary>
    public static JsonElement AllOf(JsonElement a, JsonElement b) => Write(w =>
    {
        w.WriteStartObject();
        w.WritePropertyName("allOf");
        w.WriteStartArray();
        a.WriteTo(w);
        b.WriteTo(w);
        w.WriteEndArray();
        w.WriteEndObject();
    });

    /// <summary>A copy of <paramref name="schema"/> without the named keywords.</summary>
    public static JsonElement Without(JsonElement schema, params ReadOnlySpan<string> keys)
    {
        var drop = new HashSet<string>(keys.ToArray(), StringComparer.Ordinal);
        return Write(w =>
        {
            w.WriteStartObject();
            foreach (var prop in schema.EnumerateObject())
            {
                if (!drop.Contains(prop.Name))
                {
                    prop.WriteTo(w);
                }
            }

            w.WriteEndObject();
        });
    }

    /// <summary>
    /// Deeper than System.Text.Json's default of 64: a merged schema holds the (already parsed) request schema plus a
    /// few levels of allOf wrapping. The converter's own depth and work limits keep the real nesting far below this.
    /// </summary>
    private const int MaxJsonDepth = 4096;

    public static JsonElement Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        try
        {
            using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { MaxDepth = MaxJsonDepth }))
            {
                write(writer);
            }

            using var doc = JsonDocument.Parse(buffer.WrittenMemory, new JsonDocumentOptions { MaxDepth = MaxJsonDepth });
            return doc.RootElement.Clone();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException { Source: "System.Text.Json" })
        {
            throw new UnsupportedSchemaException("allOf", "", "schema too complex: merged schemas nest too deeply");
        }
    }

    private static Action<Utf8JsonWriter>? MergeKeyword(
        string key, JsonElement x, JsonElement y, JsonElement a, JsonElement b, string path, bool strict)
    {
        if (JsonElement.DeepEquals(x, y))
        {
            return w => x.WriteTo(w);
        }

        if (MaxOfBoth.Contains(key) || MinOfBoth.Contains(key))
        {
            if (x.ValueKind != JsonValueKind.Number || y.ValueKind != JsonValueKind.Number)
            {
                throw new UnsupportedSchemaException(key, path, "allOf: conflicting values");
            }

            var pickX = MaxOfBoth.Contains(key) ? x.GetDouble() >= y.GetDouble() : x.GetDouble() <= y.GetDouble();
            var chosen = pickX ? x : y;
            return w => chosen.WriteTo(w);
        }

        switch (key)
        {
            case "exclusiveMinimum" or "exclusiveMaximum" when x.ValueKind == JsonValueKind.Number && y.ValueKind == JsonValueKind.Number:
            {
                var pickX = key == "exclusiveMinimum" ? x.GetDouble() >= y.GetDouble() : x.GetDouble() <= y.GetDouble();
                var chosen = pickX ? x : y;
                return w => chosen.WriteTo(w);
            }

            case "type":
                return MergeTypes(x, y, path);

            case "properties":
                return null; // rebuilt by MergeProperties

            case "required":
                return w =>
                {
                    w.WriteStartArray();
                    var seen = new HashSet<string>(StringComparer.Ordinal);
                    foreach (var item in x.EnumerateArray().Concat(y.EnumerateArray()))
                    {
                        if (item.ValueKind == JsonValueKind.String && seen.Add(item.GetString()!))
                        {
                            item.WriteTo(w);
                        }
                    }

                    w.WriteEndArray();
                };

            case "items" or "additionalProperties" or "additionalItems" or "propertyNames" or "contains":
                if (x.ValueKind == JsonValueKind.Array || y.ValueKind == JsonValueKind.Array)
                {
                    throw new UnsupportedSchemaException(key, path, "allOf: tuple-form 'items' in more than one branch");
                }

                return WriteSchemaIntersection(x, y);

            case "enum" or "const":
            {
                var xs = Values(key, x);
                var ys = Values(key, y);
                var both = xs.Where(v => ys.Any(o => JsonElement.DeepEquals(v, o))).ToList();
                if (both.Count == 0)
                {
                    throw new UnsupportedSchemaException(key, path, "allOf: no value satisfies both enum/const constraints");
                }

                return w =>
                {
                    w.WriteStartArray();
                    foreach (var v in both)
                    {
                        v.WriteTo(w);
                    }

                    w.WriteEndArray();
                };
            }

            case "anyOf" or "oneOf":
                return CrossProduct(x, y, path);

            case "allOf":
                return w =>
                {
                    w.WriteStartArray();
                    foreach (var item in x.EnumerateArray().Concat(y.EnumerateArray()))
                    {
                        item.WriteTo(w);
                    }

                    w.WriteEndArray();
                };

            case "uniqueItems":
                return w => w.WriteBooleanValue(x.ValueKind == JsonValueKind.True || y.ValueKind == JsonValueKind.True);

            case "nullable":
                return w => w.WriteBooleanValue(x.ValueKind == JsonValueKind.True && y.ValueKind == JsonValueKind.True);

            case "multipleOf" when !strict:
                return w => x.WriteTo(w); // relaxed: multipleOf is not enforced anyway

            case "pattern" or "format" or "prefixItems" or "multipleOf" or "exclusiveMinimum" or "exclusiveMaximum" or "$ref":
                throw new UnsupportedSchemaException(key, path, "allOf: different values in more than one branch cannot be combined");

            default:
                return w => x.WriteTo(w); // annotations and unknown keywords: keep the first
        }
    }

    private static Action<Utf8JsonWriter> WriteSchemaIntersection(JsonElement x, JsonElement y)
    {
        if (x.ValueKind == JsonValueKind.False || y.ValueKind == JsonValueKind.False)
        {
            return w => w.WriteBooleanValue(false);
        }

        if (x.ValueKind == JsonValueKind.True)
        {
            return w => y.WriteTo(w);
        }

        if (y.ValueKind == JsonValueKind.True)
        {
            return w => x.WriteTo(w);
        }

        var merged = AllOf(x, y);
        return w => merged.WriteTo(w);
    }

    private static List<JsonElement> Values(string key, JsonElement v) =>
        key == "const" ? [v] : v.ValueKind == JsonValueKind.Array ? [.. v.EnumerateArray()] : [];

    private static Action<Utf8JsonWriter> MergeTypes(JsonElement x, JsonElement y, string path)
    {
        var xs = TypeNames(x);
        var ys = TypeNames(y);
        var result = new List<string>();
        foreach (var t in xs)
        {
            if (ys.Contains(t))
            {
                result.Add(t);
            }
            else if (t == "integer" && ys.Contains("number"))
            {
                result.Add("integer");
            }
            else if (t == "number" && ys.Contains("integer"))
            {
                result.Add("integer");
            }
        }

        if (result.Count == 0)
        {
            throw new UnsupportedSchemaException("type", path, "allOf: the branches allow no common type");
        }

        var distinct = result.Distinct().ToList();
        return w =>
        {
            w.WriteStartArray();
            foreach (var t in distinct)
            {
                w.WriteStringValue(t);
            }

            w.WriteEndArray();
        };
    }

    private static List<string> TypeNames(JsonElement t) => t.ValueKind switch
    {
        JsonValueKind.String => [t.GetString()!],
        JsonValueKind.Array => [.. t.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!)],
        _ => [],
    };

    private static Action<Utf8JsonWriter> CrossProduct(JsonElement x, JsonElement y, string path)
    {
        var xs = x.EnumerateArray().ToList();
        var ys = y.EnumerateArray().ToList();
        if ((long)xs.Count * ys.Count > 256)
        {
            throw new UnsupportedSchemaException("anyOf", path, "schema too complex: allOf of two large anyOf/oneOf lists");
        }

        return w =>
        {
            w.WriteStartArray();
            foreach (var l in xs)
            {
                foreach (var r in ys)
                {
                    AllOf(l, r).WriteTo(w);
                }
            }

            w.WriteEndArray();
        };
    }

    /// <summary>
    /// The merged property list: each side's properties, intersected where both declare one, and a property
    /// only one side declares is also checked against the other side's <c>additionalProperties</c>
    /// (dropped when that is <c>false</c>). Null when neither side has properties.
    /// </summary>
    private static (Action<Utf8JsonWriter> Properties, Action<Utf8JsonWriter> Required)? MergeProperties(JsonElement a, JsonElement b, string path)
    {
        var hasA = a.TryGetProperty("properties", out var pa) && pa.ValueKind == JsonValueKind.Object;
        var hasB = b.TryGetProperty("properties", out var pb) && pb.ValueKind == JsonValueKind.Object;
        if (!hasA && !hasB)
        {
            return null;
        }

        var names = new List<string>();
        var schemas = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var (props, other) in new[] { (hasA ? pa : default, b), (hasB ? pb : default, a) })
        {
            if (props.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            foreach (var p in props.EnumerateObject())
            {
                var s = p.Value;
                if (!OtherDeclares(other, p.Name))
                {
                    // The other side sees this key as an additional property.
                    if (other.TryGetProperty("additionalProperties", out var extra))
                    {
                        s = extra.ValueKind switch
                        {
                            JsonValueKind.False => extra,
                            JsonValueKind.True => s,
                            _ => AllOf(s, extra),
                        };
                    }
                }

                if (schemas.TryGetValue(p.Name, out var existing))
                {
                    schemas[p.Name] = JsonElement.DeepEquals(existing, s) ? existing : AllOf(existing, s);
                }
                else
                {
                    names.Add(p.Name);
                    schemas[p.Name] = s;
                }
            }
        }

        var required = new List<string>();
        foreach (var side in (ReadOnlySpan<JsonElement>)[a, b])
        {
            if (side.TryGetProperty("required", out var req) && req.ValueKind == JsonValueKind.Array)
            {
                foreach (var r in req.EnumerateArray())
                {
                    if (r.ValueKind == JsonValueKind.String && !required.Contains(r.GetString()!))
                    {
                        required.Add(r.GetString()!);
                    }
                }
            }
        }

        var kept = names.Where(n => schemas[n].ValueKind != JsonValueKind.False).ToList();
        foreach (var r in required)
        {
            if (schemas.TryGetValue(r, out var s) && s.ValueKind == JsonValueKind.False)
            {
                throw new UnsupportedSchemaException("required", path, $"allOf: property {JsonText.Quote(r)} is required by one branch and forbidden by another");
            }
        }

        return (w =>
        {
            w.WriteStartObject();
            foreach (var n in kept)
            {
                w.WritePropertyName(n);
                schemas[n].WriteTo(w);
            }

            w.WriteEndObject();
        }, w =>
        {
            w.WriteStartArray();
            foreach (var r in required)
            {
                w.WriteStringValue(r);
            }

            w.WriteEndArray();
        });
    }

    private static bool OtherDeclares(JsonElement other, string name) =>
        other.TryGetProperty("properties", out var props) && props.ValueKind == JsonValueKind.Object && props.TryGetProperty(name, out _);
}
