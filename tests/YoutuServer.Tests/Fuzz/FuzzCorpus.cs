using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace YoutuServer.Tests.Fuzz;

/// <summary>One generated request: where it goes, its raw body bytes, its content type and what was done to it.</summary>
public sealed record FuzzCase(int Id, string Path, byte[] Body, string? ContentType, string Description);

/// <summary>
/// Seeded generator of hostile request bodies for /v1/chat/completions and /v1/completions: valid requests mutated
/// with wrong types at any field, deleted and unknown fields, giant strings and arrays, deep nesting, extreme and
/// non-finite numbers, huge max_tokens / n / logit_bias / top_logprobs, schema bombs in response_format and tool
/// parameters, and byte-level damage (invalid UTF-8, lone surrogate escapes, NaN literals, truncation, duplicate
/// keys, junk). Valid requests ask for at most a few tokens, so mutations that stay valid are cheap to serve.
/// </summary>
public static class FuzzCorpus
{
    private const string Model = FuzzServerFixture.ModelId;

    private static readonly string[] ChatBases =
    [
        """{"model":"M","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi there"}],"max_tokens":4,"temperature":0.7,"top_p":0.9,"top_k":20,"min_p":0.05,"seed":1,"stop":["\n\n"],"n":1,"stream":false,"enable_thinking":false}""",
        """{"model":"M","messages":[{"role":"user","content":"Stream please"}],"max_tokens":3,"stream":true,"stream_options":{"include_usage":true},"logprobs":true,"top_logprobs":2,"logit_bias":{"5":1.5,"7":-100},"presence_penalty":0.5,"frequency_penalty":0.1,"repetition_penalty":1.1,"seed":2}""",
        """{"model":"M","messages":[{"role":"user","content":"Weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"sunny"},{"role":"user","content":"And Lyon?"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"w","parameters":{"type":"object","properties":{"city":{"type":"string","enum":["Paris","Lyon"]}},"required":["city"],"additionalProperties":false}}}],"tool_choice":{"type":"function","function":{"name":"get_weather"}},"parallel_tool_calls":false,"max_tokens":6,"enable_thinking":false}""",
        """{"model":"M","messages":[{"role":"user","content":"JSON"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","strict":true,"schema":{"type":"object","properties":{"a":{"type":"integer","minimum":0,"maximum":9},"b":{"type":"array","items":{"type":"string"},"maxItems":2}},"required":["a"]}}},"max_tokens":5,"enable_thinking":false}""",
        """{"model":"M","messages":[{"role":"developer","content":[{"type":"text","text":"rules"}]},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"input_text","text":"again"}],"name":"bob"}],"max_completion_tokens":4,"reasoning_effort":"low","chat_template_kwargs":{"enable_thinking":true},"reasoning_budget":2,"ignore_eos":true,"min_tokens":1,"user":"u1"}""",
        """{"model":"M","messages":[{"role":"user","content":"obj"}],"response_format":{"type":"json_object"},"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}],"tool_choice":"auto","stream":true,"max_tokens":4}""",
    ];

    private static readonly string[] CompletionBases =
    [
        """{"model":"M","prompt":"Once upon a time","max_tokens":4,"temperature":0.5,"seed":3,"stop":"x","echo":false,"logprobs":2,"top_p":0.9}""",
        """{"model":"M","prompt":[1,2,3,4,5],"max_tokens":3,"stream":true,"stream_options":{"include_usage":true},"n":2,"ignore_eos":true,"min_tokens":2}""",
        """{"model":"M","prompt":["a string in an array"],"max_tokens":2,"logit_bias":{"10":-100},"presence_penalty":1,"echo":true}""",
        """{"model":"M","prompt":[[7,8,9]],"max_tokens":2,"frequency_penalty":-1,"repetition_penalty":1.3,"top_k":5,"min_p":0.1,"stream":true}""",
    ];

    private static readonly string[] RawLiterals =
    [
        "NaN", "Infinity", "-Infinity", "1e999999", "-1e999999", "0x10", "01", "+1", ".5", "1.", "1.e5", "nul", "undefined", "TRUE",
        "'single'", "9223372036854775808", "-9223372036854775809", "18446744073709551616", "1e-99999", "-0", "0e0", "123456789012345678901234567890",
    ];

    public static List<FuzzCase> Generate(int seed, int chatCount, int completionCount)
    {
        var rng = new Random(seed);
        var cases = new List<FuzzCase>();
        for (var i = 0; i < chatCount + completionCount; i++)
        {
            var chat = i < chatCount;
            var bases = chat ? ChatBases : CompletionBases;
            var path = chat ? "/v1/chat/completions" : "/v1/completions";
            var baseJson = bases[rng.Next(bases.Length)].Replace("\"M\"", $"\"{Model}\"", StringComparison.Ordinal);
            cases.Add(Mutate(cases.Count, path, baseJson, chat, rng));
        }

        return cases;
    }

    private static FuzzCase Mutate(int id, string path, string baseJson, bool chat, Random rng)
    {
        var root = JsonNode.Parse(baseJson)!.AsObject();
        var raws = new List<string>();
        var what = new List<string>();
        var kind = rng.Next(100);
        string? contentType = "application/json";

        // Structural mutations on the tree (1-3 of them), then optionally byte-level damage.
        var treeMutations = kind < 85 ? 1 + rng.Next(3) : 0;
        for (var m = 0; m < treeMutations; m++)
        {
            what.Add(MutateTree(root, chat, rng, raws));
            if (root.ToJsonString().Length > 2_000_000)
            {
                break; // one giant mutation per body is enough
            }
        }

        string text;
        if (kind >= 85 && kind < 90)
        {
            text = RootJunk(rng);
            what.Add("root junk");
        }
        else
        {
            text = root.ToJsonString();
            for (var r = 0; r < raws.Count; r++)
            {
                text = text.Replace($"\"__RAW_{r}__\"", raws[r], StringComparison.Ordinal);
            }
        }

        var bytes = Encoding.UTF8.GetBytes(text);
        if (kind >= 90 || rng.Next(10) == 0)
        {
            (bytes, var d) = ByteDamage(bytes, rng);
            what.Add(d);
        }

        if (rng.Next(40) == 0)
        {
            contentType = rng.Next(4) switch
            {
                0 => "text/plain",
                1 => "application/x-www-form-urlencoded",
                2 => null,
                _ => "application/json; charset=utf-8",
            };
            what.Add($"content-type {contentType ?? "(none)"}");
        }

        return new FuzzCase(id, path, bytes, contentType, string.Join("; ", what));
    }

    // ------------------------------------------------------------------ tree mutations

    private static string MutateTree(JsonObject root, bool chat, Random rng, List<string> raws)
    {
        var slots = Slots(root);
        var (parent, key, index, node) = slots[rng.Next(slots.Count)];
        var at = key ?? $"[{index}]";
        switch (rng.Next(13))
        {
            case 0:
            case 1:
                Set(parent, key, index, HostileValue(rng, raws));
                return $"wrong type at {at}";
            case 2:
                if (key is not null)
                {
                    parent.AsObject().Remove(key);
                }
                else
                {
                    parent.AsArray().RemoveAt(index);
                }

                return $"removed {at}";
            case 3:
                Set(parent, key, index, JsonValue.Create(GiantString(rng)));
                return $"giant string at {at}";
            case 4:
                Set(parent, key, index, GiantArray(rng, node));
                return $"giant array at {at}";
            case 5:
                Set(parent, key, index, Deep(rng, rng.Next(2) == 0 ? 70 + rng.Next(200) : 20 + rng.Next(40)));
                return $"deep nesting at {at}";
            case 6:
                var field = Fields[rng.Next(Fields.Length)];
                root[field] = ExtremeNumber(rng, raws);
                return $"extreme {field}";
            case 7:
                if (chat)
                {
                    root["response_format"] = new JsonObject { ["type"] = "json_schema", ["json_schema"] = new JsonObject { ["name"] = "bomb", ["schema"] = SchemaBomb(rng) } };
                    return "schema bomb in response_format";
                }

                root["logit_bias"] = HugeLogitBias(rng);
                return "huge logit_bias";
            case 8:
                if (chat)
                {
                    var tools = new JsonArray();
                    var n = rng.Next(3) == 0 ? 100 + rng.Next(200) : 1;
                    for (var t = 0; t < n; t++)
                    {
                        var parameters = t == 0 ? SchemaBomb(rng) : new JsonObject { ["type"] = "object", ["properties"] = new JsonObject { ["x"] = new JsonObject { ["type"] = "integer" } } };
                        tools.Add(new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = $"f{t}", ["parameters"] = parameters } });
                    }

                    root["tools"] = tools;
                    root["tool_choice"] = rng.Next(3) switch
                    {
                        0 => "required",
                        1 => new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "f0" } },
                        _ => "auto",
                    };
                    return $"schema bomb in {n} tool(s)";
                }

                root["prompt"] = GiantTokenArray(rng);
                return "hostile token prompt";
            case 9:
                root[$"unknown_{rng.Next(1000)}"] = HostileValue(rng, raws);
                return "unknown field";
            case 10:
                if (chat)
                {
                    root["messages"] = HostileMessages(rng, raws);
                    return "hostile messages";
                }

                root["prompt"] = HostileValue(rng, raws);
                return "hostile prompt";
            case 11:
                root["stop"] = rng.Next(3) switch
                {
                    0 => new JsonArray([.. Enumerable.Range(0, 5 + rng.Next(5000)).Select(i => (JsonNode)JsonValue.Create("s" + i))]),
                    1 => JsonValue.Create(GiantString(rng)),
                    _ => new JsonArray(JsonValue.Create("\uFFFF\u0000"), JsonValue.Create("<|end_of_text|>"), JsonValue.Create("\ud83d\ude00")),
                };
                return "hostile stop";
            default:
                var placeholder = $"__RAW_{raws.Count}__";
                raws.Add(RawLiterals[rng.Next(RawLiterals.Length)]);
                Set(parent, key, index, JsonValue.Create(placeholder));
                return $"raw literal {raws[^1]} at {at}";
        }
    }

    private static readonly string[] Fields =
    [
        "max_tokens", "max_completion_tokens", "n", "top_logprobs", "logprobs", "temperature", "top_p", "top_k", "min_p",
        "presence_penalty", "frequency_penalty", "repetition_penalty", "seed", "min_tokens", "reasoning_budget",
    ];

    private static List<(JsonNode Parent, string? Key, int Index, JsonNode? Node)> Slots(JsonNode root)
    {
        var list = new List<(JsonNode, string?, int, JsonNode?)>();
        void Walk(JsonNode n)
        {
            if (n is JsonObject o)
            {
                foreach (var (k, v) in o.ToList())
                {
                    list.Add((o, k, -1, v));
                    if (v is not null)
                    {
                        Walk(v);
                    }
                }
            }
            else if (n is JsonArray a)
            {
                for (var i = 0; i < a.Count; i++)
                {
                    list.Add((a, null, i, a[i]));
                    if (a[i] is { } c)
                    {
                        Walk(c);
                    }
                }
            }
        }

        Walk(root);
        return list;
    }

    private static void Set(JsonNode parent, string? key, int index, JsonNode? value)
    {
        if (key is not null)
        {
            parent.AsObject()[key] = value;
        }
        else
        {
            parent.AsArray()[index] = value;
        }
    }

    private static JsonNode? HostileValue(Random rng, List<string> raws) => rng.Next(26) switch
    {
        0 => null,
        1 => true,
        2 => false,
        3 => 0,
        4 => -1,
        5 => int.MaxValue,
        6 => int.MinValue,
        7 => 4294967296L,
        8 => 9007199254740993L,
        9 => 1e308,
        10 => -1e308,
        11 => 1.5,
        12 => "",
        13 => "x",
        14 => "1",
        15 => "NaN",
        16 => new JsonArray(),
        17 => new JsonArray(null, 1, "a", new JsonObject()),
        18 => new JsonObject(),
        19 => new JsonObject { ["a"] = new JsonObject { ["b"] = new JsonArray(1) } },
        20 => "\u0000\u0001\u001f",
        21 => "<|end_of_text|><|User|><think>",
        22 => "\ud83d\ude00 ünï 日本",
        23 => JsonValue.Create(new string('a', 10_000)),
        24 => Raw(raws, RawLiterals[rng.Next(RawLiterals.Length)]),
        _ => -0.0,
    };

    private static JsonValue Raw(List<string> raws, string literal)
    {
        raws.Add(literal);
        return JsonValue.Create($"__RAW_{raws.Count - 1}__");
    }

    private static JsonNode ExtremeNumber(Random rng, List<string> raws) => rng.Next(12) switch
    {
        0 => int.MaxValue,
        1 => int.MinValue,
        2 => -1,
        3 => 0,
        4 => 1_000_000_000,
        5 => long.MaxValue,
        6 => 1e300,
        7 => -1e-300,
        8 => 0.5,
        9 => Raw(raws, "NaN"),
        10 => Raw(raws, "Infinity"),
        _ => Raw(raws, "-Infinity"),
    };

    private static string GiantString(Random rng)
    {
        var length = rng.Next(3) == 0 ? 100_000 + rng.Next(300_000) : 5_000 + rng.Next(50_000);
        var alphabet = rng.Next(4) switch
        {
            0 => "abcdefghij ",
            1 => "日本語ünï😀 ",
            2 => "<|User|><|Assistant|><think></think>",
            _ => "\"\\/\b\f\n\r\t\u0001",
        };
        var sb = new StringBuilder(length);
        while (sb.Length < length)
        {
            sb.Append(alphabet[rng.Next(alphabet.Length)]);
        }

        // Never end on half a surrogate pair.
        if (char.IsHighSurrogate(sb[^1]))
        {
            sb.Length--;
        }

        return sb.ToString();
    }

    private static JsonArray GiantArray(Random rng, JsonNode? like)
    {
        var n = rng.Next(3) == 0 ? 50_000 + rng.Next(100_000) : 1_000 + rng.Next(10_000);
        var a = new JsonArray();
        // Copies of the element it replaces when that is small, else numbers (the body must stay under 8 MB).
        var copy = like is not null && like.ToJsonString().Length < 200 ? like : null;
        for (var i = 0; i < n; i++)
        {
            a.Add(copy is null ? (JsonNode)i : copy.DeepClone());
            if (copy is JsonObject or JsonArray && i > 3000)
            {
                break; // deep copies of objects: enough
            }
        }

        return a;
    }

    private static JsonNode Deep(Random rng, int depth)
    {
        JsonNode n = JsonValue.Create(1);
        var objects = rng.Next(2) == 0;
        for (var i = 0; i < depth; i++)
        {
            n = objects ? new JsonObject { ["a"] = n } : new JsonArray(n);
        }

        return n;
    }

    private static JsonArray GiantTokenArray(Random rng) => rng.Next(5) switch
    {
        0 => new JsonArray([.. Enumerable.Range(0, 100_000 + rng.Next(100_000)).Select(i => (JsonNode)(i % 500))]),
        1 => new JsonArray(-1, 2, 3),
        2 => new JsonArray(1, 99_999_999),
        3 => new JsonArray(1.5, 2),
        _ => new JsonArray(new JsonArray(1, 2), new JsonArray(3)),
    };

    private static JsonObject HugeLogitBias(Random rng)
    {
        var o = new JsonObject();
        var n = rng.Next(3) switch { 0 => 2000, 1 => 1025, _ => 3 };
        for (var i = 0; i < n; i++)
        {
            o[rng.Next(4) == 0 ? $"-{i}" : (i * 7).ToString(CultureInfo.InvariantCulture)] = rng.Next(3) switch { 0 => 1e300, 1 => -100, _ => 50 };
        }

        return o;
    }

    private static JsonArray HostileMessages(Random rng, List<string> raws) => rng.Next(6) switch
    {
        0 => new JsonArray([.. Enumerable.Range(0, 1_000 + rng.Next(3_000)).Select(i => (JsonNode)new JsonObject { ["role"] = i % 2 == 0 ? "user" : "assistant", ["content"] = "m" + i })]),
        1 => new JsonArray(new JsonObject { ["role"] = "tool", ["content"] = "orphan tool result" }),
        2 => new JsonArray(new JsonObject { ["role"] = "assistant", ["tool_calls"] = new JsonArray(new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "x", ["arguments"] = HostileValue(rng, raws) } }) }),
        3 => new JsonArray(new JsonObject { ["role"] = "user", ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = HostileValue(rng, raws) }) }),
        4 => new JsonArray(new JsonObject { ["role"] = HostileValue(rng, raws), ["content"] = "x" }),
        _ => new JsonArray(null, 1, "x"),
    };

    /// <summary>JSON Schemas built to explode converters: depth, width, recursion, combinators, regexes, huge bounds.</summary>
    public static JsonNode SchemaBomb(Random rng)
    {
        switch (rng.Next(16))
        {
            case 0:
                {
                    JsonNode s = new JsonObject { ["type"] = "string" };
                    for (var i = 0; i < 20 + rng.Next(300); i++)
                    {
                        s = new JsonObject { ["type"] = "object", ["properties"] = new JsonObject { ["p"] = s }, ["required"] = new JsonArray("p") };
                    }

                    return s;
                }

            case 1:
                return new JsonObject { ["type"] = "string", ["enum"] = new JsonArray([.. Enumerable.Range(0, 5_000 + rng.Next(20_000)).Select(i => (JsonNode)$"value-{i}")]) };
            case 2:
                return JsonNode.Parse("""{"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}""")!;
            case 3:
                return JsonNode.Parse("""{"$defs":{"a":{"type":"object","properties":{"b":{"$ref":"#/$defs/b"}}},"b":{"anyOf":[{"$ref":"#/$defs/a"},{"type":"array","items":{"$ref":"#/$defs/b"}}]}},"$ref":"#/$defs/a"}""")!;
            case 4:
                {
                    // Small on the wire, exponential when inlined: level i is anyOf/allOf of k references to level i-1.
                    var defs = new JsonObject { ["l0"] = new JsonObject { ["type"] = "integer" } };
                    var levels = 8 + rng.Next(24);
                    var k = 2 + rng.Next(8);
                    for (var i = 1; i <= levels; i++)
                    {
                        defs[$"l{i}"] = new JsonObject
                        {
                            [rng.Next(2) == 0 ? "anyOf" : "allOf"] = new JsonArray([.. Enumerable.Range(0, k).Select(_ => (JsonNode)new JsonObject { ["$ref"] = $"#/$defs/l{i - 1}" })]),
                        };
                    }

                    return new JsonObject { ["$defs"] = defs, ["$ref"] = $"#/$defs/l{levels}" };
                }

            case 5:
                return new JsonObject { ["type"] = "string", ["pattern"] = rng.Next(3) switch { 0 => "^(a+)+$", 1 => "^(a|aa)*b{1000000}$", _ => "((((((((((x))))))))))*[" } };
            case 6:
                return new JsonObject { ["type"] = "string", ["minLength"] = rng.Next(2) == 0 ? 1_000_000_000 : int.MaxValue, ["maxLength"] = long.MaxValue };
            case 7:
                return new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "integer" }, ["minItems"] = 1_000_000, ["maxItems"] = 1e12 };
            case 8:
                return new JsonObject { ["type"] = "number", ["minimum"] = 1e308, ["maximum"] = -1e308, ["multipleOf"] = 0 };
            case 9:
                return new JsonObject { ["type"] = new JsonArray("object", "array", "string", "number", "boolean", "null", "integer", "weird") };
            case 10:
                {
                    var props = new JsonObject();
                    var req = new JsonArray();
                    for (var i = 0; i < 2_000 + rng.Next(5_000); i++)
                    {
                        props[$"k{i}"] = new JsonObject { ["type"] = "string" };
                        req.Add($"k{i}");
                    }

                    return new JsonObject { ["type"] = "object", ["properties"] = props, ["required"] = req };
                }

            case 11:
                return new JsonObject { ["type"] = "integer", ["minimum"] = -9007199254740993L, ["maximum"] = 9007199254740993L, ["exclusiveMinimum"] = true };
            case 12:
                return new JsonObject { ["type"] = "object", ["patternProperties"] = new JsonObject { ["^(a+)+$"] = new JsonObject() }, ["additionalProperties"] = SchemaBomb(rng), ["minProperties"] = 100_000 };
            case 13:
                return new JsonObject { ["type"] = "array", ["prefixItems"] = new JsonArray([.. Enumerable.Range(0, 500 + rng.Next(2000)).Select(_ => (JsonNode)new JsonObject { ["type"] = "integer", ["minimum"] = 0, ["maximum"] = 9 })]) };
            case 14:
                return new JsonObject { ["enum"] = new JsonArray(), ["const"] = GiantString(rng) };
            default:
                return new JsonObject { ["not"] = new JsonObject(), ["if"] = new JsonObject(), ["then"] = 1, ["$ref"] = "http://example.com/remote.json" };
        }
    }

    // ------------------------------------------------------------------ byte-level damage

    private static string RootJunk(Random rng) => rng.Next(10) switch
    {
        0 => "",
        1 => "null",
        2 => "[]",
        3 => "1",
        4 => "\"a string\"",
        5 => "{}",
        6 => new string(' ', 100_000),
        7 => "{" + string.Concat(Enumerable.Repeat("\"a\":{", 5000)) + "1" + new string('}', 5001),
        8 => string.Concat(Enumerable.Repeat("[", 100_000)),
        _ => "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]} trailing",
    };

    private static (byte[] Bytes, string What) ByteDamage(byte[] bytes, Random rng)
    {
        if (bytes.Length < 2)
        {
            return ([0xFF, 0xFE], "two invalid bytes");
        }

        var list = bytes.ToList();
        int StringPosition()
        {
            // A position just after a quote inside the body (usually inside a string value or key).
            for (var tries = 0; tries < 50; tries++)
            {
                var p = rng.Next(list.Count);
                if (list[p] == (byte)'"' && p + 1 < list.Count)
                {
                    return p + 1;
                }
            }

            return Math.Max(0, list.Count / 2);
        }

        switch (rng.Next(12))
        {
            case 0:
                list.Insert(StringPosition(), 0xFF);
                return ([.. list], "invalid UTF-8 byte 0xFF in a string");
            case 1:
                list.Insert(StringPosition(), 0xC3);
                return ([.. list], "lone UTF-8 lead byte in a string");
            case 2:
                list.InsertRange(StringPosition(), [0xED, 0xA0, 0x80]);
                return ([.. list], "UTF-8-encoded surrogate in a string");
            case 3:
                list.InsertRange(StringPosition(), [0xC0, 0xAF]);
                return ([.. list], "overlong UTF-8 in a string");
            case 4:
                list.InsertRange(StringPosition(), [0xF4, 0x90, 0x80, 0x80]);
                return ([.. list], "code point above U+10FFFF");
            case 5:
                list.InsertRange(StringPosition(), "\\ud800"u8.ToArray());
                return ([.. list], "lone high surrogate escape");
            case 6:
                list.InsertRange(StringPosition(), "\\udc00\\ud800"u8.ToArray());
                return ([.. list], "reversed surrogate escapes");
            case 7:
                return (bytes.AsSpan(0, rng.Next(bytes.Length)).ToArray(), "truncated body");
            case 8:
                for (var i = 0; i < 1 + rng.Next(4); i++)
                {
                    list[rng.Next(list.Count)] = (byte)rng.Next(256);
                }

                return ([.. list], "random byte flips");
            case 9:
                list.InsertRange(0, new byte[] { 0xEF, 0xBB, 0xBF });
                return ([.. list], "UTF-8 BOM");
            case 10:
                {
                    var close = list.LastIndexOf((byte)'}');
                    if (close > 0)
                    {
                        list.InsertRange(close, Encoding.UTF8.GetBytes(rng.Next(2) == 0 ? ",\"max_tokens\":-1" : ",\"messages\":5,\"prompt\":null"));
                    }

                    return ([.. list], "duplicate keys");
                }

            default:
                list.InsertRange(StringPosition(), "\u0000\u0007"u8.ToArray());
                return ([.. list], "raw control characters in a string");
        }
    }
}
