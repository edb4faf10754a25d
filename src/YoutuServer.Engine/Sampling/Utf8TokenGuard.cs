using YoutuServer.Native;

namespace YoutuServer.Engine.Sampling;

/// <summary>
/// Where a byte stream stands in UTF-8: how many continuation bytes the current character still needs and the
/// range the next one must fall in (narrower than 80..BF after E0, ED, F0 and F4, which is what rules out overlong
/// forms, surrogates and code points past U+10FFFF).
/// </summary>
internal readonly record struct Utf8State(byte Remaining, byte Lo, byte Hi)
{
    public static readonly Utf8State Boundary = new(0, 0x80, 0xBF);
    public static readonly Utf8State Invalid = new(0xFF, 0, 0);

    public bool AtBoundary => Remaining == 0;
    public bool IsInvalid => Remaining == 0xFF;

    public Utf8State Next(byte b)
    {
        if (Remaining == 0)
        {
            return b switch
            {
                < 0x80 => this,
                >= 0xC2 and <= 0xDF => new(1, 0x80, 0xBF),
                0xE0 => new(2, 0xA0, 0xBF),
                0xED => new(2, 0x80, 0x9F),
                >= 0xE1 and <= 0xEF => new(2, 0x80, 0xBF),
                0xF0 => new(3, 0x90, 0xBF),
                >= 0xF1 and <= 0xF3 => new(3, 0x80, 0xBF),
                0xF4 => new(3, 0x80, 0x8F),
                _ => Invalid,
            };
        }

        return Remaining != 0xFF && b >= Lo && b <= Hi ? new((byte)(Remaining - 1), 0x80, 0xBF) : Invalid;
    }

    public Utf8State Next(ReadOnlySpan<byte> bytes)
    {
        var s = this;
        foreach (var b in bytes)
        {
            s = s.Next(b);
            if (s.IsInvalid)
            {
                break;
            }
        }

        return s;
    }
}

/// <summary>
/// Each token's bytes, arranged so a grammar-constrained sampler can refuse, in a few thousand operations per
/// step, every token that would make the output invalid UTF-8. Needed because llama.cpp's grammar decodes token
/// bytes without rejecting overlong forms: on a byte-level vocabulary it lets F0 86 97 A5 stand for 日, and the
/// text then holds U+FFFD instead of the character the grammar promised. Built once per model, read-only after.
/// </summary>
internal sealed class Utf8TokenGuard
{
    private readonly byte[] bytes;
    private readonly int[] offsets;

    /// <summary>Tokens that cannot follow a character boundary (invalid as a UTF-8 prefix).</summary>
    private readonly int[] invalidAtBoundary;

    /// <summary>Tokens starting with a continuation byte: the only candidates while a character is incomplete.</summary>
    private readonly int[] continuations;

    public Utf8TokenGuard(int vocabSize, Func<int, byte[]> piece)
    {
        offsets = new int[vocabSize + 1];
        var all = new List<byte>(vocabSize * 8);
        var invalid = new List<int>();
        var cont = new List<int>();
        for (var t = 0; t < vocabSize; t++)
        {
            var p = piece(t);
            offsets[t] = all.Count;
            all.AddRange(p);
            if (Utf8State.Boundary.Next(p).IsInvalid)
            {
                invalid.Add(t);
            }

            if (p.Length > 0 && p[0] is >= 0x80 and <= 0xBF)
            {
                cont.Add(t);
            }
        }

        offsets[vocabSize] = all.Count;
        bytes = [.. all];
        invalidAtBoundary = [.. invalid];
        continuations = [.. cont];
    }

    public int VocabSize => offsets.Length - 1;

    public ReadOnlySpan<byte> Bytes(int token) => bytes.AsSpan(offsets[token], offsets[token + 1] - offsets[token]);

    public Utf8State Advance(Utf8State state, int token) =>
        (uint)token < (uint)VocabSize ? state.Next(Bytes(token)) : state;

    /// <summary>Sets to -inf the logit of every token that is not a valid UTF-8 continuation of <paramref name="state"/>.</summary>
    public unsafe void Mask(Utf8State state, LlamaTokenData* candidates, int count)
    {
        if (state.AtBoundary)
        {
            foreach (var t in invalidAtBoundary)
            {
                if (t < count)
                {
                    candidates[t].Logit = float.NegativeInfinity;
                }
            }

            return;
        }

        // Mid-character: only tokens that complete (or extend) it validly may follow. Keep their logits, mask the rest.
        Span<float> kept = continuations.Length <= 4096 ? stackalloc float[continuations.Length] : new float[continuations.Length];
        for (var i = 0; i < continuations.Length; i++)
        {
            var t = continuations[i];
            kept[i] = t < count && !state.Next(Bytes(t)).IsInvalid ? candidates[t].Logit : float.NegativeInfinity;
        }

        for (var i = 0; i < count; i++)
        {
            candidates[i].Logit = float.NegativeInfinity;
        }

        for (var i = 0; i < continuations.Length; i++)
        {
            var t = continuations[i];
            if (t < count)
            {
                candidates[t].Logit = kept[i];
            }
        }
    }
}
