using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using YoutuServer.Api.Responses;
using YoutuServer.Generation;
using YoutuServer.State;
using static YoutuServer.Tests.Api.Responses.ResponsesWire;

namespace YoutuServer.Tests.Api.Responses;

/// <summary>POST /v1/responses/compact and the compaction item sent back in place of the history.</summary>
[Collection("server")]
public sealed class ResponsesCompactionTests(ServerFixture server, ITestOutputHelper output)
{
    private const string Model = ServerFixture.ModelId;

    /// <summary>A conversation of 3 user turns, 2 long assistant answers and a tool call with its output.</summary>
    private static string History(string tag)
    {
        var longAnswer = string.Join(' ', Enumerable.Range(0, 60).Select(i => $"step{i}"));
        return $$"""
            [{"role":"user","content":"Plan a trip to Paris {{tag}}."},
             {"type":"message","role":"assistant","content":[{"type":"output_text","text":"{{longAnswer}}"}]},
             {"role":"user","content":"What is the weather there?"},
             {"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},
             {"type":"function_call_output","call_id":"call_1","output":"Sunny, 21 C, light wind from the west all afternoon."},
             {"type":"message","role":"assistant","content":[{"type":"output_text","text":"{{longAnswer}}"}]},
             {"role":"user","content":"Book the museum for Tuesday."}]
            """;
    }

    private async Task<(HttpStatusCode Status, JsonNode Json)> CompactAsync(HttpClient client, string body)
    {
        var res = await client.PostAsync("/v1/responses/compact", Body(body));
        return (res.StatusCode, JsonNode.Parse(await res.Content.ReadAsStringAsync())!);
    }

    [Fact]
    public async Task Compaction_round_trip_keeps_user_messages_seals_the_summary_and_shrinks_the_next_prompt()
    {
        using var client = server.CreateClient();
        var history = History(Unique("t"));
        var (status, compacted) = await CompactAsync(client,
            $$"""{"model":"{{Model}}","instructions":"You are a travel agent.","max_output_tokens":40,"input":{{history}}}""");
        Assert.True(status == HttpStatusCode.OK, compacted.ToJsonString());
        Assert.Equal("response.compaction", (string)compacted["object"]!);
        Assert.StartsWith("resp_", (string)compacted["id"]!, StringComparison.Ordinal);
        var items = compacted["output"]!.AsArray();
        // The three user messages as they were, then one compaction item.
        Assert.Equal(4, items.Count);
        Assert.All(items.Take(3), i => Assert.Equal("user", (string)i!["role"]!));
        Assert.Equal("What is the weather there?", (string)items[1]!["content"]![0]!["text"]!);
        var compaction = items[3]!;
        Assert.Equal("compaction", (string)compaction["type"]!);
        Assert.StartsWith("cmp_", (string)compaction["id"]!, StringComparison.Ordinal);
        var sealedSummary = (string)compaction["encrypted_content"]!;
        var usage = compacted["usage"]!;
        var compactIn = (int)usage["input_tokens"]!;
        var compactOut = (int)usage["output_tokens"]!;
        Assert.InRange(compactOut, 1, 40);
        Assert.Equal(compactIn + compactOut, (int)usage["total_tokens"]!);

        // Only this server's key opens it, and it holds the model's summary.
        var seal = server.Services.GetRequiredService<ReasoningSeal>();
        var scope = ResponsesCompaction.Scope(seal, TenantId.Anonymous, Model);
        Assert.True(scope.TryOpen(sealedSummary, out var summary));
        Assert.DoesNotContain(summary, sealedSummary, StringComparison.Ordinal);
        Assert.False(ResponsesCompaction.Scope(new ReasoningSeal(new string('a', 64)), TenantId.Anonymous, Model).TryOpen(sealedSummary, out _));
        Assert.False(seal.For(SealKind.ResponsesEncryptedContent, TenantId.Anonymous.Value, Model).TryOpen(sealedSummary, out _));

        // The next turn: the compacted items plus a new message, against the same turn on the full history.
        var next = """{"role":"user","content":"And on Wednesday?"}""";
        var compactedInput = "[" + string.Join(",", items.Select(i => i!.ToJsonString())) + "," + next + "]";
        var fullInput = history.TrimEnd()[..^1] + "," + next + "]";
        const string Common = $$"""
            "model":"{{Model}}","instructions":"You are a travel agent.","max_output_tokens":4,"reasoning":{"effort":"none"},"tools":[{{WeatherTool}}],
            """;
        var small = await OkAsync(client, "{" + Common + "\"input\":" + compactedInput + "}");
        var full = await OkAsync(client, "{" + Common + "\"input\":" + fullInput + "}");
        var smallIn = Usage(small, "input");
        var fullIn = Usage(full, "input");
        output.WriteLine($"compact: input {compactIn}, output (summary) {compactOut}; next turn: compacted input {smallIn} vs full history {fullIn}");
        Assert.True(smallIn < fullIn, $"compacted {smallIn} vs full {fullIn}");

        // The item renders as a system message with the summary (the stored input items keep it as sent).
        var request = JsonSerializer.Deserialize("{" + Common + "\"input\":" + compactedInput + "}", ResponsesJsonContext.Wire.ResponsesRequest)!;
        var mapped = ResponsesRequestMapper.Map(request, [], seal.For(SealKind.ResponsesEncryptedContent, TenantId.Anonymous.Value, Model), scope);
        var planner = server.Services.GetRequiredService<GenerationPlanner>();
        var plan = await planner.PlanAsync(mapped.Intent, CancellationToken.None);
        Assert.Contains(ResponsesCompaction.Heading + summary, plan.Prompt, StringComparison.Ordinal);
        Assert.DoesNotContain("step59", plan.Prompt, StringComparison.Ordinal);
        Assert.Contains(mapped.InputItems, i => i.Type == "compaction" && i.EncryptedContent == sealedSummary);
    }

    [Fact]
    public async Task Compaction_errors_have_the_openai_shape()
    {
        using var client = server.CreateClient();
        var (status, noModel) = await CompactAsync(client, """{"input":"Hello"}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("model", (string)noModel["error"]!["param"]!);
        Assert.Equal("invalid_request_error", (string)noModel["error"]!["type"]!);

        (status, var nothing) = await CompactAsync(client, $$"""{"model":"{{Model}}"}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("input", (string)nothing["error"]!["param"]!);

        (status, var unknown) = await CompactAsync(client, $$"""{"model":"no-such-model","input":"Hello"}""");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("model_not_found", (string)unknown["error"]!["code"]!);

        (status, var missingPrevious) = await CompactAsync(client, $$"""{"model":"{{Model}}","previous_response_id":"resp_nope"}""");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("previous_response_not_found", (string)missingPrevious["error"]!["code"]!);

        // A compaction item that was altered (or sealed elsewhere) is refused, naming it.
        var (tamperedStatus, tampered, _) = await PostAsync(client, $$"""
            {"model":"{{Model}}","input":[{"role":"user","content":"Hi"},{"type":"compaction","encrypted_content":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"}]}
            """);
        Assert.Equal(HttpStatusCode.BadRequest, tamperedStatus);
        Assert.Equal("input[1].encrypted_content", (string)tampered["error"]!["param"]!);
        Assert.Equal("invalid_encrypted_content", (string)tampered["error"]!["code"]!);
    }
}
