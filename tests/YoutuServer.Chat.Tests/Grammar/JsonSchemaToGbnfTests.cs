using YoutuServer.Chat.Grammar;
using static YoutuServer.Chat.Tests.Grammar.SchemaTestHelper;

namespace YoutuServer.Chat.Tests.Grammar;

public sealed class JsonSchemaToGbnfTests
{
    private const string Weather = """
        {"type": "object",
         "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "unit": {"enum": ["c", "f"]}},
         "required": ["city"], "additionalProperties": false}
        """;

    [Fact]
    public void Object_accepts_required_and_optional_properties_in_declared_order()
    {
        GrammarAssert.Accepts(Gbnf(Weather),
            """{"city": "Paris"}""",
            """{"city": "Paris", "days": 3}""",
            """{"city": "Paris", "unit": "c"}""",
            """{"city":"Paris","days":-3,"unit":"f"}""",
            """{ "city": "Paris" }""");
    }

    [Fact]
    public void Object_rejects_missing_required_wrong_types_extras_and_enum_violations()
    {
        GrammarAssert.Rejects(Gbnf(Weather),
            "{}",
            """{"days": 3}""",
            """{"city": 1}""",
            """{"city": "Paris", "days": "3"}""",
            """{"city": "Paris", "days": 3.5}""",
            """{"city": "Paris", "extra": 1}""",
            """{"city": "Paris", "unit": "k"}""",
            """{"days": 3, "city": "Paris"}""",
            """{"city": "Paris", "city": "Lyon"}""",
            """{"city": "Paris",}""",
            """{"city": "Paris"} """,
            "[]",
            "null");
    }

    [Fact]
    public void Whitespace_is_at_most_one_space_and_never_a_newline()
    {
        var g = Gbnf("""{"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}}}""");
        GrammarAssert.Accepts(g, """{"a": [1, 2]}""", """{"a":[1,2]}""", """{ "a": [ 1, 2 ] }""", "{}", "{ }");
        GrammarAssert.Rejects(g,
            """{"a" : [1]}""",
            """{"a":  [1]}""",
            """{"a": [1 , 2]}""",
            "{\n\"a\": [1]}",
            "{\"a\": [1,\n2]}",
            """{"a": [1,	2]}""",
            "{  }");
    }

    [Fact]
    public void Additional_properties_follow_the_declared_ones_and_never_repeat_them()
    {
        var g = Gbnf("""{"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}}, "required": ["city"]}""");
        GrammarAssert.Accepts(g,
            """{"city": "Paris", "zip": 75000}""",
            """{"city": "Paris", "country": "FR", "x": {"deep": [1, "a", null]}, "y": true}""",
            """{"city": "Paris", "cit": 1, "cityx": 2, "countr": 3, "c": 4, "": 5}""");
        GrammarAssert.Rejects(g,
            """{"zip": 75000}""",
            """{"city": "Paris", "city": "Lyon"}""",
            """{"city": "Paris", "zip": 1, "country": "FR"}""",
            """{"city": "Paris", "zip": 1, "country": 2}""");
    }

    [Fact]
    public void Additional_properties_schema_constrains_extra_values()
    {
        var g = Gbnf("""{"type": "object", "additionalProperties": {"type": "integer"}}""");
        GrammarAssert.Accepts(g, "{}", """{"a": 1}""", """{"a": 1, "b": -2}""");
        GrammarAssert.Rejects(g, """{"a": "x"}""", """{"a": 1, "b": null}""");
    }

    [Fact]
    public void Additional_properties_default_follows_the_option()
    {
        const string Schema = """{"type": "object", "properties": {"a": {"type": "integer"}}}""";
        GrammarAssert.Accepts(Gbnf(Schema), """{"a": 1, "b": 2}""");
        var strict = Gbnf(Schema, new JsonGrammarOptions { AdditionalPropertiesByDefault = false });
        GrammarAssert.Accepts(strict, """{"a": 1}""", "{}");
        GrammarAssert.Rejects(strict, """{"a": 1, "b": 2}""");
    }

    [Fact]
    public void Required_property_without_declaration_is_governed_by_additional_properties()
    {
        var g = Gbnf("""{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["b"], "additionalProperties": {"type": "string"}}""");
        GrammarAssert.Accepts(g, """{"b": "x"}""", """{"a": 1, "b": "x"}""", """{"a": 1, "b": "x", "c": "y"}""");
        GrammarAssert.Rejects(g, """{"a": 1}""", """{"b": 1}""");
    }

    [Fact]
    public void All_optional_properties_allow_any_subsequence()
    {
        var g = Gbnf("""{"properties": {"a": {"const": 1}, "b": {"const": 2}, "c": {"const": 3}}, "additionalProperties": false}""");
        GrammarAssert.Accepts(g, "{}", """{"a": 1}""", """{"b": 2}""", """{"c": 3}""", """{"a": 1, "c": 3}""", """{"b": 2, "c": 3}""", """{"a": 1, "b": 2, "c": 3}""");
        GrammarAssert.Rejects(g, """{"c": 3, "a": 1}""", """{, "a": 1}""", """{"a": 1,}""");
    }

    [Fact]
    public void Property_schema_false_forbids_the_property()
    {
        var g = Gbnf("""{"properties": {"a": {"type": "integer"}, "b": false}, "additionalProperties": false}""");
        GrammarAssert.Accepts(g, """{"a": 1}""");
        GrammarAssert.Rejects(g, """{"a": 1, "b": 2}""");
    }

    [Fact]
    public void Property_names_needing_escapes_and_unicode_are_written_like_the_model()
    {
        var g = Gbnf("""{"properties": {"quo\"te": {"type": "integer"}, "città": {"const": "Zürich 😀"}, "x-y": {"type": "null"}}, "required": ["quo\"te", "città"]}""");
        GrammarAssert.Accepts(g, """{"quo\"te": 1, "città": "Zürich 😀"}""", """{"quo\"te": 1, "città": "Zürich 😀", "x-y": null}""");
        GrammarAssert.Rejects(g, """{"quo\"te": 1, "citta": "Zürich 😀"}""", """{"quo\"te": 1, "città": "Zurich 😀"}""");
    }

    [Fact]
    public void String_length_limits_count_characters()
    {
        var g = Gbnf("""{"type": "string", "minLength": 2, "maxLength": 4}""");
        GrammarAssert.Accepts(g, "\"ab\"", "\"abcd\"", "\"a\\\"b\"", "\"héé\"", "\"\\u00e9x\"", "\"😀😀\"");
        GrammarAssert.Rejects(g, "\"a\"", "\"abcde\"", "\"\"", "ab", "\"a\nb\"");
    }

    [Fact]
    public void String_rejects_raw_control_characters_and_bad_escapes()
    {
        var g = Gbnf("""{"type": "string"}""");
        GrammarAssert.Accepts(g, "\"\"", "\"a\\nb\\t\\\\ \\/ \\u12aF\"", "\"日本\"");
        GrammarAssert.Rejects(g, "\"a\nb\"", "\"\\x\"", "\"\\u12\"", "\"a", "'a'");
    }

    [Theory]
    [InlineData("date", "\"2024-02-29\"", "\"2024-13-01\"")]
    [InlineData("time", "\"23:59:60.123Z\"", "\"24:00:00Z\"")]
    [InlineData("time", "\"08:30:00+02:00\"", "\"08:30:00\"")]
    [InlineData("date-time", "\"2024-02-29T08:30:00Z\"", "\"2024-02-29 08:30:00Z\"")]
    [InlineData("uuid", "\"123e4567-e89b-12d3-a456-426614174000\"", "\"123e4567e89b12d3a456426614174000\"")]
    [InlineData("email", "\"anything goes\"", "42")]
    public void String_formats(string format, string valid, string invalid)
    {
        var g = Gbnf($$"""{"type": "string", "format": "{{format}}"}""");
        GrammarAssert.Accepts(g, valid);
        GrammarAssert.Rejects(g, invalid);
    }

    [Fact]
    public void Numbers_follow_json_syntax()
    {
        var g = Gbnf("""{"type": "number"}""");
        GrammarAssert.Accepts(g, "0", "-0", "12", "-1.5", "1e10", "3.14E-2", "2E+3");
        GrammarAssert.Rejects(g, "01", "1.", ".5", "+1", "NaN", "1e", "--1", "\"1\"");
    }

    [Fact]
    public void Number_with_non_negative_minimum_has_no_minus_sign()
    {
        var g = Gbnf("""{"type": "number", "minimum": 0}""");
        GrammarAssert.Accepts(g, "0", "1.5", "2e-3");
        GrammarAssert.Rejects(g, "-1", "-0.5");
    }

    [Fact]
    public void Integers_reject_fractions_and_exponents()
    {
        var g = Gbnf("""{"type": "integer"}""");
        GrammarAssert.Accepts(g, "0", "-7", "1234567890123456789");
        GrammarAssert.Rejects(g, "1.0", "1e3", "007", "12345678901234567890");
    }

    [Fact]
    public void Booleans_nulls_and_type_lists()
    {
        GrammarAssert.Accepts(Gbnf("""{"type": "boolean"}"""), "true", "false");
        GrammarAssert.Rejects(Gbnf("""{"type": "boolean"}"""), "True", "1", "null");
        GrammarAssert.Accepts(Gbnf("""{"type": "null"}"""), "null");
        var g = Gbnf("""{"type": ["string", "null"], "maxLength": 2}""");
        GrammarAssert.Accepts(g, "null", "\"ab\"");
        GrammarAssert.Rejects(g, "\"abc\"", "1", "false");
        var both = Gbnf("""{"type": ["integer", "number", "boolean"]}""");
        GrammarAssert.Accepts(both, "1", "1.5", "true");
    }

    [Fact]
    public void Openapi_nullable_adds_null()
    {
        var g = Gbnf("""{"type": "string", "nullable": true}""");
        GrammarAssert.Accepts(g, "null", "\"x\"");
        GrammarAssert.Rejects(g, "1");
    }

    [Fact]
    public void Enum_and_const_take_any_json_value_in_the_models_spelling()
    {
        var g = Gbnf("""{"enum": [1, "a\"b", null, true, {"x": [1, 2], "y": {}}, [], 2.50]}""");
        GrammarAssert.Accepts(g, "1", "\"a\\\"b\"", "null", "true", """{"x": [1, 2], "y": {}}""", """{"x":[1,2],"y":{}}""", "[]", "[ ]", "2.50");
        GrammarAssert.Rejects(g, "2", "\"ab\"", "false", """{"y": {}, "x": [1, 2]}""", """{"x": [2, 1], "y": {}}""", "[1]", "2.5");
        GrammarAssert.Accepts(Gbnf("""{"const": "fixed"}"""), "\"fixed\"");
        GrammarAssert.Rejects(Gbnf("""{"const": "fixed"}"""), "\"other\"");
    }

    [Fact]
    public void Enum_is_filtered_by_type()
    {
        var g = Gbnf("""{"type": "string", "enum": ["a", 1, "b"]}""");
        GrammarAssert.Accepts(g, "\"a\"", "\"b\"");
        GrammarAssert.Rejects(g, "1");
    }

    [Fact]
    public void Arrays_respect_items_and_bounds()
    {
        var g = Gbnf("""{"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3}""");
        GrammarAssert.Accepts(g, "[1]", "[1, 2, 3]", "[ 1,2 ]");
        GrammarAssert.Rejects(g, "[]", "[1, 2, 3, 4]", "[\"a\"]", "[1,]", "[,1]");
        GrammarAssert.Accepts(Gbnf("""{"type": "array"}"""), "[]", "[1, \"a\", [null], {\"k\": false}]");
        GrammarAssert.Accepts(Gbnf("""{"type": "array", "maxItems": 0}"""), "[]");
        GrammarAssert.Rejects(Gbnf("""{"type": "array", "maxItems": 0}"""), "[1]");
        var exact = Gbnf("""{"type": "array", "items": {"type": "boolean"}, "minItems": 2, "maxItems": 2}""");
        GrammarAssert.Accepts(exact, "[true, false]");
        GrammarAssert.Rejects(exact, "[true]", "[true, true, true]");
        var atLeast = Gbnf("""{"type": "array", "items": {"type": "boolean"}, "minItems": 3}""");
        GrammarAssert.Accepts(atLeast, "[true, true, true]", "[true, true, true, false, true]");
        GrammarAssert.Rejects(atLeast, "[true, true]");
    }

    [Fact]
    public void Prefix_items_form_tuples()
    {
        var closed = Gbnf("""{"prefixItems": [{"type": "string"}, {"type": "integer"}], "items": false}""");
        GrammarAssert.Accepts(closed, "[]", "[\"a\"]", "[\"a\", 1]");
        GrammarAssert.Rejects(closed, "[1]", "[\"a\", 1, 2]", "[\"a\", \"b\"]");

        var required = Gbnf("""{"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "minItems": 2, "items": {"type": "boolean"}}""");
        GrammarAssert.Accepts(required, "[\"a\", 1]", "[\"a\", 1, true, false]");
        GrammarAssert.Rejects(required, "[]", "[\"a\"]", "[\"a\", 1, 2]");

        var bounded = Gbnf("""{"type": "array", "prefixItems": [{"const": 1}, {"const": 2}, {"const": 3}], "maxItems": 2}""");
        GrammarAssert.Accepts(bounded, "[1, 2]", "[1]", "[]");
        GrammarAssert.Rejects(bounded, "[1, 2, 3]");

        var draft7 = Gbnf("""{"type": "array", "items": [{"type": "string"}, {"type": "null"}], "additionalItems": false, "minItems": 1}""");
        GrammarAssert.Accepts(draft7, "[\"a\"]", "[\"a\", null]");
        GrammarAssert.Rejects(draft7, "[]", "[\"a\", null, 1]");
    }

    [Fact]
    public void Any_of_and_one_of_are_alternatives()
    {
        var g = Gbnf("""{"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]}""");
        GrammarAssert.Accepts(g, "\"x\"", "5");
        GrammarAssert.Rejects(g, "-1", "null");
        var one = Gbnf("""{"oneOf": [{"type": "object", "properties": {"kind": {"const": "a"}}, "required": ["kind"], "additionalProperties": false}, {"type": "boolean"}]}""");
        GrammarAssert.Accepts(one, """{"kind": "a"}""", "true");
        GrammarAssert.Rejects(one, """{"kind": "b"}""", "{}");
    }

    [Fact]
    public void Keywords_next_to_any_of_apply_to_every_branch()
    {
        var g = Gbnf("""
            {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
             "additionalProperties": false, "anyOf": [{"required": ["a"]}, {"required": ["b"]}]}
            """);
        GrammarAssert.Accepts(g, """{"a": 1}""", """{"b": 2}""", """{"a": 1, "b": 2}""");
        GrammarAssert.Rejects(g, "{}", """{"c": 1}""");
    }

    [Fact]
    public void All_of_merges_object_schemas()
    {
        var g = Gbnf("""
            {"allOf": [
                {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                {"properties": {"b": {"type": "string"}, "a": {"minimum": 0}}, "required": ["b"], "additionalProperties": false}
            ]}
            """);
        GrammarAssert.Accepts(g, """{"a": 1, "b": "x"}""");
        GrammarAssert.Rejects(g, """{"a": 1}""", """{"a": -1, "b": "x"}""", """{"a": 1, "b": "x", "c": 1}""");
    }

    [Fact]
    public void All_of_drops_properties_the_other_branch_forbids()
    {
        var g = Gbnf("""{"allOf": [{"properties": {"a": {"type": "integer"}}, "additionalProperties": false}, {"properties": {"b": {"type": "integer"}}}]}""");
        GrammarAssert.Accepts(g, """{"a": 1}""", "{}");
        GrammarAssert.Rejects(g, """{"b": 1}""", """{"a": 1, "b": 1}""");
    }

    [Fact]
    public void All_of_intersects_types_bounds_and_enums()
    {
        var g = Gbnf("""{"allOf": [{"type": ["integer", "string"], "minimum": 1, "maxLength": 3}, {"type": "integer", "maximum": 5}]}""");
        GrammarAssert.Accepts(g, "1", "5");
        GrammarAssert.Rejects(g, "0", "6", "\"a\"");
        var e = Gbnf("""{"allOf": [{"enum": ["a", "b", "c"]}, {"enum": ["b", "c", "d"]}]}""");
        GrammarAssert.Accepts(e, "\"b\"", "\"c\"");
        GrammarAssert.Rejects(e, "\"a\"", "\"d\"");
    }

    [Fact]
    public void Ref_with_sibling_keywords_is_merged()
    {
        var g = Gbnf("""
            {"$defs": {"base": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}},
             "$ref": "#/$defs/base", "properties": {"name": {"type": "string"}}, "required": ["name"]}
            """);
        GrammarAssert.Accepts(g, """{"id": 1, "name": "x"}""", """{"id": 1, "name": "x", "more": 1}""");
        GrammarAssert.Rejects(g, """{"id": 1}""", """{"name": "x"}""");
    }

    [Fact]
    public void Ref_siblings_follow_json_schema_semantics_for_additional_properties()
    {
        // As in JSON Schema: the outer additionalProperties does not see the referenced schema's properties,
        // so a referenced required property is forbidden and the schema is unsatisfiable.
        var e = Refused("""
            {"$defs": {"base": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}},
             "$ref": "#/$defs/base", "properties": {"name": {"type": "string"}}, "additionalProperties": false}
            """);
        Assert.Equal("required", e.Keyword);
        Assert.Contains("\"id\"", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Refs_resolve_into_defs_and_definitions()
    {
        var g = Gbnf("""
            {"type": "object",
             "properties": {"p": {"$ref": "#/$defs/point"}, "c": {"$ref": "#/definitions/color"}, "q": {"$ref": "#/properties/p"}},
             "required": ["p", "c"], "additionalProperties": false,
             "$defs": {"point": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}},
             "definitions": {"color": {"enum": ["red", "green"]}}}
            """);
        GrammarAssert.Accepts(g, """{"p": [1, 2.5], "c": "red"}""", """{"p": [1, 2], "c": "green", "q": [0, 0]}""");
        GrammarAssert.Rejects(g, """{"p": [1], "c": "red"}""", """{"p": [1, 2], "c": "blue"}""");
    }

    [Fact]
    public void Recursive_refs_through_objects_and_arrays_work()
    {
        var g = Gbnf("""
            {"$defs": {"node": {"type": "object",
                "properties": {"value": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                "required": ["value"], "additionalProperties": false}},
             "$ref": "#/$defs/node"}
            """);
        GrammarAssert.Accepts(g,
            """{"value": 1}""",
            """{"value": 1, "children": []}""",
            """{"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}, {"value": 4}]}""");
        GrammarAssert.Rejects(g, """{"value": 1, "children": [{"children": []}]}""");

        var self = Gbnf("""{"type": "object", "properties": {"next": {"$ref": "#"}}, "additionalProperties": false}""");
        GrammarAssert.Accepts(self, "{}", """{"next": {"next": {}}}""");
        GrammarAssert.Rejects(self, """{"next": {"other": 1}}""");
    }

    [Fact]
    public void Empty_schema_and_true_accept_any_json_value()
    {
        foreach (var schema in new[] { "{}", "true", """{"description": "anything", "x-extension": 1}""" })
        {
            var g = Gbnf(schema);
            GrammarAssert.Accepts(g, "1", "\"s\"", "null", "[1, [2, [3]]]", """{"a": {"b": [true, false]}}""", "{}", "[]");
            GrammarAssert.Rejects(g, """{"a" 1}""", "[1,]", "{a: 1}", "", "1 2");
        }
    }

    [Fact]
    public void Any_value_depth_is_bounded()
    {
        var g = JsonSchemaToGbnf.AnyJsonValue(new JsonGrammarOptions { AnyValueDepth = 3 });
        GrammarAssert.Accepts(g, "[[[1]]]", "[[[[]]]]", """{"a": {"b": {"c": 1}}}""");
        GrammarAssert.Rejects(g, "[[[[1]]]]", "[[[[[]]]]]");
    }

    [Fact]
    public void Any_json_object_accepts_only_objects()
    {
        var g = JsonSchemaToGbnf.AnyJsonObject();
        GrammarAssert.Accepts(g, "{}", """{"a": [1, {"b": null}]}""");
        GrammarAssert.Rejects(g, "[]", "1", "\"{}\"");
    }

    [Fact]
    public void Type_is_inferred_from_keywords_when_missing()
    {
        GrammarAssert.Rejects(Gbnf("""{"properties": {"a": {"type": "integer"}}}"""), "1", "[]");
        GrammarAssert.Rejects(Gbnf("""{"items": {"type": "integer"}}"""), "{}", "[\"a\"]");
        GrammarAssert.Rejects(Gbnf("""{"maxLength": 1}"""), "1", "\"ab\"");
    }

    [Fact]
    public void Typical_openai_strict_schema()
    {
        var g = Gbnf("""
            {"type": "object", "additionalProperties": false, "required": ["steps", "final_answer"],
             "properties": {
               "steps": {"type": "array", "items": {"type": "object", "additionalProperties": false, "required": ["explanation", "output"],
                          "properties": {"explanation": {"type": "string"}, "output": {"type": "string"}}}},
               "final_answer": {"type": ["string", "null"]}}}
            """);
        GrammarAssert.Accepts(g,
            """{"steps": [{"explanation": "Start", "output": "8x = -23"}], "final_answer": "x = -23/8"}""",
            """{"steps": [], "final_answer": null}""");
        GrammarAssert.Rejects(g,
            """{"steps": [{"explanation": "Start"}], "final_answer": null}""",
            """{"final_answer": null}""");
    }

    [Fact]
    public void Grammar_text_is_ascii_with_one_rule_per_line()
    {
        var g = Gbnf("""{"properties": {"città 😀": {"const": "é\n\u0001"}}, "required": ["città 😀"]}""");
        Assert.All(g, c => Assert.True(c < 0x7F, $"non-ASCII or DEL char U+{(int)c:X4} in grammar"));
        Assert.StartsWith("root ::= ", g, StringComparison.Ordinal);
        Assert.All(g.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => Assert.Matches("^[a-zA-Z0-9-]+ ::= ", line));
        GrammarAssert.Accepts(g, "{\"città 😀\": \"é\\n\\u0001\"}");
    }
}
