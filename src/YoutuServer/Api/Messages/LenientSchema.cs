using System.Buffers;
using System.Text.Json;

namespace YoutuServer.Api.Messages;

/// <summary>
/// Non-strict tools (Anthropic's default, and every tool Claude Code sends): JSON Schema keywords the grammar
/// converter refuses (propertyNames, patternProperties, not, if/then/else, contains, dependent*, unevaluated*) are
/// dropped, so the call grammar accepts a superset (or, for patternProperties beside additionalProperties: false, a
/// subset) of the schema's documents instead of failing the whole request. Strict tools keep the refusal.
/// </summary>
internal static class LenientSchema
{
    private static readonly HashSet<string> Dropped = new(StringComparer.Ordinal)
    {
        "propertyNames", "patternProperties", "dependentSchemas", "dependentRequired", "dependencies",
        "unevaluatedProperties", "unevaluatedItems", "not", "if", "then", "else", "contains", "minContains", "maxContains",
    };

    /// <summary>The schema without the keywords above; the names of those removed go to <paramref name="removed"/>.</summary>
    public static JsonElement Relax(JsonElement schema, ISet<string> removed)
    {
        if (!Contains(schema))
        {
            return schema;
        }

        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            Write(schema, w, removed, isSchema: true);
        }

        using var doc = JsonDocument.Parse(buffer.WrittenMemory);
        return doc.RootElement.Clone();
    }

    private static bool Contains(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => e.EnumerateObject().Any(p => Dropped.Contains(p.Name) || Contains(p.Value)),
        JsonValueKind.Array => e.EnumerateArray().Any(Contains),
        _ => false,
    };

    /// <summary>Copies a value; in schema objects the dropped keywords are left out (property maps keep every name).</summary>
    private static void Write(JsonElement e, Utf8JsonWriter w, ISet<string> removed, bool isSchema)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                w.WriteStartObject();
                foreach (var p in e.EnumerateObject())
                {
                    if (isSchema && Dropped.Contains(p.Name))
                    {
                        removed.Add(p.Name);
                        continue;
                    }

                    w.WritePropertyName(p.Name);
                    // "properties", "$defs" and "definitions" map names to schemas; "enum"/"const"/"default"/"examples" hold data.
                    if (isSchema && p.Name is "properties" or "$defs" or "definitions" && p.Value.ValueKind == JsonValueKind.Object)
                    {
                        w.WriteStartObject();
                        foreach (var sub in p.Value.EnumerateObject())
                        {
                            w.WritePropertyName(sub.Name);
                            Write(sub.Value, w, removed, isSchema: true);
                        }

                        w.WriteEndObject();
                    }
                    else
                    {
                        Write(p.Value, w, removed, isSchema && p.Name is not ("enum" or "const" or "default" or "examples" or "required"));
                    }
                }

                w.WriteEndObject();
                break;
            case JsonValueKind.Array:
                w.WriteStartArray();
                foreach (var item in e.EnumerateArray())
                {
                    Write(item, w, removed, isSchema);
                }

                w.WriteEndArray();
                break;
            default:
                e.WriteTo(w);
                break;
        }
    }
}
