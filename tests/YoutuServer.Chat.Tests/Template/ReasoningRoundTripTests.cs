using YoutuServer.Chat.Messages;
using YoutuServer.Chat.Templates;

namespace YoutuServer.Chat.Tests.Template;

/// <summary>
/// Reasoning a client sends back on an assistant message (reasoning_content, a reasoning item, a thinking block) is
/// rendered as the model produced it, then the template decides what to keep: the reference Jinja rendering of the
/// same conversation with the reasoning already folded into content is the expectation (golden case
/// reasoning/folded-into-content-tool-loop).
/// </summary>
public sealed class ReasoningRoundTripTests
{
    private const string GoldenCase = "reasoning/folded-into-content-tool-loop";

    [Fact]
    public void Reasoning_fields_render_byte_exact_with_jinja_of_the_folded_conversation()
    {
        var testCase = YoutuGoldenCorpus.Case(GoldenCase);
        var folded = YoutuGoldenCorpus.Messages(testCase);

        // The same conversation as a client sends it: reasoning in its own field, content without the think block.
        var unfolded = folded.Select(Unfold).ToList();
        Assert.Equal(3, unfolded.Count(m => m.Reasoning is not null));

        var rendered = YoutuChatFormatter.Instance.Render(unfolded.Select(m => m.WithReasoningInContent()).ToList(), YoutuGoldenCorpus.Options(testCase));
        Assert.Equal(YoutuGoldenCorpus.Expected(GoldenCase), rendered);

        // Inside the tool loop the reasoning stays; the turn before the loop loses it.
        Assert.Contains("<think>\nI need the weather tool for Paris first.\n</think>\n\n<tool_call>", rendered, StringComparison.Ordinal);
        Assert.Contains("<think>\nParis is 21. Now Lyon.\n</think>\n\n<tool_call>", rendered, StringComparison.Ordinal);
        Assert.DoesNotContain("Greeting; answer briefly.", rendered, StringComparison.Ordinal);
    }

    [Fact]
    public void Folding_is_exactly_the_think_block_the_model_generates_and_leaves_other_messages_alone()
    {
        var m = new ChatMessage { Role = ChatRoles.Assistant, Content = "Answer", Reasoning = "Why" };
        Assert.Equal("<think>\nWhy\n</think>\n\nAnswer", m.WithReasoningInContent().Content);
        Assert.Null(m.WithReasoningInContent().Reasoning);

        var noContent = new ChatMessage { Role = ChatRoles.Assistant, Content = null, Reasoning = "Why" };
        Assert.Equal("<think>\nWhy\n</think>\n\n", noContent.WithReasoningInContent().Content);

        // Content that already holds a think block (raw reasoning format) is not wrapped twice.
        var raw = new ChatMessage { Role = ChatRoles.Assistant, Content = "<think>\nA\n</think>\n\nB", Reasoning = "A" };
        Assert.Equal(raw.Content, raw.WithReasoningInContent().Content);

        // Only assistant messages carry reasoning into the prompt.
        var user = new ChatMessage { Role = ChatRoles.User, Content = "Q", Reasoning = "ignored" };
        Assert.Same(user, user.WithReasoningInContent());
    }

    private static ChatMessage Unfold(ChatMessage m)
    {
        const string open = "<think>\n";
        const string close = "\n</think>\n\n";
        if (m.Role != ChatRoles.Assistant || m.Content is not { } c || !c.StartsWith(open, StringComparison.Ordinal))
        {
            return m;
        }

        var end = c.IndexOf(close, StringComparison.Ordinal);
        return m with { Reasoning = c[open.Length..end], Content = c[(end + close.Length)..] };
    }
}
