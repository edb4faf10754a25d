using System.Text;
using System.Text.Json;
using Anthropic;
using Anthropic.Core;
using Anthropic.Exceptions;
using Anthropic.Models.Messages;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Api.Anthropic;

/// <summary>The official Anthropic .NET SDK, unmodified apart from its base URL, against the in-process server.</summary>
[Collection("server")]
public sealed class AnthropicSdkTests(ServerFixture server)
{
    private AnthropicClient Client() => new(new ClientOptions
    {
        BaseUrl = server.Server.BaseAddress.ToString().TrimEnd('/'),
        HttpClient = server.CreateClient(),
        ApiKey = "unused",
        MaxRetries = 0,
        Timeout = TestTimeouts.Request,
        ResponseValidation = true,
    });

    private static Tool CityTool() => new()
    {
        Name = "get_weather",
        Description = "Weather of a city",
        InputSchema = new InputSchema(JsonSerializer.Deserialize<Dictionary<string, JsonElement>>("""
            {"type":"object","properties":{"city":{"type":"string","enum":["Paris","Rome"]}},"required":["city"],"additionalProperties":false}
            """)!),
    };

    [Fact]
    public async Task Text_message_with_usage()
    {
        var message = await Client().Messages.Create(new MessageCreateParams
        {
            Model = ServerFixture.ModelId,
            MaxTokens = 8,
            System = "You are terse.",
            Messages = [new UserMessageParam("Hello from the Anthropic SDK")],
        });
        Assert.StartsWith("msg_", message.ID, StringComparison.Ordinal);
        Assert.Contains(message.StopReason!.Value(), new[] { StopReason.EndTurn, StopReason.MaxTokens });
        Assert.True(message.Usage.InputTokens + (message.Usage.CacheReadInputTokens ?? 0) > 0);
        Assert.InRange(message.Usage.OutputTokens, 1, 8);
        Assert.All(message.Content, c => Assert.True(c.TryPickText(out _)));
    }

    [Fact]
    public async Task Streaming_with_thinking_and_a_forced_tool_assembles_a_schema_valid_input()
    {
        var parameters = new MessageCreateParams
        {
            Model = ServerFixture.ModelId,
            MaxTokens = 200,
            Thinking = new ThinkingConfigEnabled(4),
            Tools = [CityTool()],
            ToolChoice = new ToolChoiceTool("get_weather") { DisableParallelToolUse = true },
            Messages = [new UserMessageParam("SDK streaming weather")],
        };
        var thinking = new StringBuilder();
        var json = new StringBuilder();
        string? signature = null;
        string? toolName = null;
        StopReason? stop = null;
        var starts = 0;
        var stops = 0;
        await foreach (var e in Client().Messages.CreateStreaming(parameters))
        {
            if (e.TryPickStart(out var s))
            {
                Assert.Empty(s.Message.Content);
                starts++;
            }
            else if (e.TryPickContentBlockStart(out var bs) && bs.ContentBlock.TryPickToolUse(out var tu))
            {
                toolName = tu.Name;
                Assert.StartsWith("toolu_", tu.ID, StringComparison.Ordinal);
            }
            else if (e.TryPickContentBlockDelta(out var d))
            {
                if (d.Delta.TryPickThinking(out var td))
                {
                    thinking.Append(td.Thinking);
                }
                else if (d.Delta.TryPickSignature(out var sd))
                {
                    signature = sd.Signature;
                }
                else if (d.Delta.TryPickInputJson(out var ij))
                {
                    json.Append(ij.PartialJson);
                }
            }
            else if (e.TryPickDelta(out var md))
            {
                stop = md.Delta.StopReason!.Value();
            }
            else if (e.TryPickStop(out _))
            {
                stops++;
            }
        }

        Assert.Equal(1, starts);
        Assert.Equal(1, stops);
        Assert.True(thinking.Length > 0);
        Assert.False(string.IsNullOrEmpty(signature));
        Assert.Equal("get_weather", toolName);
        Assert.Equal(StopReason.ToolUse, stop);
        using var input = JsonDocument.Parse(json.ToString());
        Assert.Contains(input.RootElement.GetProperty("city").GetString(), new[] { "Paris", "Rome" });
    }

    [Fact]
    public async Task Thinking_tool_use_and_a_tool_result_turn_round_trip()
    {
        var client = Client();
        var first = await client.Messages.Create(new MessageCreateParams
        {
            Model = ServerFixture.ModelId,
            MaxTokens = 200,
            Thinking = new ThinkingConfigEnabled(4),
            Tools = [CityTool()],
            ToolChoice = new ToolChoiceAny { DisableParallelToolUse = true },
            Messages = [new UserMessageParam("SDK tool loop")],
        });
        Assert.Equal(StopReason.ToolUse, first.StopReason!.Value());
        Assert.True(first.Content[0].TryPickThinking(out var thought));
        Assert.False(string.IsNullOrEmpty(thought!.Signature));
        var call = first.Content.Select(c => c.TryPickToolUse(out var t) ? t : null).Single(t => t is not null)!;
        Assert.Contains(call.Input["city"].GetString(), new[] { "Paris", "Rome" });

        // The assistant turn goes back as the SDK received it (thinking with its signature, tool_use), then the result.
        List<ContentBlockParam> assistant =
        [
            new ThinkingBlockParam { Thinking = thought.Thinking, Signature = thought.Signature },
            new ToolUseBlockParam { ID = call.ID, Name = call.Name, Input = call.Input },
        ];
        List<ContentBlockParam> result = [new ToolResultBlockParam(call.ID) { Content = "Sunny, 21 C" }];
        var second = await client.Messages.Create(new MessageCreateParams
        {
            Model = ServerFixture.ModelId,
            MaxTokens = 6,
            Tools = [CityTool()],
            ToolChoice = new ToolChoiceNone(),
            Messages = [new UserMessageParam("SDK tool loop"), new AssistantMessageParam(assistant), new UserMessageParam(result)],
        });
        Assert.Contains(second.StopReason!.Value(), new[] { StopReason.EndTurn, StopReason.MaxTokens });
        Assert.All(second.Content, c => Assert.False(c.TryPickToolUse(out _)));
        // The earlier turn, prompt and output token for token, comes from the prefix cache (cache_read_input_tokens).
        Assert.True(second.Usage.CacheReadInputTokens > first.Usage.InputTokens, $"{second.Usage.CacheReadInputTokens} cached vs {first.Usage.InputTokens} first prompt");
    }

    [Fact]
    public async Task Count_tokens_through_the_sdk()
    {
        var count = await Client().Messages.CountTokens(new MessageCountTokensParams
        {
            Model = ServerFixture.ModelId,
            System = "Count me too.",
            Messages = [new UserMessageParam("How many tokens is this?")],
        });
        Assert.True(count.InputTokens > 0);
    }

    [Fact]
    public async Task Errors_surface_with_their_status_and_type()
    {
        var notFound = await Assert.ThrowsAsync<AnthropicNotFoundException>(() => Client().Messages.Create(new MessageCreateParams
        {
            Model = "claude-opus-4-1",
            MaxTokens = 4,
            Messages = [new UserMessageParam("x")],
        }));
        Assert.Equal(404, (int)notFound.StatusCode);
        Assert.Contains("not_found_error", notFound.ResponseBody, StringComparison.Ordinal);

        var bad = await Assert.ThrowsAsync<AnthropicBadRequestException>(() => Client().Messages.Create(new MessageCreateParams
        {
            Model = ServerFixture.ModelId,
            MaxTokens = 4,
            Tools = [CityTool()],
            ToolChoice = new ToolChoiceTool("no_such_tool"),
            Messages = [new UserMessageParam("x")],
        }));
        Assert.Equal(400, (int)bad.StatusCode);
        Assert.Contains("no_such_tool", bad.ResponseBody, StringComparison.Ordinal);
    }
}
