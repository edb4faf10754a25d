using System.Text;
using System.Text.Json;
using YoutuServer.Chat.Grammar;
using static YoutuServer.Chat.Tests.Grammar.SchemaTestHelper;

namespace YoutuServer.Chat.Tests.Grammar;

public sealed class ToolCallGrammarTests
{
    private static readonly JsonElement[] Tools =
    [
        Element("""
            {"type": "function", "function": {"name": "get_weather", "description": "Get weather",
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
                            "required": ["city"], "additionalProperties": false}}}
            """),
        Element("""{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}, "additionalProperties": false}}}"""),
        Element("""{"type": "function", "function": {"name": "echo"}}"""),
    ];

    private const string Paris = """<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>""";
    private const string Lyon = """<tool_call>{"name": "get_weather", "arguments": {"city": "Lyon", "days": 3}}</tool_call>""";
    private const string Time = """<tool_call>{"name": "get_time", "arguments": {}}</tool_call>""";
    private const string Echo = """<tool_call>{"name": "echo", "arguments": {"anything": [1, {"x": null}]}}</tool_call>""";

    private static GrammarSpec Build(ToolChoiceMode mode, bool parallel, bool thinking, string? name = null) =>
        ToolCallGrammar.Build(Tools, mode, parallel, thinking, name);

    [Fact]
    public void Required_single_call_accepts_exactly_one_hermes_call()
    {
        var spec = Build(ToolChoiceMode.Required, parallel: false, thinking: false);
        Assert.False(spec.Lazy);
        Assert.Empty(spec.TriggerPatterns);
        Assert.Equal("root", spec.Root);
        GrammarAssert.Accepts(spec, Paris, Lyon, Time, Echo,
            """<tool_call>{"name":"get_weather","arguments":{"city":"Paris"}}</tool_call>""");
        GrammarAssert.Rejects(spec,
            Paris + "\n" + Lyon,
            "Sure! " + Paris,
            Paris + " ",
            """<tool_call>{"name": "get_wether", "arguments": {"city": "Paris"}}</tool_call>""",
            """<tool_call>{"name": "get_weather", "arguments": {"town": "Paris"}}</tool_call>""",
            """<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "days": 9}}</tool_call>""",
            """<tool_call>{"name": "get_weather"}</tool_call>""",
            """<tool_call>{"arguments": {"city": "Paris"}, "name": "get_weather"}</tool_call>""",
            """<tool_call>{"name": "get_time", "arguments": {"x": 1}}</tool_call>""",
            """<tool_call>{"name": "echo", "arguments": []}</tool_call>""",
            "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",
            """<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}""",
            "<think>x</think>" + Paris,
            "");
    }

    [Fact]
    public void Parallel_accepts_calls_separated_by_single_newlines()
    {
        var spec = Build(ToolChoiceMode.Required, parallel: true, thinking: false);
        GrammarAssert.Accepts(spec, Paris, Paris + "\n" + Lyon, Paris + "\n" + Time + "\n" + Echo + "\n" + Paris);
        GrammarAssert.Rejects(spec, Paris + Lyon, Paris + "\n\n" + Lyon, Paris + "\n", Paris + " \n" + Lyon, "");
    }

    [Fact]
    public void Thinking_allows_an_optional_think_block_before_the_calls()
    {
        var spec = Build(ToolChoiceMode.Required, parallel: true, thinking: true);
        GrammarAssert.Accepts(spec,
            Paris,
            "<think>\nThe user wants weather. <b>bold</b> </thin </think <think> </ < << \n</think>\n\n" + Paris + "\n" + Lyon,
            "<think></think>" + Paris,
            "<think>\n\n</think>\n\n" + Time,
            "<think>a</think> \t\r\n" + Paris);
        GrammarAssert.Rejects(spec,
            "<think>a</think>b</think>" + Paris,
            "<think>a</think>\n\n\n\n\n" + Paris,
            "<think>a" + Paris,
            "<think>a</think>Let me call it." + Paris,
            "<think>a</think>\n\n",
            "\n" + Paris);
    }

    [Fact]
    public void Named_accepts_only_that_tool()
    {
        var spec = Build(ToolChoiceMode.Named, parallel: true, thinking: false, name: "get_weather");
        GrammarAssert.Accepts(spec, Paris, Paris + "\n" + Lyon);
        GrammarAssert.Rejects(spec, Time, Paris + "\n" + Time);
    }

    [Fact]
    public void Auto_is_lazy_and_triggers_on_the_tool_call_tag()
    {
        var spec = Build(ToolChoiceMode.Auto, parallel: true, thinking: true);
        Assert.True(spec.Lazy);
        Assert.Equal([ToolCallGrammar.AutoTriggerPattern], spec.TriggerPatterns);
        Assert.Equal("<tool_call>", spec.TriggerPatterns[0]);
        GrammarAssert.Accepts(spec,
            "Hello! No tools needed, just <b>text</b> and a <tool_ mention.",
            "<think>hmm</think>\n\nThe weather is nice.",
            Paris,
            "Let me check.\n" + Paris + "\n" + Lyon,
            "<think>need tool</think>\n\n" + Paris,
            "<think>I will emit " + Paris);
        GrammarAssert.Rejects(spec,
            "Let me check. <tool_call>{\"name\": \"nope\"",
            Paris + " Done!",
            Paris + "\n\n" + Lyon,
            "I'll use <tool_call> tags.");
    }

    [Fact]
    public void Auto_without_parallel_allows_one_call_only()
    {
        var spec = Build(ToolChoiceMode.Auto, parallel: false, thinking: false);
        GrammarAssert.Accepts(spec, "text " + Paris);
        GrammarAssert.Rejects(spec, Paris + "\n" + Lyon);
    }

    [Fact]
    public void Trigger_is_a_literal_that_std_regex_can_search_without_recursion()
    {
        // No repetition operators: libstdc++ std::regex recursion grows with the text a loop consumes.
        Assert.DoesNotContain(ToolCallGrammar.AutoTriggerPattern, c => c is '*' or '+' or '{' or '(' or '^' or '$' or '\\' or '.');
        var longText = new string('x', 5_000) + Paris;
        Assert.Equal(5_000, GrammarAssert.LazyStart([ToolCallGrammar.AutoTriggerPattern], longText));
        Assert.Equal(-1, GrammarAssert.LazyStart([ToolCallGrammar.AutoTriggerPattern], "<tool_cal>"));
    }

    [Fact]
    public void Tool_parameters_may_use_refs_and_missing_parameters_mean_any_object()
    {
        var tools = new[]
        {
            Element("""
                {"type": "function", "function": {"name": "add_item", "parameters": {
                  "type": "object", "properties": {"item": {"$ref": "#/$defs/item"}}, "required": ["item"], "additionalProperties": false,
                  "$defs": {"item": {"type": "object", "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{2}\\d{3}$"}, "qty": {"type": "integer", "minimum": 1}},
                                     "required": ["sku", "qty"], "additionalProperties": false}}}}}
                """),
            Element("""{"name": "bare_function", "parameters": null}"""),
        };
        var spec = ToolCallGrammar.Build(tools, ToolChoiceMode.Required, parallel: true, allowThinking: false);
        GrammarAssert.Accepts(spec,
            """<tool_call>{"name": "add_item", "arguments": {"item": {"sku": "AB123", "qty": 2}}}</tool_call>""",
            """<tool_call>{"name": "bare_function", "arguments": {"k": "v"}}</tool_call>""");
        GrammarAssert.Rejects(spec,
            """<tool_call>{"name": "add_item", "arguments": {"item": {"sku": "ab123", "qty": 2}}}</tool_call>""",
            """<tool_call>{"name": "add_item", "arguments": {"item": {"sku": "AB123", "qty": 0}}}</tool_call>""",
            """<tool_call>{"name": "bare_function", "arguments": "x"}</tool_call>""");
    }

    [Fact]
    public void Tool_names_with_special_characters_are_escaped()
    {
        var tools = new[] { Element("""{"type": "function", "function": {"name": "ns.tool-v2 \"q\"", "parameters": {"type": "object"}}}""") };
        var spec = ToolCallGrammar.Build(tools, ToolChoiceMode.Required, false, false);
        GrammarAssert.Accepts(spec, """<tool_call>{"name": "ns.tool-v2 \"q\"", "arguments": {}}</tool_call>""");
    }

    [Fact]
    public void Bad_tool_definitions_are_refused_with_paths()
    {
        Assert.Equal("tools", Assert.Throws<UnsupportedSchemaException>(() =>
            ToolCallGrammar.Build([], ToolChoiceMode.Required, false, false)).Keyword);
        Assert.Equal("tool_choice", Assert.Throws<UnsupportedSchemaException>(() =>
            ToolCallGrammar.Build(Tools, ToolChoiceMode.Named, false, false, "missing")).Keyword);
        Assert.Equal("type", Assert.Throws<UnsupportedSchemaException>(() =>
            ToolCallGrammar.Build([Element("""{"type": "retrieval", "function": {"name": "x"}}""")], ToolChoiceMode.Required, false, false)).Keyword);
        Assert.Equal("name", Assert.Throws<UnsupportedSchemaException>(() =>
            ToolCallGrammar.Build([Element("""{"type": "function", "function": {"description": "x"}}""")], ToolChoiceMode.Required, false, false)).Keyword);
        var e = Assert.Throws<UnsupportedSchemaException>(() => ToolCallGrammar.Build(
            [Tools[0], Element("""{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"not": {}}}}}}""")],
            ToolChoiceMode.Auto, false, false));
        Assert.Equal("not", e.Keyword);
        Assert.Equal("/tools/1/function/parameters/properties/a", e.Path);
    }

    [Fact]
    public void Think_body_accepts_exactly_text_without_the_closing_tag()
    {
        var spec = Build(ToolChoiceMode.Named, parallel: false, thinking: true, name: "get_time");
        var grammar = GrammarAssert.Parse(spec.Gbnf);
        var random = new Random(12345);
        const string Alphabet = "</think>a";
        for (var i = 0; i < 3000; i++)
        {
            var sb = new StringBuilder();
            var len = random.Next(0, 24);
            for (var j = 0; j < len; j++)
            {
                // Bias towards fragments of the tag so near-misses are common.
                sb.Append(random.Next(4) == 0 ? "</think>"[..random.Next(1, 9)] : Alphabet[random.Next(Alphabet.Length)].ToString());
            }

            var body = sb.ToString();
            var expected = !body.Contains("</think>", StringComparison.Ordinal);
            GrammarAssert.Expect(spec.Gbnf, grammar, "<think>" + body + "</think>" + Time, expected, $"think body: {body}");
        }
    }
}
