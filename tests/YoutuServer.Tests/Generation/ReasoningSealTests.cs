using YoutuServer.Generation;

namespace YoutuServer.Tests.Generation;

public sealed class ReasoningSealTests
{
    [Theory]
    [InlineData("")]
    [InlineData("Let me think.\nThe user wants 2+2 = 4.")]
    [InlineData("日本語 and emoji 🧠 and \"quotes\" and <think> tags")]
    public void Sealed_reasoning_opens_to_the_exact_text(string text)
    {
        var seal = new ReasoningSeal("shared-secret");
        var sealedText = seal.Seal(text);
        Assert.DoesNotContain(text.Length > 3 ? text[..3] : "\u0001", sealedText, StringComparison.Ordinal);
        Assert.True(seal.TryOpen(sealedText, out var opened));
        Assert.Equal(text, opened);
    }

    [Fact]
    public void Replicas_with_the_same_secret_open_each_others_seals_and_other_keys_do_not()
    {
        var a = new ReasoningSeal("k1");
        var b = new ReasoningSeal("k1");
        var other = new ReasoningSeal("k2");
        var random = new ReasoningSeal(null);
        var s = a.Seal("reasoning");
        Assert.True(b.TryOpen(s, out var viaB));
        Assert.Equal("reasoning", viaB);
        Assert.False(other.TryOpen(s, out _));
        Assert.False(random.TryOpen(s, out _));
    }

    [Fact]
    public void Altered_truncated_or_garbage_input_never_opens_and_never_throws()
    {
        var seal = new ReasoningSeal("k");
        var s = seal.Seal("the reasoning");
        var flipped = (s[10] == 'A' ? 'B' : 'A') + "";
        Assert.False(seal.TryOpen(s[..10] + flipped + s[11..], out _));
        Assert.False(seal.TryOpen(s[..^4], out _));
        Assert.False(seal.TryOpen("not base64 !!!", out _));
        Assert.False(seal.TryOpen("", out _));
        Assert.False(seal.TryOpen(null, out _));
        Assert.False(seal.TryOpen("AAAA", out _));
    }

    [Fact]
    public void Two_seals_of_one_text_differ_because_each_has_its_own_nonce()
    {
        var seal = new ReasoningSeal("k");
        Assert.NotEqual(seal.Seal("same"), seal.Seal("same"));
    }
}
