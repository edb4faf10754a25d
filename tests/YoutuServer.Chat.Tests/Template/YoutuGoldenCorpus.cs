using System.Text.Json;
using YoutuServer.Chat.Messages;

namespace YoutuServer.Chat.Tests.Template;

/// <summary>
/// Loads Golden/youtu-cases.json and Golden/youtu-expected.json (rendered by scripts/render-golden-templates.py with
/// real Jinja) and maps each case the way the HTTP layer maps an OpenAI request.
/// </summary>
internal static class YoutuGoldenCorpus
{
    private static readonly Lazy<(Dictionary<string, JsonElement> Cases, Dictionary<string, JsonElement> Expected, List<string> Order)> Data =
        new(Load);

    public static IReadOnlyList<string> CaseNames => Data.Value.Order;

    public static JsonElement Case(string name) => Data.Value.Cases[name];

    /// <summary>The expected text, or null when Jinja raised for this case.</summary>
    public static string? Expected(string name)
    {
        var e = Data.Value.Expected[name];
        return e.ValueKind == JsonValueKind.String ? e.GetString() : null;
    }

    public static bool HasExpectation(string name) => Data.Value.Expected.ContainsKey(name);

    public static int ExpectationCount => Data.Value.Expected.Count;

    public static List<ChatMessage> Messages(JsonElement testCase)
    {
        var list = new List<ChatMessage>();
        foreach (var m in testCase.GetProperty("messages").EnumerateArray())
        {
            list.Add(new ChatMessage
            {
                Role = m.GetProperty("role").GetString()!,
                Content = OptionalString(m, "content"),
                ToolCalls = ToolCalls(m),
                ToolCallId = OptionalString(m, "tool_call_id"),
                Name = OptionalString(m, "name"),
            });
        }

        return list;
    }

    public static ChatRenderOptions Options(JsonElement testCase)
    {
        List<JsonElement>? tools = null;
        if (testCase.TryGetProperty("tools", out var t) && t.ValueKind == JsonValueKind.Array)
        {
            tools = [.. t.EnumerateArray()];
        }

        return new ChatRenderOptions
        {
            AddGenerationPrompt = OptionalBool(testCase, "add_generation_prompt") ?? true,
            EnableThinking = OptionalBool(testCase, "enable_thinking"),
            ForcedThinking = OptionalBool(testCase, "forced_thinking"),
            Tools = tools,
            BosToken = OptionalString(testCase, "bos_token") ?? ChatRenderOptions.DefaultBosToken,
            IncludeBos = OptionalBool(testCase, "include_bos") ?? true,
        };
    }

    private static List<ChatToolCall>? ToolCalls(JsonElement message)
    {
        if (!message.TryGetProperty("tool_calls", out var calls) || calls.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        var list = new List<ChatToolCall>();
        foreach (var call in calls.EnumerateArray())
        {
            var function = call.GetProperty("function");
            list.Add(new ChatToolCall
            {
                Id = OptionalString(call, "id"),
                Name = OptionalString(function, "name")!,
                // A missing "arguments" stays default(JsonElement), i.e. Jinja's Undefined.
                Arguments = function.TryGetProperty("arguments", out var args) ? args : default,
            });
        }

        return list;
    }

    private static string? OptionalString(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static bool? OptionalBool(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : null;

    private static (Dictionary<string, JsonElement>, Dictionary<string, JsonElement>, List<string>) Load()
    {
        string dir = Path.Combine(AppContext.BaseDirectory, "Golden");
        // The documents live for the whole test run; their elements are referenced by the cases.
        var casesDoc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "youtu-cases.json")));
        var expectedDoc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "youtu-expected.json")));

        var cases = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var c in casesDoc.RootElement.EnumerateArray())
        {
            string name = c.GetProperty("name").GetString()!;
            cases.Add(name, c);
            order.Add(name);
        }

        var expected = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var p in expectedDoc.RootElement.EnumerateObject())
        {
            expected.Add(p.Name, p.Value);
        }

        return (cases, expected, order);
    }
}
