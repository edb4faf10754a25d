using System.Text;

namespace YoutuServer.Chat.Grammar;

/// <summary>
/// JSON text the way the model writes it: Python <c>json.dumps(..., ensure_ascii=False)</c>, which is what the
/// chat template's <c>tojson</c> shows it. Grammars for fixed strings accept this one spelling.
/// </summary>
internal static class JsonText
{
    /// <summary>The JSON string literal (with quotes) for <paramref name="value"/>.</summary>
    public static string Quote(string value)
    {
        var sb = new StringBuilder(value.Length + 2);
        sb.Append('"');
        foreach (var c in value)
        {
            AppendEscaped(sb, c);
        }

        sb.Append('"');
        return sb.ToString();
    }

    /// <summary>The JSON spelling of one character inside a string literal.</summary>
    public static string Escape(int codePoint)
    {
        var sb = new StringBuilder(6);
        if (codePoint > 0xFFFF)
        {
            sb.Append(char.ConvertFromUtf32(codePoint));
        }
        else
        {
            AppendEscaped(sb, (char)codePoint);
        }

        return sb.ToString();
    }

    /// <summary>True when the character has to be written as an escape inside a JSON string.</summary>
    public static bool NeedsEscape(int codePoint) => codePoint < 0x20 || codePoint == '"' || codePoint == '\\';

    /// <summary>Appends the escape of <paramref name="c"/> (Python's spelling: \n, \uXXXX in lower-case hex, ...), or <paramref name="c"/> itself when it needs none.</summary>
    internal static void AppendEscaped(StringBuilder sb, char c)
    {
        switch (c)
        {
            case '"': sb.Append("\\\""); break;
            case '\\': sb.Append("\\\\"); break;
            case '\n': sb.Append("\\n"); break;
            case '\r': sb.Append("\\r"); break;
            case '\t': sb.Append("\\t"); break;
            case '\b': sb.Append("\\b"); break;
            case '\f': sb.Append("\\f"); break;
            default:
                if (c < 0x20)
                {
                    sb.Append("\\u00").Append(HexLower(c >> 4)).Append(HexLower(c & 0xF));
                }
                else
                {
                    sb.Append(c);
                }

                break;
        }
    }

    private static char HexLower(int nibble) => (char)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);
}
