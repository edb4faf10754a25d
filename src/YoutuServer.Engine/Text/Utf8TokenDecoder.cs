using System.Text;

namespace YoutuServer.Engine.Text;

/// <summary>
/// Turns token pieces (raw bytes) into text without ever emitting half a UTF-8 character: a multi-byte
/// character split across tokens stays buffered in the decoder until its last byte arrives.
/// Invalid byte sequences become U+FFFD, as every OpenAI-compatible server does.
/// </summary>
public sealed class Utf8TokenDecoder
{
    private readonly Decoder decoder = new UTF8Encoding(false, false).GetDecoder();
    private char[] chars = new char[64];

    /// <summary>Returns the text completed by these bytes (often empty mid-character).</summary>
    public string Push(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return "";
        }

        var max = decoder.GetCharCount(bytes, flush: false);
        if (max > chars.Length)
        {
            chars = new char[Math.Max(max, chars.Length * 2)];
        }

        var n = decoder.GetChars(bytes, chars, flush: false);
        return n == 0 ? "" : new string(chars, 0, n);
    }

    /// <summary>At the end of generation: whatever is still buffered is an incomplete character (U+FFFD).</summary>
    public string Flush()
    {
        var n = decoder.GetChars(ReadOnlySpan<byte>.Empty, chars, flush: true);
        return n == 0 ? "" : new string(chars, 0, n);
    }

    public void Reset() => decoder.Reset();
}
