using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;

namespace YoutuServer.Tests.Load;

/// <summary>Everything a test checks in one OpenAI SSE stream.</summary>
public sealed class SseCheck
{
    public int Events { get; set; }
    public bool Done { get; set; }
    /// <summary>Events after [DONE] (must be none).</summary>
    public int AfterDone { get; set; }
    public bool ErrorEvent { get; set; }
    /// <summary>An error event with {"error":{"message": string, "type": string}}.</summary>
    public bool ErrorWellFormed { get; set; }
    public string? ErrorCode { get; set; }
    public List<string> Problems { get; } = [];
    public Dictionary<int, StringBuilder> Content { get; } = [];
    public Dictionary<int, StringBuilder> Reasoning { get; } = [];
    /// <summary>Tool-call arguments and names by choice * 1000 + tool-call index.</summary>
    public Dictionary<int, StringBuilder> ToolArguments { get; } = [];
    public Dictionary<int, string> ToolNames { get; } = [];
    public Dictionary<int, string> FinishReasons { get; } = [];
    /// <summary>Every text delta (content, reasoning, legacy text, tool arguments) in arrival order.</summary>
    public List<string> Deltas { get; } = [];
    public JsonElement? Usage { get; set; }
    public int ReplacementChars { get; set; }

    public string ContentOf(int choice) => Content.TryGetValue(choice, out var sb) ? sb.ToString() : "";
    public string ReasoningOf(int choice) => Reasoning.TryGetValue(choice, out var sb) ? sb.ToString() : "";

    /// <summary>Ended as OpenAI streams must: [DONE] last, or a well-formed error event then [DONE] or the end.</summary>
    public bool WellTerminated => (Done && AfterDone == 0) || (ErrorEvent && ErrorWellFormed);
}

/// <summary>Reads an SSE response with System.Net.ServerSentEvents and validates every event.</summary>
public static class SseStream
{
    public static async Task<SseCheck> ReadAsync(Stream stream, CancellationToken ct, Func<SseCheck, bool>? stopWhen = null)
    {
        var check = new SseCheck();
        var parser = SseParser.Create(stream, static (type, data) => (type, Valid: System.Text.Unicode.Utf8.IsValid(data), Text: Encoding.UTF8.GetString(data)));
        await foreach (var item in parser.EnumerateAsync(ct))
        {
            check.Events++;
            var (type, valid, text) = item.Data;
            if (!valid)
            {
                check.Problems.Add("an event's data is not valid UTF-8");
            }

            if (check.Done)
            {
                check.AfterDone++;
                continue;
            }

            if (type != "message" && type != "error")
            {
                check.Problems.Add($"unexpected event type '{type}'");
            }

            if (text == "[DONE]")
            {
                check.Done = true;
                continue;
            }

            try
            {
                using var doc = JsonDocument.Parse(text);
                Inspect(check, doc.RootElement);
            }
            catch (JsonException e)
            {
                check.Problems.Add("data is not JSON: " + e.Message + " :: " + (text.Length > 200 ? text[..200] : text));
            }

            if (stopWhen?.Invoke(check) == true)
            {
                return check;
            }
        }

        return check;
    }

    private static void Inspect(SseCheck check, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            check.Problems.Add("data is not a JSON object");
            return;
        }

        if (root.TryGetProperty("error", out var err))
        {
            check.ErrorEvent = true;
            check.ErrorWellFormed = err.ValueKind == JsonValueKind.Object
                && err.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String && m.GetString()!.Length > 0
                && err.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String;
            check.ErrorCode = err.ValueKind == JsonValueKind.Object && err.TryGetProperty("code", out var c) ? c.ToString() : null;
            return;
        }

        if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
        {
            check.Usage = usage.Clone();
        }

        if (!root.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array)
        {
            check.Problems.Add("chunk without a choices array");
            return;
        }

        foreach (var ch in choices.EnumerateArray())
        {
            var index = ch.TryGetProperty("index", out var ix) && ix.ValueKind == JsonValueKind.Number ? ix.GetInt32() : -1;
            if (index < 0)
            {
                check.Problems.Add("choice without an index");
                continue;
            }

            if (ch.TryGetProperty("finish_reason", out var fr) && fr.ValueKind == JsonValueKind.String)
            {
                if (check.FinishReasons.ContainsKey(index))
                {
                    check.Problems.Add($"choice {index} finished twice");
                }

                check.FinishReasons[index] = fr.GetString()!;
            }

            Append(check, check.Content, index, ch, "text");
            if (ch.TryGetProperty("delta", out var d) && d.ValueKind == JsonValueKind.Object)
            {
                Append(check, check.Content, index, d, "content");
                Append(check, check.Reasoning, index, d, "reasoning_content");
                if (d.TryGetProperty("tool_calls", out var calls) && calls.ValueKind == JsonValueKind.Array)
                {
                    foreach (var call in calls.EnumerateArray())
                    {
                        // One entry per (choice, tool call): key = choice * 1000 + the call's own index.
                        var key = index * 1000 + (call.TryGetProperty("index", out var ti) && ti.ValueKind == JsonValueKind.Number ? ti.GetInt32() : 0);
                        if (call.TryGetProperty("function", out var f) && f.ValueKind == JsonValueKind.Object)
                        {
                            if (f.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String)
                            {
                                check.ToolNames[key] = n.GetString()!;
                            }

                            Append(check, check.ToolArguments, key, f, "arguments");
                        }
                    }
                }
            }
        }
    }

    private static void Append(SseCheck check, Dictionary<int, StringBuilder> into, int index, JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.String)
        {
            return;
        }

        string s;
        try
        {
            s = v.GetString()!;
        }
        catch (InvalidOperationException)
        {
            check.Problems.Add($"'{name}' holds an invalid UTF-16/UTF-8 escape");
            return;
        }

        if (s.Length == 0)
        {
            return;
        }

        if (HasLoneSurrogate(s))
        {
            check.Problems.Add($"'{name}' delta has a lone surrogate");
        }

        check.ReplacementChars += s.Count(c => c == '\uFFFD');
        check.Deltas.Add(s);
        if (!into.TryGetValue(index, out var sb))
        {
            into[index] = sb = new StringBuilder();
        }

        sb.Append(s);
    }

    public static bool HasLoneSurrogate(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]))
            {
                if (i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1]))
                {
                    return true;
                }

                i++;
            }
            else if (char.IsLowSurrogate(s[i]))
            {
                return true;
            }
        }

        return false;
    }
}
