using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using YoutuServer.Chat.Messages;
using YoutuServer.Chat.Templates;

namespace YoutuServer.Chat.Tests.Template;

public sealed class YoutuChatFormatterTests
{
    private const string Bos = "<|begin_of_text|>";
    private static readonly YoutuChatFormatter Formatter = YoutuChatFormatter.Instance;

    private static string Render(ChatRenderOptions options, params ChatMessage[] messages) => Formatter.Render(messages, options);

    private static string Render(params ChatMessage[] messages) => Formatter.Render(messages, ChatRenderOptions.Default);

    private static JsonElement Json(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }

    private static ChatMessage User(string? content) => new(ChatRoles.User, content);

    private static ChatMessage Assistant(string? content, params ChatToolCall[] calls) =>
        new(ChatRoles.Assistant, content) { ToolCalls = calls.Length == 0 ? null : calls };

    private static ChatMessage Tool(string? content) => new(ChatRoles.Tool, content);

    [Fact]
    public void Formatter_identity()
    {
        Assert.IsAssignableFrom<IChatFormatter>(Formatter);
        Assert.Equal("youtu", Formatter.Name);
        Assert.Equal(YoutuChatFormatter.FormatterName, Formatter.Name);
    }

    [Fact]
    public void Default_options_match_the_hf_defaults()
    {
        var o = new ChatRenderOptions();
        Assert.True(o.AddGenerationPrompt);
        Assert.Null(o.EnableThinking);
        Assert.Null(o.ForcedThinking);
        Assert.Null(o.Tools);
        Assert.Equal(Bos, o.BosToken);
        Assert.True(o.IncludeBos);
    }

    [Fact]
    public void Single_user_turn_with_each_thinking_mode()
    {
        var hi = User("Hi");
        Assert.Equal(Bos + "<|User|>Hi<|Assistant|>", Render(hi));
        Assert.Equal(Bos + "<|User|>Hi<|Assistant|><think>\n\n</think>\n\n", Render(new ChatRenderOptions { EnableThinking = false }, hi));
        Assert.Equal(Bos + "<|User|>Hi<|Assistant|><think>\n", Render(new ChatRenderOptions { ForcedThinking = true }, hi));
        Assert.Equal(Bos + "<|User|>Hi", Render(new ChatRenderOptions { AddGenerationPrompt = false, EnableThinking = false }, hi));
    }

    [Theory]
    [InlineData(null, null, "")]
    [InlineData(true, null, "")]
    [InlineData(false, null, YoutuChatFormatter.ThinkingOffPrefill)]
    [InlineData(null, true, YoutuChatFormatter.ForcedThinkingPrefill)]
    [InlineData(true, true, YoutuChatFormatter.ForcedThinkingPrefill)]
    [InlineData(false, true, YoutuChatFormatter.ThinkingOffPrefill)]
    [InlineData(null, false, "")]
    public void Generation_prefill_matches_what_render_appends(bool? enableThinking, bool? forcedThinking, string expected)
    {
        var options = new ChatRenderOptions { EnableThinking = enableThinking, ForcedThinking = forcedThinking };
        Assert.Equal(expected, YoutuChatFormatter.GenerationPrefill(options));
        Assert.Equal(Bos + "<|User|>x<|Assistant|>" + expected, Render(options, User("x")));
    }

    [Fact]
    public void Prefill_constants_and_tool_texts_are_the_ones_in_the_template()
    {
        // The template spells newlines and quotes as Jinja string escapes.
        static string AsJinjaLiteral(string s) => s.Replace("\n", "\\n", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
        string t = YoutuChatFormatter.TemplateText;
        Assert.Contains("{{ '" + AsJinjaLiteral(YoutuChatFormatter.ThinkingOffPrefill) + "' }}", t, StringComparison.Ordinal);
        Assert.Contains("{{ '" + AsJinjaLiteral(YoutuChatFormatter.ForcedThinkingPrefill) + "' }}", t, StringComparison.Ordinal);
        Assert.Contains("text='" + AsJinjaLiteral(YoutuChatFormatter.ToolDescriptionHeader) + "'", t, StringComparison.Ordinal);
        Assert.Contains("return_text='" + AsJinjaLiteral(YoutuChatFormatter.ToolDescriptionFooter) + "'", t, StringComparison.Ordinal);
    }

    [Fact]
    public void Embedded_template_is_the_byte_exact_reference()
    {
        string t = YoutuChatFormatter.TemplateText;
        Assert.False(t.EndsWith('\n'));
        Assert.StartsWith("{% if not add_generation_prompt is defined %}", t, StringComparison.Ordinal);
        string sha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(t)));
        Assert.Equal("2adf98abf6edef05ebedd45fda67ec9118a980fda7ab7e06b2d2ce85ae2d981f", sha);
    }

    [Fact]
    public void Matches_recognizes_the_template_with_benign_whitespace_differences()
    {
        string t = YoutuChatFormatter.TemplateText;
        Assert.True(YoutuChatFormatter.Matches(t));
        Assert.True(YoutuChatFormatter.Matches(t + "\n"));
        Assert.True(YoutuChatFormatter.Matches(t + "\r\n"));
        Assert.True(YoutuChatFormatter.Matches("\n" + t + "\n\n"));
    }

    [Fact]
    public void Matches_rejects_other_templates()
    {
        string t = YoutuChatFormatter.TemplateText;
        Assert.False(YoutuChatFormatter.Matches(null));
        Assert.False(YoutuChatFormatter.Matches(""));
        Assert.False(YoutuChatFormatter.Matches(t.Replace("<|User|>", "<|user|>", StringComparison.Ordinal)));
        Assert.False(YoutuChatFormatter.Matches(t[..^1]));
        Assert.False(YoutuChatFormatter.Matches("{% for message in messages %}{{ '<|im_start|>' + message['role'] }}{% endfor %}"));
    }

    [Fact]
    public void Empty_tools_list_is_treated_as_absent()
    {
        var messages = new[] { new ChatMessage(ChatRoles.System, "S"), User("Hi") };
        string none = Formatter.Render(messages, new ChatRenderOptions());
        string empty = Formatter.Render(messages, new ChatRenderOptions { Tools = [] });
        Assert.Equal(Bos + "S<|User|>Hi<|Assistant|>", none);
        Assert.Equal(none, empty);
    }

    [Fact]
    public void Tools_are_appended_to_the_system_prompt_with_hf_tojson()
    {
        var tool = Json("""{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string","description":"城市"}}}}}""");
        string text = Render(new ChatRenderOptions { Tools = [tool] }, new ChatMessage(ChatRoles.System, "S"), User("Hi"));
        Assert.Equal(
            Bos + "S\n\n" + YoutuChatFormatter.ToolDescriptionHeader +
            "\n```json\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"城市\"}}}}}\n```\n" +
            YoutuChatFormatter.ToolDescriptionFooter + "<|User|>Hi<|Assistant|>",
            text);
    }

    [Fact]
    public void Developer_role_is_rendered_as_system()
    {
        var asDeveloper = Render(new ChatMessage(ChatRoles.Developer, "Rules."), User("Hi"));
        var asSystem = Render(new ChatMessage(ChatRoles.System, "Rules."), User("Hi"));
        Assert.Equal(Bos + "Rules.<|User|>Hi<|Assistant|>", asDeveloper);
        Assert.Equal(asSystem, asDeveloper);
    }

    [Fact]
    public void System_messages_anywhere_are_hoisted_and_joined_by_a_blank_line()
    {
        Assert.Equal(
            Bos + "A\n\nB<|User|>Q<|Assistant|>X<|end_of_text|><|User|>R<|Assistant|>",
            Render(new ChatMessage(ChatRoles.System, "A"), User("Q"), Assistant("X"), new ChatMessage(ChatRoles.System, "B"), User("R")));
    }

    [Fact]
    public void Null_assistant_content_renders_as_empty()
    {
        var call = ChatToolCall.FromArgumentsString("c1", "f", "{\"a\": 1}");
        Assert.Equal(
            Render(User("Q"), Assistant("", call), Tool("r")),
            Render(User("Q"), Assistant(null, call), Tool("r")));
        Assert.Equal(Bos + "<|User|>Q<|Assistant|><think>\n\n</think>\n\n<|end_of_text|>", Render(User("Q"), Assistant(null)));
    }

    [Fact]
    public void History_reasoning_is_stripped_in_plain_multi_turn()
    {
        Assert.Equal(
            Bos + "<|User|>Q1<|Assistant|>A1<|end_of_text|><|User|>Q2<|Assistant|>",
            Render(User("Q1"), Assistant("<think>\nr1\n</think>\n\nA1"), User("Q2")));
    }

    [Fact]
    public void History_reasoning_is_kept_right_before_and_inside_a_tool_loop()
    {
        var call = new ChatToolCall("c", "f", Json("""{"x": [1, 2.5]}"""));
        string text = Render(
            User("Q1"),
            Assistant("<think>old</think>A1"),           // index 1 < first_tool_index(4) - 1: stripped
            User("Q2"),
            Assistant("<think>plan</think>\n\n", call),  // index 3 == first_tool_index - 1: kept
            Tool("r"),
            Assistant("<think>after</think>\n\nDone"),   // after the loop: kept
            User("Q3"));
        Assert.Equal(
            Bos + "<|User|>Q1<|Assistant|>A1<|end_of_text|><|User|>Q2<|Assistant|><think>plan</think>\n\n" +
            "<tool_call>{\"name\": \"f\", \"arguments\": {\"x\": [1, 2.5]}}</tool_call><|end_of_text|>" +
            "<|User|><tool_response>r</tool_response><|Assistant|><think>after</think>\n\nDone<|end_of_text|><|User|>Q3<|Assistant|>",
            text);
    }

    [Fact]
    public void Last_assistant_message_is_a_prefill_without_generation_prompt()
    {
        Assert.Equal(Bos + "<|User|>Q<|Assistant|><think>\n\n</think>\n\nPart<|end_of_text|>", Render(User("Q"), Assistant("Part")));
        Assert.Equal(Bos + "<|User|>Q<|Assistant|><think>\nhmm<|end_of_text|>", Render(User("Q"), Assistant("<think>\nhmm")));
        Assert.Equal(Bos + "<|User|>Q<|Assistant|><think>a</think>b<|end_of_text|>", Render(User("Q"), Assistant("<think>a</think>b")));
    }

    [Fact]
    public void Parallel_calls_and_results_are_joined_by_newlines()
    {
        string text = Render(
            User("Q"),
            Assistant(null, ChatToolCall.FromArgumentsString("1", "a", "{\"k\":1}"), new ChatToolCall("2", "b", Json("{\"k\":\"ü\"}"))),
            Tool("r1"),
            Tool("r2"));
        Assert.Equal(
            Bos + "<|User|>Q<|Assistant|><tool_call>{\"name\": \"a\", \"arguments\": {\"k\":1}}</tool_call>\n" +
            "<tool_call>{\"name\": \"b\", \"arguments\": {\"k\": \"ü\"}}</tool_call><|end_of_text|>" +
            "<|User|><tool_response>r1</tool_response>\n<tool_response>r2</tool_response><|Assistant|>",
            text);
    }

    [Fact]
    public void String_arguments_are_inserted_verbatim_even_when_not_json()
    {
        var call = ChatToolCall.FromArgumentsString(null, "f", "  not json \"at\" all\n");
        Assert.Contains("<tool_call>{\"name\": \"f\", \"arguments\":   not json \"at\" all\n}</tool_call>", Render(User("Q"), Assistant("", call), Tool("r")), StringComparison.Ordinal);
    }

    [Fact]
    public void User_tool_response_message_starts_the_tool_loop()
    {
        // Without the wrapped user message the first assistant turn would be stripped.
        string text = Render(User("Q"), Assistant("<think>t</think>A"), User("<tool_response>x</tool_response>"));
        Assert.Equal(Bos + "<|User|>Q<|Assistant|><think>t</think>A<|end_of_text|><|User|><tool_response>x</tool_response><|Assistant|>", text);
    }

    [Fact]
    public void Unknown_roles_render_nothing_but_still_count_as_last()
    {
        string text = Render(User("Q"), Assistant("<think>r</think>A"), new ChatMessage("function", null));
        Assert.Equal(Bos + "<|User|>Q<|Assistant|>A<|end_of_text|>", text);
    }

    [Fact]
    public void Bos_can_be_replaced_or_left_out()
    {
        Assert.Equal("<s><|User|>Q<|Assistant|>", Render(new ChatRenderOptions { BosToken = "<s>" }, User("Q")));
        Assert.Equal("<|User|>Q<|Assistant|>", Render(new ChatRenderOptions { IncludeBos = false }, User("Q")));
    }

    [Fact]
    public void Empty_conversation_renders_only_the_prefix()
    {
        Assert.Equal(Bos, Formatter.Render([], ChatRenderOptions.Default));
    }

    [Fact]
    public void Missing_text_where_jinja_concatenates_throws()
    {
        Assert.Throws<ChatTemplateException>(() => Render(User(null)));
        Assert.Throws<ChatTemplateException>(() => Render(new ChatMessage(ChatRoles.System, null), User("Q")));
        Assert.Throws<ChatTemplateException>(() => Render(new ChatMessage(ChatRoles.Developer, null), User("Q")));
        Assert.Throws<ChatTemplateException>(() => Render(User("Q"), Assistant("", ChatToolCall.FromArgumentsString(null, "f", "{}")), Tool(null)));
    }

    [Fact]
    public void Malformed_tool_calls_throw()
    {
        Assert.Throws<ChatTemplateException>(() => Render(User("Q"), Assistant("", new ChatToolCall { Name = "f" })));
        Assert.Throws<ChatTemplateException>(() => Render(User("Q"), Assistant("", new ChatToolCall { Name = null!, Arguments = Json("{}") })));
        Assert.Throws<ChatTemplateException>(() => Render(User("Q"), new ChatMessage(ChatRoles.Assistant, "") { ToolCalls = [null!] }));
    }

    [Fact]
    public void Undefined_tool_definition_throws()
    {
        Assert.Throws<ChatTemplateException>(() => Render(new ChatRenderOptions { Tools = [default] }, User("Q")));
    }

    [Fact]
    public void Null_message_throws()
    {
        Assert.Throws<ChatTemplateException>(() => Formatter.Render([User("Q"), null!], ChatRenderOptions.Default));
    }

    [Fact]
    public void Exception_is_a_plain_exception_with_a_message()
    {
        var ex = Assert.Throws<ChatTemplateException>(() => Render(User(null)));
        Assert.Contains("messages[0]", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromArgumentsString_makes_a_json_string_element()
    {
        var call = ChatToolCall.FromArgumentsString("id", "f", "{\"a\":\"é\\n\"}");
        Assert.Equal(JsonValueKind.String, call.Arguments.ValueKind);
        Assert.Equal("{\"a\":\"é\\n\"}", call.Arguments.GetString());
        Assert.Equal("id", call.Id);
        Assert.Equal("f", call.Name);
    }
}
