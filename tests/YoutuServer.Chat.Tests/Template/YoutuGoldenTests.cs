using YoutuServer.Chat.Messages;
using YoutuServer.Chat.Templates;

namespace YoutuServer.Chat.Tests.Template;

public sealed class YoutuGoldenTests
{
    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        foreach (string name in YoutuGoldenCorpus.CaseNames)
        {
            data.Add(name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Render_is_byte_identical_to_jinja(string caseName)
    {
        var testCase = YoutuGoldenCorpus.Case(caseName);
        var messages = YoutuGoldenCorpus.Messages(testCase);
        var options = YoutuGoldenCorpus.Options(testCase);
        string? expected = YoutuGoldenCorpus.Expected(caseName);

        if (expected is null)
        {
            Assert.Throws<ChatTemplateException>(() => YoutuChatFormatter.Instance.Render(messages, options));
        }
        else
        {
            Assert.Equal(expected, YoutuChatFormatter.Instance.Render(messages, options));
        }
    }

    [Fact]
    public void Corpus_is_large_and_in_sync_with_the_expectations()
    {
        var names = YoutuGoldenCorpus.CaseNames;
        Assert.True(names.Count >= 45, $"only {names.Count} golden cases");
        Assert.Equal(names.Count, YoutuGoldenCorpus.ExpectationCount);
        Assert.All(names, n => Assert.True(YoutuGoldenCorpus.HasExpectation(n), $"no expectation for {n}; rerun scripts/render-golden-templates.py"));
        Assert.Contains(names, n => YoutuGoldenCorpus.Expected(n) is null);
    }
}
