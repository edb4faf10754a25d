using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using YoutuServer.Api.Responses;
using YoutuServer.Generation;
using static YoutuServer.Tests.Api.Responses.ResponsesWire;

namespace YoutuServer.Tests.Api.Responses;

/// <summary>
/// Client-run tools reach the model (issue 22 item 5): custom (text, regex and Lark grammars), apply_patch, shell and
/// local_shell are offered as functions with their descriptions, their calls come back as the API's item types,
/// and their outputs are accepted in later turns; hosted tools stay skipped.
/// </summary>
[Collection("server")]
public sealed partial class ClientToolsTests(ServerFixture server)
{
    /// <summary>Codex's apply_patch grammar for its freeform tool (a Lark grammar, non-recursive).</summary>
    private const string ApplyPatchLark = """
        start: begin_patch hunk+ end_patch
        begin_patch: "*** Begin Patch" LF
        end_patch: "*** End Patch" LF?

        hunk: add_hunk | delete_hunk | update_hunk
        add_hunk: "*** Add File: " filename LF add_line+
        delete_hunk: "*** Delete File: " filename LF
        update_hunk: "*** Update File: " filename LF change_move? change?

        filename: /(.+)/
        add_line: "+" /(.*)/ LF -> line

        change_move: "*** Move to: " filename LF
        change: (change_context | change_line)+ eof_line?
        change_context: ("@@" | "@@ " /(.+)/) LF
        change_line: ("+" | "-" | " ") /(.*)/ LF
        eof_line: "*** End of File" LF

        %import common.LF
        """;

    private static JsonNode CodexTools() => JsonNode.Parse($$"""
        [{"type":"function","name":"update_plan","description":"Updates the plan","strict":false,"parameters":{"type":"object","properties":{"step":{"type":"string"} },"required":["step"]} },
         {"type":"custom","name":"apply_patch","description":"Use the apply_patch tool to edit files.","format":{"type":"grammar","syntax":"lark","definition":{{JsonSerializer.Serialize(ApplyPatchLark)}} } },
         {"type":"custom","name":"note","description":"Write a free-form note."},
         {"type":"custom","name":"ticket","description":"A ticket id.","format":{"type":"grammar","syntax":"regex","definition":"[A-Z]{3}-[0-9]{2}"} },
         {"type":"shell"},
         {"type":"local_shell"},
         {"type":"web_search"}]
        """)!;

    private static ResponsesRequest Request(string json) => JsonSerializer.Deserialize(json, ResponsesJsonContext.Wire.ResponsesRequest)!;

    [Fact]
    public void A_codex_shaped_request_gets_custom_apply_patch_and_shell_tools_into_the_prompt()
    {
        var body = new JsonObject { ["model"] = "tiny-youtu", ["input"] = "Fix the bug", ["tools"] = CodexTools() };
        var mapped = ResponsesRequestMapper.Map(Request(body.ToJsonString()), [], server.Services.GetRequiredService<ReasoningSeal>().For(SealKind.ResponsesEncryptedContent, null, "tiny-youtu"));
        Assert.Equal(["web_search"], mapped.SkippedTools);
        Assert.Equal(ClientToolKind.Custom, mapped.ClientTools["apply_patch"]);
        Assert.Equal(ClientToolKind.Shell, mapped.ClientTools["shell"]);
        Assert.Equal(ClientToolKind.LocalShell, mapped.ClientTools["local_shell"]);

        var plan = server.Services.GetRequiredService<GenerationPlanner>().Plan(mapped.Intent);
        var prompt = plan.Prompt!;
        foreach (var expected in new[] { "\"update_plan\"", "\"apply_patch\"", "Use the apply_patch tool to edit files.", "\"note\"", "Write a free-form note.",
                     "\"ticket\"", "\"shell\"", "Run shell commands", "\"local_shell\"", "\"commands\"", "\"input\"" })
        {
            Assert.Contains(expected, prompt, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("web_search", prompt, StringComparison.Ordinal);
    }

    private async Task<JsonNode> ForcedAsync(HttpClient client, string choice, string input)
    {
        var body = new JsonObject
        {
            ["model"] = "tiny-youtu",
            ["input"] = Unique(input),
            ["reasoning"] = new JsonObject { ["effort"] = "none" },
            ["max_output_tokens"] = 400,
            ["tools"] = CodexTools(),
            ["tool_choice"] = JsonNode.Parse(choice),
        };
        return await OkAsync(client, body.ToJsonString());
    }

    [Fact]
    public async Task A_forced_custom_call_comes_back_as_custom_tool_call_with_its_input()
    {
        using var client = server.CreateClient();
        client.Timeout = TimeSpan.FromMinutes(10); // a loaded machine may need minutes for a few hundred tokens; outcomes are asserted, not time
        var r = await ForcedAsync(client, """{"type":"custom","name":"note"}""", "Take a note");
        Assert.Equal("completed", r["status"]!.GetValue<string>());
        var call = Assert.Single(r["output"]!.AsArray(), o => o!["type"]!.GetValue<string>() != "reasoning")!;
        Assert.Equal("custom_tool_call", call["type"]!.GetValue<string>());
        Assert.Equal("note", call["name"]!.GetValue<string>());
        Assert.Equal(JsonValueKind.String, call["input"]!.GetValueKind());
        Assert.StartsWith("call_", call["call_id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Null(call["arguments"]);

        // The regex-grammar tool's input matches its grammar.
        var ticket = await ForcedAsync(client, """{"type":"custom","name":"ticket"}""", "Open a ticket");
        var t = ticket["output"]!.AsArray().Single(o => o!["type"]!.GetValue<string>() == "custom_tool_call")!;
        Assert.Matches(TicketPattern(), t["input"]!.GetValue<string>());
    }

    [GeneratedRegex("^[A-Z]{3}-[0-9]{2}$")]
    private static partial Regex TicketPattern();

    [Fact]
    public async Task A_lark_grammar_tool_writes_what_its_grammar_admits()
    {
        // A bounded Lark grammar (the random test model ends a free line only by chance): the call fits whole and matches.
        const string lark = """
            start: "*** Begin Patch" LF hunk ~ 1..3 "*** End Patch"
            hunk: ("*** Delete File: " | "*** Add File: ") FILE LF
            FILE: /[a-z]{1,8}\.txt/
            %import common.LF
            """;
        using var client = server.CreateClient();
        client.Timeout = TimeSpan.FromMinutes(10); // a loaded machine may need minutes for a few hundred tokens; outcomes are asserted, not time
        var body = new JsonObject
        {
            ["model"] = "tiny-youtu",
            ["input"] = Unique("Patch it"),
            ["reasoning"] = new JsonObject { ["effort"] = "none" },
            ["max_output_tokens"] = 300,
            ["tools"] = new JsonArray(new JsonObject { ["type"] = "custom", ["name"] = "patch", ["format"] = new JsonObject { ["type"] = "grammar", ["syntax"] = "lark", ["definition"] = lark } }),
            ["tool_choice"] = new JsonObject { ["type"] = "custom", ["name"] = "patch" },
        };
        var r = await OkAsync(client, body.ToJsonString());
        var call = r["output"]!.AsArray().Single(o => o!["type"]!.GetValue<string>() == "custom_tool_call")!;
        Assert.Matches(PatchPattern(), call["input"]!.GetValue<string>());
    }

    [GeneratedRegex(@"^\*\*\* Begin Patch\n(?:\*\*\* (?:Delete|Add) File: [a-z]{1,8}\.txt\n){1,3}\*\*\* End Patch$")]
    private static partial Regex PatchPattern();

    [Fact]
    public void Codex_apply_patch_grammar_becomes_a_regex_that_admits_a_patch()
    {
        var regex = new Regex(YoutuServer.Chat.Grammar.LarkToRegex.Convert(ApplyPatchLark, "/tools/1/format/definition"), RegexOptions.None, TimeSpan.FromSeconds(10));
        Assert.Matches(regex, "*** Begin Patch\n*** Update File: a.cs\n@@ class A\n-old\n+new\n context\n*** End Patch\n");
        Assert.Matches(regex, "*** Begin Patch\n*** Add File: b.txt\n+hello\n*** Delete File: c.txt\n*** End Patch");
        Assert.DoesNotMatch(regex, "*** Begin Patch\n*** End Patch\n"); // hunk+ needs a hunk
    }

    [Fact]
    public async Task Shell_and_local_shell_calls_come_back_as_their_items()
    {
        using var client = server.CreateClient();
        client.Timeout = TimeSpan.FromMinutes(10); // a loaded machine may need minutes for a few hundred tokens; outcomes are asserted, not time
        var shell = await ForcedAsync(client, """{"type":"shell"}""", "List files");
        var call = shell["output"]!.AsArray().Single(o => o!["type"]!.GetValue<string>() != "reasoning")!;
        Assert.Equal("shell_call", call["type"]!.GetValue<string>());
        Assert.True(call["action"]!["commands"]!.AsArray().Count >= 1);

        var local = await ForcedAsync(client, """{"type":"local_shell"}""", "Run ls");
        var lcall = local["output"]!.AsArray().Single(o => o!["type"]!.GetValue<string>() != "reasoning")!;
        Assert.Equal("local_shell_call", lcall["type"]!.GetValue<string>());
        Assert.Equal("exec", lcall["action"]!["type"]!.GetValue<string>());
        Assert.True(lcall["action"]!["command"]!.AsArray().Count >= 1);
    }

    [Fact]
    public void Outputs_of_client_tools_are_accepted_in_later_turns()
    {
        var body = new JsonObject
        {
            ["model"] = "tiny-youtu",
            ["tools"] = CodexTools(),
            ["input"] = JsonNode.Parse("""
                [{"type":"message","role":"user","content":"Fix it"},
                 {"type":"custom_tool_call","call_id":"call_a","name":"apply_patch","input":"*** Begin Patch\n*** Delete File: x.txt\n*** End Patch\n"},
                 {"type":"custom_tool_call_output","call_id":"call_a","output":"PATCH-APPLIED-OK"},
                 {"type":"shell_call","call_id":"call_b","action":{"commands":["ls"]},"status":"completed"},
                 {"type":"shell_call_output","call_id":"call_b","output":[{"stdout":"SHELL-LISTING","stderr":"","outcome":{"type":"exit","exit_code":0}}]},
                 {"type":"local_shell_call","call_id":"call_c","action":{"type":"exec","command":["pwd"],"env":{}},"status":"completed"},
                 {"type":"local_shell_call_output","call_id":"call_c","output":"LOCAL-PWD"},
                 {"type":"apply_patch_call","call_id":"call_d","operation":{"type":"delete_file","path":"y.txt"},"status":"completed"},
                 {"type":"apply_patch_call_output","call_id":"call_d","status":"completed","output":"APPLY-DONE"}]
                """),
        };
        var mapped = ResponsesRequestMapper.Map(Request(body.ToJsonString()), [], server.Services.GetRequiredService<ReasoningSeal>().For(SealKind.ResponsesEncryptedContent, null, "tiny-youtu"));
        var prompt = server.Services.GetRequiredService<GenerationPlanner>().Plan(mapped.Intent).Prompt!;
        foreach (var expected in new[] { "PATCH-APPLIED-OK", "SHELL-LISTING", "LOCAL-PWD", "APPLY-DONE", "Delete File: x.txt", "\"ls\"", "\"pwd\"", "delete_file" })
        {
            Assert.Contains(expected, prompt, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("start: a\na: \"x\" a | \"y\"", "recursive")]
    [InlineData("start: \"x\"\n%ignore \" \"", "%ignore")]
    [InlineData("start: \"x\"i", "case-insensitive")]
    public async Task A_grammar_that_cannot_be_enforced_is_a_400_naming_the_construct(string lark, string named)
    {
        using var client = server.CreateClient();
        client.Timeout = TimeSpan.FromMinutes(10); // a loaded machine may need minutes for a few hundred tokens; outcomes are asserted, not time
        var body = new JsonObject
        {
            ["model"] = "tiny-youtu",
            ["input"] = "x",
            ["tools"] = new JsonArray(new JsonObject { ["type"] = "custom", ["name"] = "t", ["format"] = new JsonObject { ["type"] = "grammar", ["syntax"] = "lark", ["definition"] = lark } }),
        };
        var (status, json, _) = await PostAsync(client, body.ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(named, json["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("tools[0].format.definition", json["error"]!["param"]!.GetValue<string>());
    }
}
