using System.ClientModel;
using System.ClientModel.Primitives;
using System.Runtime.CompilerServices;
using System.Text.Json;
using OpenAI.Responses;
using YoutuServer.TestSupport;

#pragma warning disable OPENAI001, SCME0001 // the Responses client and its JSON patch are marked experimental in the SDK

namespace YoutuServer.Tests.Api.Responses;

/// <summary>The official OpenAI .NET SDK's ResponsesClient (2.15) as a real client of the in-process server.</summary>
[Collection("server")]
public sealed class ResponsesSdkTests(ServerFixture server)
{
    private static readonly BinaryData WeatherSchema = BinaryData.FromString(
        """{"type":"object","properties":{"city":{"type":"string","enum":["Paris","Rome"]}},"required":["city"],"additionalProperties":false}""");

    private ResponsesClient Client() => new(new ApiKeyCredential("unused"), new ResponsesClientOptions
    {
        Endpoint = new Uri(server.Server.BaseAddress, "/v1/"),
        Transport = new HttpClientPipelineTransport(server.CreateClient()),
        NetworkTimeout = TestTimeouts.Request, // the pipeline's own 100 s default, not the HttpClient's
    });

    private static CreateResponseOptions Options(string text, int maxTokens, bool thinking = false, [CallerMemberName] string test = "")
    {
        var options = new CreateResponseOptions(ServerFixture.ModelId, [ResponseItem.CreateUserMessageItem(ResponsesWire.Unique(text, test))])
        {
            MaxOutputTokenCount = maxTokens,
            ReasoningOptions = new ResponseReasoningOptions { ReasoningEffortLevel = thinking ? ResponseReasoningEffortLevel.Low : ResponseReasoningEffortLevel.None },
        };
        return options;
    }

    [Fact]
    public async Task Text_response_through_the_sdk()
    {
        ResponseResult r = await Client().CreateResponseAsync(Options("Hello", 6));
        Assert.StartsWith("resp_", r.Id, StringComparison.Ordinal);
        Assert.Contains(r.Status, new ResponseStatus?[] { ResponseStatus.Completed, ResponseStatus.Incomplete });
        Assert.NotNull(r.GetOutputText());
        Assert.True(r.Usage.OutputTokenCount is > 0 and <= 6);
        Assert.Equal(r.Usage.InputTokenCount + r.Usage.OutputTokenCount, r.Usage.TotalTokenCount);
        Assert.IsAssignableFrom<MessageResponseItem>(Assert.Single(r.OutputItems));

        ResponseResult again = await Client().GetResponseAsync(r.Id);
        Assert.Equal(r.GetOutputText(), again.GetOutputText());
    }

    [Fact]
    public async Task Streaming_updates_through_the_sdk()
    {
        var text = new System.Text.StringBuilder();
        ResponseResult? final = null;
        var updates = new List<StreamingResponseUpdate>();
        var streamed = Options("Tell me", 5);
        streamed.StreamingEnabled = true;
        await foreach (var u in await Client().CreateResponseStreamingAsync(streamed))
        {
            updates.Add(u);
            switch (u)
            {
                case StreamingResponseOutputTextDeltaUpdate d:
                    text.Append(d.Delta);
                    break;
                case StreamingResponseCompletedUpdate c:
                    final = c.Response;
                    break;
                case StreamingResponseIncompleteUpdate i:
                    final = i.Response;
                    break;
            }
        }

        Assert.IsType<StreamingResponseCreatedUpdate>(updates[0]);
        Assert.Equal(Enumerable.Range(0, updates.Count), updates.Select(u => u.SequenceNumber));
        Assert.NotNull(final);
        Assert.Equal(text.ToString(), final.GetOutputText());
    }

    [Fact]
    public async Task Function_call_then_function_call_output_through_previous_response_id()
    {
        var options = Options("Weather in Rome?", 200);
        options.Tools.Add(ResponseTool.CreateFunctionTool("get_weather", WeatherSchema, strictModeEnabled: true, "Weather of a city"));
        options.ToolChoice = ResponseToolChoice.CreateRequiredChoice();
        options.ParallelToolCallsEnabled = false;
        // One client for the whole loop: creating a client returns the shared engine to its cold state.
        var client = Client();
        ResponseResult first = await client.CreateResponseAsync(options);
        var call = Assert.IsType<FunctionCallResponseItem>(Assert.Single(first.OutputItems));
        Assert.Equal("get_weather", call.FunctionName);
        using (var doc = JsonDocument.Parse(call.FunctionArguments.ToString()))
        {
            Assert.Contains(doc.RootElement.GetProperty("city").GetString(), new[] { "Paris", "Rome" });
        }

        var next = new CreateResponseOptions(ServerFixture.ModelId, [ResponseItem.CreateFunctionCallOutputItem(call.CallId, "{\"temp_c\":21}")])
        {
            PreviousResponseId = first.Id,
            MaxOutputTokenCount = 4,
            ReasoningOptions = new ResponseReasoningOptions { ReasoningEffortLevel = ResponseReasoningEffortLevel.None },
        };
        next.Tools.Add(ResponseTool.CreateFunctionTool("get_weather", WeatherSchema, strictModeEnabled: true, "Weather of a city"));
        ResponseResult second = await client.CreateResponseAsync(next);
        Assert.Equal(first.Id, second.PreviousResponseId);
        Assert.True(second.Usage.InputTokenCount > first.Usage.InputTokenCount);
        Assert.True(second.Usage.InputTokenDetails.CachedTokenCount > 0);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Forced_function_choice_streams_its_arguments(int seed)
    {
        var options = Options("Pick a city", 200);
        options.Tools.Add(ResponseTool.CreateFunctionTool("get_weather", WeatherSchema, strictModeEnabled: true, "Weather of a city"));
        options.ToolChoice = ResponseToolChoice.CreateFunctionChoice("get_weather");
        options.StreamingEnabled = true;
        options.ParallelToolCallsEnabled = false; // one call (with parallel calls on, a named choice may repeat it)
        options.Patch.Set("$.seed"u8, seed);
        var args = new System.Text.StringBuilder();
        FunctionCallResponseItem? done = null;
        await foreach (var u in await Client().CreateResponseStreamingAsync(options))
        {
            if (u is StreamingResponseFunctionCallArgumentsDeltaUpdate d)
            {
                args.Append(d.Delta.ToString());
            }
            else if (u is StreamingResponseOutputItemDoneUpdate { Item: FunctionCallResponseItem f })
            {
                done = f;
            }
        }

        Assert.NotNull(done);
        Assert.True(args.ToString() == done.FunctionArguments.ToString(), $"deltas {args} vs done {done.FunctionArguments}");
        using var doc = JsonDocument.Parse(args.ToString());
        Assert.Contains(doc.RootElement.GetProperty("city").GetString(), new[] { "Paris", "Rome" });
    }

    [Fact]
    public async Task Json_schema_text_format_through_the_sdk()
    {
        var options = Options("Give JSON", 200);
        options.TextOptions = new ResponseTextOptions
        {
            TextFormat = ResponseTextFormat.CreateJsonSchemaFormat("answer", BinaryData.FromString(
                """{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"],"additionalProperties":false}"""), null, true),
        };
        ResponseResult r = await Client().CreateResponseAsync(options);
        Assert.Equal(ResponseStatus.Completed, r.Status);
        using var doc = JsonDocument.Parse(r.GetOutputText());
        Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
        Assert.True(doc.RootElement.GetProperty("ok").ValueKind is JsonValueKind.True or JsonValueKind.False);
    }

    [Fact]
    public async Task Reasoning_items_with_thinking_on_through_the_sdk()
    {
        ReasoningResponseItem? reasoning = null;
        for (var seed = 1; seed <= 16 && reasoning is null; seed++)
        {
            var options = Options("Think about it", 60, thinking: true);
            // The server's extensions ride along in the SDK's JSON patch: a seed, and a short thinking budget.
            options.Patch.Set("$.seed"u8, seed);
            options.Patch.Set("$.reasoning_budget"u8, 6);
            // A JSON answer: its grammar lets the output open with a think block, which the random model often does.
            options.TextOptions = new ResponseTextOptions { TextFormat = ResponseTextFormat.CreateJsonObjectFormat() };
            options.ReasoningOptions.ReasoningSummaryVerbosity = ResponseReasoningSummaryVerbosity.Auto;
            options.IncludedProperties.Add(IncludedResponseProperty.ReasoningEncryptedContent);
            options.StoredOutputEnabled = false;
            ResponseResult r = await Client().CreateResponseAsync(options);
            reasoning = r.OutputItems.OfType<ReasoningResponseItem>().FirstOrDefault();
            if (reasoning is not null)
            {
                Assert.True(r.Usage.OutputTokenDetails.ReasoningTokenCount > 0);
            }
        }

        Assert.NotNull(reasoning);
        Assert.StartsWith("rs_", reasoning.Id, StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(reasoning.GetSummaryText()));
        Assert.False(string.IsNullOrEmpty(reasoning.EncryptedContent));
    }

    [Fact]
    public async Task Errors_surface_as_client_result_exceptions()
    {
        var bad = Options("Hello", 4);
        bad.Temperature = 5f;
        var e = await Assert.ThrowsAsync<ClientResultException>(() => Client().CreateResponseAsync(bad));
        Assert.Equal(400, e.Status);

        var missing = Options("Hello", 4);
        missing.PreviousResponseId = "resp_does_not_exist";
        var notFound = await Assert.ThrowsAsync<ClientResultException>(() => Client().CreateResponseAsync(missing));
        Assert.Equal(404, notFound.Status);
    }
}
