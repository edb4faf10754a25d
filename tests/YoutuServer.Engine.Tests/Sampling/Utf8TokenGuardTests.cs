using System.Text;
using YoutuServer.Engine.Sampling;
using YoutuServer.Native;

namespace YoutuServer.Engine.Tests.Sampling;

public sealed unsafe class Utf8TokenGuardTests
{
    [Theory]
    [InlineData("日本語")]
    [InlineData("ünï 😀 a")]
    [InlineData("\u007f\u0080\u07ff\u0800\uffff")]
    public void Valid_text_stays_valid_byte_by_byte(string text)
    {
        var s = Utf8State.Boundary;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            s = s.Next(b);
            Assert.False(s.IsInvalid);
        }

        Assert.True(s.AtBoundary);
    }

    [Theory]
    [InlineData("F0 86 97 A5")] // overlong 日
    [InlineData("E0 80 80")]    // overlong NUL
    [InlineData("C0 80")]
    [InlineData("C1 BF")]
    [InlineData("ED A0 80")]    // surrogate D800
    [InlineData("F4 90 80 80")] // past U+10FFFF
    [InlineData("F5 80 80 80")]
    [InlineData("80")]          // lone continuation
    [InlineData("E6 97 41")]    // truncated by ASCII
    public void Invalid_forms_are_refused(string hex)
    {
        var bytes = Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));
        Assert.True(Utf8State.Boundary.Next(bytes).IsInvalid);
    }

    [Fact]
    public void Mask_at_a_boundary_refuses_only_invalid_prefixes()
    {
        // 0: "a", 1: E6 (start of 日), 2: 97 A5 (its end), 3: 86 (overlong path), 4: F0 (4-byte start), 5: FF
        var guard = Guard([[0x61], [0xE6], [0x97, 0xA5], [0x86], [0xF0], [0xFF]]);
        var logits = Mask(guard, Utf8State.Boundary, 6);
        Assert.Equal([true, true, false, false, true, false], logits.Select(float.IsFinite));
    }

    [Fact]
    public void Mask_mid_character_keeps_only_valid_continuations()
    {
        var guard = Guard([[0x61], [0xE6], [0x97, 0xA5], [0x86], [0xF0], [0x97]]);
        var afterE6 = guard.Advance(Utf8State.Boundary, 1);
        Assert.Equal([false, false, true, true, false, true], Mask(guard, afterE6, 6).Select(float.IsFinite));

        // After F0 the next byte must be 90..BF: 86 (the overlong form of 日) is refused, 97 allowed.
        var afterF0 = guard.Advance(Utf8State.Boundary, 4);
        Assert.Equal([false, false, true, false, false, true], Mask(guard, afterF0, 6).Select(float.IsFinite));
    }

    private static Utf8TokenGuard Guard(byte[][] pieces) => new(pieces.Length, t => pieces[t]);

    private static float[] Mask(Utf8TokenGuard guard, Utf8State state, int n)
    {
        var c = new LlamaTokenData[n];
        for (var i = 0; i < n; i++)
        {
            c[i] = new LlamaTokenData { Id = i, Logit = 1f + i };
        }

        fixed (LlamaTokenData* p = c)
        {
            guard.Mask(state, p, n);
        }

        return [.. c.Select(x => x.Logit)];
    }
}
