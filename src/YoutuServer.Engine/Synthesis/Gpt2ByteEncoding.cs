using System.Text;

namespace YoutuServer.Engine.Synthesis;

/// <summary>
/// GPT-2's bytes_to_unicode: every byte maps to a printable code point so byte-level BPE tokens are valid UTF-8
/// text. llama.cpp's BPE detokenizer inverts exactly this table (unicode_utf8_to_byte).
/// </summary>
public static class Gpt2ByteEncoding
{
    private static readonly (char[] Table, byte[] Order) Tables = BuildTables();
    private static readonly char[] ByteToChar = Tables.Table;

    /// <summary>The 256 bytes in GPT-2's vocabulary order (printable ones first), as used for token ids 0..255.</summary>
    public static IReadOnlyList<byte> OrderedBytes => Tables.Order;

    public static char Map(byte b) => ByteToChar[b];

    /// <summary>Maps raw bytes to their byte-level token text.</summary>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var chars = bytes.Length <= 256 ? stackalloc char[bytes.Length] : new char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
        {
            chars[i] = ByteToChar[bytes[i]];
        }

        return new string(chars);
    }

    /// <summary>Maps a string's UTF-8 bytes to byte-level token text.</summary>
    public static string Encode(string text) => Encode(Encoding.UTF8.GetBytes(text));

    private static (char[] Table, byte[] Order) BuildTables()
    {
        var table = new char[256];
        var order = new List<byte>(256);
        var assigned = new bool[256];
        for (var b = 0; b < 256; b++)
        {
            if (b is (>= '!' and <= '~') or (>= 0xA1 and <= 0xAC) or (>= 0xAE and <= 0xFF))
            {
                table[b] = (char)b;
                assigned[b] = true;
                order.Add((byte)b);
            }
        }

        var n = 0;
        for (var b = 0; b < 256; b++)
        {
            if (!assigned[b])
            {
                table[b] = (char)(256 + n++);
                order.Add((byte)b);
            }
        }

        return (table, order.ToArray());
    }
}
