using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using ChatMessage = OpenAI.Chat.ChatMessage;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;
using YoutuServer.TestSupport;

#pragma warning disable OPENAI001 // Seed is marked experimental in the SDK; the server supports it

namespace YoutuServer.Tests.Api;

/// <summary>The official OpenAI .NET SDK and Microsoft.Extensions.AI as real clients of the in-process server.</summary>
[Collection("server")]
public sealed class OpenAISdkTests(ServerFixture server)
{
    private ChatClient Client() => new(ServerFixture.ModelId, new ApiKeyCredential("unused"), new OpenAIClientOptions
    {
        Endpoint = new Uri(server.Server.BaseAddress, "/v1/"),
        Transport = new HttpClientPipelineTransport(server.CreateClient()),
        NetworkTimeout = TestTimeouts.Request, // the pipeline's own 100 s default, not the HttpClient's
    });

    [Fact]
    public async Task Chat_completion_with_max_completion_tokens()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 6, Seed = 1 };
        ChatCompletion c = await Client().CompleteChatAsync([new UserChatMessage("Hello")], options);
        Assert.Equal(ChatMessageRole.Assistant, c.Role);
        Assert.True(c.Usage.OutputTokenCount <= 6);
        Assert.True(c.Usage.InputTokenCount > 0);
        Assert.Contains(c.FinishReason, new[] { ChatFinishReason.Stop, ChatFinishReason.Length });
    }

    [Fact]
    public async Task Streaming_with_usage()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 6, Seed = 2 };
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        await foreach (var u in Client().CompleteChatStreamingAsync([new UserChatMessage("Hello")], options))
        {
            usage ??= u.Usage;
            finish ??= u.FinishReason;
        }

        Assert.NotNull(usage);
        Assert.NotNull(finish);
        Assert.True(usage!.OutputTokenCount <= 6);
    }

    [Fact]
    public async Task Stop_strings_and_errors_surface_through_the_sdk()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 4 };
        options.StopSequences.Add("zzz");
        ChatCompletion c = await Client().CompleteChatAsync([new UserChatMessage("Hello")], options);
        Assert.DoesNotContain("zzz", c.Content.Count > 0 ? c.Content[0].Text : "", StringComparison.Ordinal);

        var bad = new ChatCompletionOptions { Temperature = 5f };
        var e = await Assert.ThrowsAsync<ClientResultException>(() => Client().CompleteChatAsync([new UserChatMessage("Hello")], bad));
        Assert.Equal(400, e.Status);
    }

    [Fact]
    public async Task Named_tool_choice_streaming_assembles_schema_valid_arguments()
    {
        var tool = ChatTool.CreateFunctionTool("pick", "pick a color",
            BinaryData.FromString("""{"type":"object","properties":{"color":{"type":"string","enum":["red","green"]}},"required":["color"],"additionalProperties":false}"""));
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 400, Seed = 9, ToolChoice = ChatToolChoice.CreateFunctionChoice("pick") };
        options.Tools.Add(tool);
        var args = new Dictionary<int, System.Text.StringBuilder>();
        var names = new Dictionary<int, string>();
        await foreach (var u in Client().CompleteChatStreamingAsync([new UserChatMessage("Color?")], options))
        {
            foreach (var t in u.ToolCallUpdates)
            {
                if (!args.TryGetValue(t.Index, out var sb))
                {
                    args[t.Index] = sb = new System.Text.StringBuilder();
                }

                if (t.FunctionName is { } n)
                {
                    names[t.Index] = n;
                }

                sb.Append(t.FunctionArgumentsUpdate?.ToString());
            }
        }

        Assert.Equal("pick", names[0]);
        using var doc = System.Text.Json.JsonDocument.Parse(args[0].ToString());
        Assert.Contains(doc.RootElement.GetProperty("color").GetString(), new[] { "red", "green" });
    }

    [Fact]
    public async Task Microsoft_extensions_ai_chat_client_works()
    {
        IChatClient chat = Client().AsIChatClient();
        var response = await chat.GetResponseAsync("Hi", new ChatOptions { MaxOutputTokens = 4, Seed = 3 });
        Assert.NotNull(response.Usage);
        Assert.True(response.Usage!.OutputTokenCount <= 4);
        var updates = 0;
        await foreach (var _ in chat.GetStreamingResponseAsync("Hi", new ChatOptions { MaxOutputTokens = 4 }))
        {
            updates++;
        }

        Assert.True(updates > 0);
        _ = typeof(ChatMessage);
    }
}
