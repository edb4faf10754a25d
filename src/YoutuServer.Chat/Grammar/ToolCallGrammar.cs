using System.Globalization;
using System.Text.Json;

namespace YoutuServer.Chat.Grammar;

/// <summary>How the tool-call grammar applies (OpenAI <c>tool_choice</c>).</summary>
public enum ToolChoiceMode
{
    /// <summary><c>"auto"</c>: free text until the model opens <c>&lt;tool_call&gt;</c>, then well-formed calls (lazy grammar).</summary>
    Auto,

    /// <summary><c>"required"</c>: the output is call(s) to any of the tools.</summary>
    Required,

    /// <summary><c>{"type": "function", "function": {"name": ...}}</c>: the output is call(s) to that one tool.</summary>
    Named,
}

/// <summary>
/// Grammars for Youtu's Hermes-style tool calls:
/// <c>&lt;tool_call&gt;{"name": "NAME", "arguments": ARGS}&lt;/tool_call&gt;</c>, several separated by <c>"\n"</c>,
/// where ARGS follows the tool's <c>parameters</c> schema (see <see cref="JsonSchemaToGbnf"/>; a tool without
/// parameters takes any JSON object). Whitespace inside the call JSON is as in <see cref="JsonSchemaToGbnf"/>.
/// </summary>
public static class ToolCallGrammar
{
    public const string CallOpen = "<tool_call>";
    public const string CallClose = "</tool_call>";

    /// <summary>
    /// The trigger for <see cref="ToolChoiceMode.Auto"/>: the plain text <c>&lt;tool_call&gt;</c>, searched anywhere in
    /// the output so far (<c>std::regex_search</c>); the grammar is fed from that tag on.
    /// <para>
    /// Deliberately a literal with no repetition: llama.cpp re-runs every pattern over the whole output after each
    /// token, and libstdc++'s <c>std::regex</c> recurses once per character for <c>[\s\S]*</c>-style loops, so
    /// hermes-style full-match patterns such as <c>^[\s\S]*?(&lt;tool_call&gt;)[\s\S]*$</c> crash (stack overflow) once the
    /// output reaches ~10k characters on a 1.5 MiB thread stack (~45k on 8 MiB). Measured against libstdc++ on
    /// this project's toolchain.
    /// </para>
    /// </summary>
    public const string AutoTriggerPattern = "<tool_call>";

    /// <summary>Builds the grammar for tool calls.</summary>
    /// <param name="tools">OpenAI tool definitions: <c>{"type": "function", "function": {"name", "description", "parameters"}}</c>
    /// (a bare function object <c>{"name", "parameters"}</c> is accepted too).</param>
    /// <param name="mode">Auto (lazy), Required (any tool) or Named (<paramref name="toolName"/> only).</param>
    /// <param name="parallel">False: exactly one call. True: one or more calls separated by <c>"\n"</c>.</param>
    /// <param name="allowThinking">
    /// For Required/Named: the output may start with a <c>&lt;think&gt;…&lt;/think&gt;</c> block (text without
    /// <c>&lt;/think&gt;</c>) and up to four whitespace characters before the first call. For Auto it changes nothing:
    /// everything before the trigger is free anyway. Note that the Auto trigger also fires on a <c>&lt;tool_call&gt;</c>
    /// written inside an unclosed think block (as llama.cpp's own parsers allow: a call may end the reasoning), so
    /// the output parser should read <c>&lt;think&gt;…&lt;tool_call&gt;…</c> without <c>&lt;/think&gt;</c> as reasoning followed by calls.
    /// </param>
    /// <param name="toolName">The tool for <see cref="ToolChoiceMode.Named"/>.</param>
    /// <param name="options">Schema conversion limits and policy.</param>
    /// <exception cref="UnsupportedSchemaException">A malformed tool, an unknown tool name, or an unsupported parameters schema
    /// (the path is <c>/tools/{i}/function/parameters/...</c>).</exception>
    public static GrammarSpec Build(
        IReadOnlyList<JsonElement> tools,
        ToolChoiceMode mode,
        bool parallel,
        bool allowThinking,
        string? toolName = null,
        JsonGrammarOptions? options = null) =>
        SchemaGuard.Run("/tools", () => BuildCore(tools, mode, parallel, allowThinking, toolName, options));

    private static GrammarSpec BuildCore(
        IReadOnlyList<JsonElement> tools, ToolChoiceMode mode, bool parallel, bool allowThinking, string? toolName, JsonGrammarOptions? options)
    {
        var builder = new GbnfBuilder(options ?? JsonGrammarOptions.Default);
        var functions = ReadTools(tools);
        if (functions.Count == 0)
        {
            throw new UnsupportedSchemaException("tools", "/tools", "tool_choice needs at least one tool");
        }

        if (mode == ToolChoiceMode.Named)
        {
            if (string.IsNullOrEmpty(toolName))
            {
                throw new UnsupportedSchemaException("tool_choice", "/tool_choice/function/name", "a named tool_choice needs a function name");
            }

            functions = functions.Where(f => f.Name == toolName).Take(1).ToList();
            if (functions.Count == 0)
            {
                throw new UnsupportedSchemaException("tool_choice", "/tool_choice/function/name", $"no tool is named {JsonText.Quote(toolName)}");
            }
        }

        var think = allowThinking && mode != ToolChoiceMode.Auto ? ThinkGrammar.Define(builder) : null;
        builder.Primitive(GbnfBuilder.Ws);

        var callRules = new List<string>(functions.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var f in functions)
        {
            if (!seen.Add(f.Name))
            {
                continue; // the first definition of a name wins, as in a lookup by name
            }

            var hint = "tool-" + f.Name;
            var args = f.Parameters is { } parameters
                ? new SchemaConverter(builder, parameters, f.Path + "/parameters").ConvertDocumentRule(hint + "-args")
                : builder.AnyObject();
            var body = GbnfBuilder.Literal(CallOpen + "{") + " ws " + GbnfBuilder.Literal("\"name\":") + " ws "
                       + GbnfBuilder.Literal(JsonText.Quote(f.Name) + ",") + " ws " + GbnfBuilder.Literal("\"arguments\":") + " ws "
                       + args + " ws " + GbnfBuilder.Literal("}" + CallClose);
            callRules.Add(builder.Add(hint, body, f.Path));
        }

        var call = callRules.Count == 1 ? callRules[0] : builder.Add("tool-call", string.Join(" | ", callRules), "/tools");
        var calls = parallel ? call + " ( \"\\n\" " + call + " )*" : call;
        builder.Define("root", think is null ? calls : think + "? " + calls, "/tools");

        return new GrammarSpec
        {
            Gbnf = builder.Build(),
            Lazy = mode == ToolChoiceMode.Auto,
            TriggerPatterns = mode == ToolChoiceMode.Auto ? [AutoTriggerPattern] : [],
        };
    }

    private sealed record Function(string Name, JsonElement? Parameters, string Path);

    private static List<Function> ReadTools(IReadOnlyList<JsonElement> tools)
    {
        var result = new List<Function>(tools.Count);
        for (var i = 0; i < tools.Count; i++)
        {
            var tool = tools[i];
            var path = "/tools/" + i.ToString(CultureInfo.InvariantCulture);
            if (tool.ValueKind != JsonValueKind.Object)
            {
                throw new UnsupportedSchemaException("tools", path, "a tool must be an object");
            }

            var fn = tool;
            if (tool.TryGetProperty("function", out var inner))
            {
                if (tool.TryGetProperty("type", out var type) && !(type.ValueKind == JsonValueKind.String && type.GetString() == "function"))
                {
                    throw new UnsupportedSchemaException("type", path, "only tools of type \"function\" are supported");
                }

                if (inner.ValueKind != JsonValueKind.Object)
                {
                    throw new UnsupportedSchemaException("function", path, "'function' must be an object");
                }

                fn = inner;
                path += "/function";
            }

            if (!fn.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String || name.GetString()!.Length == 0)
            {
                throw new UnsupportedSchemaException("name", path, "a function needs a non-empty string 'name'");
            }

            JsonElement? parameters = null;
            if (fn.TryGetProperty("parameters", out var p) && p.ValueKind != JsonValueKind.Null)
            {
                parameters = p;
            }

            result.Add(new Function(name.GetString()!, parameters, path));
        }

        return result;
    }
}
