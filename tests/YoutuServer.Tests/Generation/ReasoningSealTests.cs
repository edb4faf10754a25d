using System.Security.Cryptography;
using YoutuServer.Generation;
using YoutuServer.Hosting;

namespace YoutuServer.Tests.Generation;

public sealed class ReasoningSealTests
{
    private const string Model = "tiny-youtu";
    private static readonly string HexKey = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
    private static readonly Lazy<ReasoningSeal> Shared = new(() => new ReasoningSeal(HexKey));

    private static SealScope Responses(ReasoningSeal seal, string? tenant = "key:aaaa", string model = Model) =>
        seal.For(SealKind.ResponsesEncryptedContent, tenant, model);

    [Theory]
    [InlineData("")]
    [InlineData("Let me think.\nThe user wants 2+2 = 4.")]
    [InlineData("日本語 and emoji 🧠 and \"quotes\" and <think> tags")]
    public void Sealed_reasoning_opens_to_the_exact_text(string text)
    {
        var scope = Responses(Shared.Value);
        var sealedText = scope.Seal(text);
        Assert.DoesNotContain(text.Length > 3 ? text[..3] : "\u0001", sealedText, StringComparison.Ordinal);
        Assert.True(scope.TryOpen(sealedText, out var opened));
        Assert.Equal(text, opened);
    }

    [Fact]
    public void Replicas_with_the_same_key_open_each_others_seals_and_other_keys_do_not()
    {
        var a = new ReasoningSeal(HexKey);
        var b = new ReasoningSeal(HexKey.ToUpperInvariant());
        var other = new ReasoningSeal(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)));
        var random = new ReasoningSeal(null);
        Assert.False(a.IsEphemeral);
        Assert.True(random.IsEphemeral);
        var s = Responses(a).Seal("reasoning");
        Assert.True(Responses(b).TryOpen(s, out var viaB));
        Assert.Equal("reasoning", viaB);
        Assert.False(Responses(other).TryOpen(s, out _));
        Assert.False(Responses(random).TryOpen(s, out _));
    }

    [Fact]
    public void A_seal_is_bound_to_its_kind_tenant_and_model()
    {
        var seal = Shared.Value;
        var s = seal.For(SealKind.ResponsesEncryptedContent, "key:aaaa", Model).Seal("bound");
        Assert.True(seal.For(SealKind.ResponsesEncryptedContent, "key:aaaa", Model).TryOpen(s, out _));
        Assert.False(seal.For(SealKind.AnthropicSignature, "key:aaaa", Model).TryOpen(s, out _));
        Assert.False(seal.For(SealKind.ResponsesEncryptedContent, "key:bbbb", Model).TryOpen(s, out _));
        Assert.False(seal.For(SealKind.ResponsesEncryptedContent, null, Model).TryOpen(s, out _));
        Assert.False(seal.For(SealKind.ResponsesEncryptedContent, "key:aaaa", "other-model").TryOpen(s, out _));

        // Length-prefixed fields: moving a character from the tenant into the model is another binding.
        var t = seal.For(SealKind.AnthropicSignature, "ab", "c").Seal("x");
        Assert.False(seal.For(SealKind.AnthropicSignature, "a", "bc").TryOpen(t, out _));
        var open = seal.For(SealKind.AnthropicSignature, null, Model).Seal("keys off");
        Assert.True(seal.For(SealKind.AnthropicSignature, "", Model).TryOpen(open, out var text));
        Assert.Equal("keys off", text);
    }

    [Fact]
    public void Key_forms_a_32_byte_key_as_hex_or_base64_and_a_passphrase_through_pbkdf2()
    {
        var raw = RandomNumberGenerator.GetBytes(32);
        Assert.Equal(raw, ReasoningSeal.DeriveKey(Convert.ToHexString(raw)));
        Assert.Equal(raw, ReasoningSeal.DeriveKey("base64:" + Convert.ToBase64String(raw)));

        // The same passphrase gives the same key everywhere (fixed, documented salt) and it is PBKDF2-HMAC-SHA256.
        const string passphrase = "correct horse battery staple";
        var derived = ReasoningSeal.DeriveKey(passphrase);
        Assert.Equal(derived, ReasoningSeal.DeriveKey(passphrase));
        Assert.Equal(Rfc2898DeriveBytes.Pbkdf2("correct horse battery staple"u8, "youtu-server/reasoning-key/v2"u8, 600_000, HashAlgorithmName.SHA256, 32), derived);
        Assert.NotEqual(derived, ReasoningSeal.DeriveKey(passphrase + "!"));
        var x = new ReasoningSeal(passphrase);
        Assert.True(Responses(new ReasoningSeal(passphrase)).TryOpen(Responses(x).Seal("p"), out _));
    }

    [Theory]
    [InlineData("k1")]
    [InlineData("fifteen-chars!!")]
    [InlineData("base64:AAAA")]
    [InlineData("base64:not base64")]
    public void A_short_passphrase_or_a_key_of_the_wrong_size_is_refused_at_start(string secret)
    {
        var e = Assert.Throws<ConfigurationException>(() => new ReasoningSeal(secret));
        Assert.Contains("--reasoning-key", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Altered_truncated_or_garbage_input_never_opens_and_never_throws()
    {
        var scope = Responses(Shared.Value);
        var s = scope.Seal("the reasoning");
        var flipped = (s[10] == 'A' ? 'B' : 'A') + "";
        Assert.False(scope.TryOpen(s[..10] + flipped + s[11..], out _));
        Assert.False(scope.TryOpen(s[..^4], out _));
        Assert.False(scope.TryOpen("not base64 !!!", out _));
        Assert.False(scope.TryOpen("", out _));
        Assert.False(scope.TryOpen(null, out _));
        Assert.False(scope.TryOpen("AAAA", out _));
    }

    [Fact]
    public void Two_seals_of_one_text_differ_because_each_has_its_own_nonce()
    {
        var scope = Responses(Shared.Value);
        Assert.NotEqual(scope.Seal("same"), scope.Seal("same"));
    }
}
