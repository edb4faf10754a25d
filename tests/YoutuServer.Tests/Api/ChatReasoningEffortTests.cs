using System.Text.Json;
using YoutuServer.Api.ChatCompletions;
using YoutuServer.Generation;

namespace YoutuServer.Tests.Api;

/// <summary>Chat's reasoning_effort acts like Responses' and Messages' effort: it switches thinking and sets its budget.</summary>
public sealed class ChatReasoningEffortTests
{
    private static ThinkingIntent Thinking(string extra)
    {
        var request = JsonSerializer.Deserialize("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]" + extra + "}", ChatJsonContext.Wire.ChatCompletionRequest)!;
        return ChatRequestMapper.ToIntent(request).Thinking;
    }

    [Theory]
    [InlineData("low", ThinkingEffort.Low)]
    [InlineData("medium", ThinkingEffort.Medium)]
    [InlineData("high", ThinkingEffort.High)]
    public void Low_medium_and_high_turn_thinking_on_with_their_budget(string effort, int budget)
    {
        var thinking = Thinking($",\"reasoning_effort\":\"{effort}\"");
        Assert.True(thinking.Enabled);
        Assert.Equal(budget, thinking.Budget);
    }

    [Theory]
    [InlineData("none")]
    [InlineData("minimal")]
    public void None_and_minimal_turn_thinking_off(string effort)
    {
        var thinking = Thinking($",\"reasoning_effort\":\"{effort}\",\"enable_thinking\":true");
        Assert.False(thinking.Enabled);
        Assert.Null(thinking.Budget);
    }

    [Fact]
    public void An_explicit_budget_or_switch_wins_over_the_effort()
    {
        Assert.Equal(7, Thinking(",\"reasoning_effort\":\"high\",\"reasoning_budget\":7").Budget);
        var off = Thinking(",\"reasoning_effort\":\"high\",\"enable_thinking\":false");
        Assert.False(off.Enabled);
        Assert.Null(off.Budget);
        var unset = Thinking("");
        Assert.Null(unset.Enabled);
        Assert.Null(unset.Budget);
    }
}
