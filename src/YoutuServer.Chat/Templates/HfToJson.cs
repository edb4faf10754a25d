using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using YoutuServer.Chat.Grammar;
using YoutuServer.Chat.Messages;

namespace YoutuServer.Chat.Templates;

/// <summary>
/// Hugging Face's <c>tojson</c> chat-template filter over a <see cref="JsonElement"/>: the text Python produces with
/// <c>json.dumps(json.loads(raw), ensure_ascii=False)</c>. That means separators <c>", "</c> and <c>": "</c>, key order
/// kept, duplicate keys collapsed the way a Python dict does (first position, last value), only <c>"</c>, <c>\</c> and
/// C0 controls escaped, integers echoed exactly, and floats printed with Python's <c>repr</c>.
/// </summary>
public static class HfToJson
{
    // Characters Python's encoder escapes when ensure_ascii=False.
    private static readonly SearchValues<char> Escaped = SearchValues.Create(
        "\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f" +
        "\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f\"\\");

    public static string Serialize(JsonElement value)
    {
        var sb = new StringBuilder();
        Append(sb, value);
        return sb.ToString();
    }

    /// <exception cref="ChatTemplateException"><paramref name="value"/> is <c>default(JsonElement)</c> (Jinja's Undefined).</exception>
    public static void Append(StringBuilder sb, JsonElement value)
    {
        ArgumentNullException.ThrowIfNull(sb);
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                AppendObject(sb, value);
                break;
            case JsonValueKind.Array:
                AppendArray(sb, value);
                break;
            case JsonValueKind.String:
                AppendString(sb, value.GetString()!);
                break;
            case JsonValueKind.Number:
                AppendNumber(sb, JsonMarshal.GetRawUtf8Value(value));
                break;
            case JsonValueKind.True:
                sb.Append("true");
                break;
            case JsonValueKind.False:
                sb.Append("false");
                break;
            case JsonValueKind.Null:
                sb.Append("null");
                break;
            default:
                throw new ChatTemplateException("Object of type Undefined is not JSON serializable (a required JSON value is missing).");
        }
    }

    /// <summary>Appends <paramref name="value"/> as a Python <c>json.dumps</c> string literal (quotes included).</summary>
    public static void AppendString(StringBuilder sb, string value)
    {
        ArgumentNullException.ThrowIfNull(sb);
        ArgumentNullException.ThrowIfNull(value);
        sb.Append('"');
        var rest = value.AsSpan();
        while (true)
        {
            int i = rest.IndexOfAny(Escaped);
            if (i < 0)
            {
                sb.Append(rest);
                break;
            }

            sb.Append(rest[..i]);
            JsonText.AppendEscaped(sb, rest[i]);
            rest = rest[(i + 1)..];
        }

        sb.Append('"');
    }

    private static void AppendArray(StringBuilder sb, JsonElement array)
    {
        sb.Append('[');
        bool first = true;
        foreach (var item in array.EnumerateArray())
        {
            if (!first)
            {
                sb.Append(", ");
            }

            first = false;
            Append(sb, item);
        }

        sb.Append(']');
    }

    private static void AppendObject(StringBuilder sb, JsonElement obj)
    {
        var props = new List<JsonProperty>();
        foreach (var p in obj.EnumerateObject())
        {
            props.Add(p);
        }

        sb.Append('{');
        if (props.Count > 1 && HasDuplicateNames(props))
        {
            AppendDeduplicated(sb, props);
        }
        else
        {
            for (int i = 0; i < props.Count; i++)
            {
                AppendMember(sb, i == 0, props[i].Name, props[i].Value);
            }
        }

        sb.Append('}');
    }

    private static bool HasDuplicateNames(List<JsonProperty> props)
    {
        var seen = new HashSet<string>(props.Count, StringComparer.Ordinal);
        foreach (var p in props)
        {
            if (!seen.Add(p.Name))
            {
                return true;
            }
        }

        return false;
    }

    // json.loads builds a dict: a repeated key keeps its first position and takes the last value.
    private static void AppendDeduplicated(StringBuilder sb, List<JsonProperty> props)
    {
        var order = new List<string>(props.Count);
        var values = new Dictionary<string, JsonElement>(props.Count, StringComparer.Ordinal);
        foreach (var p in props)
        {
            if (!values.ContainsKey(p.Name))
            {
                order.Add(p.Name);
            }

            values[p.Name] = p.Value;
        }

        for (int i = 0; i < order.Count; i++)
        {
            AppendMember(sb, i == 0, order[i], values[order[i]]);
        }
    }

    private static void AppendMember(StringBuilder sb, bool first, string name, JsonElement value)
    {
        if (!first)
        {
            sb.Append(", ");
        }

        AppendString(sb, name);
        sb.Append(": ");
        Append(sb, value);
    }

    private static void AppendNumber(StringBuilder sb, ReadOnlySpan<byte> raw)
    {
        // json.loads makes an int unless the literal has a fraction or an exponent.
        if (raw.IndexOfAny(".eE"u8) < 0)
        {
            // Valid JSON ints have no leading zeros, so the text is Python's repr, except that -0 is 0.
            if (raw.SequenceEqual("-0"u8))
            {
                sb.Append('0');
                return;
            }

            foreach (byte b in raw)
            {
                sb.Append((char)b);
            }

            return;
        }

        // Overflow parses to ±Infinity and underflow to ±0, as Python's float() does.
        double d = double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture);
        AppendPythonFloat(sb, d);
    }

    /// <summary>Appends <paramref name="value"/> as Python's <c>json.dumps</c> writes a float (<c>float.__repr__</c>, plus NaN/Infinity).</summary>
    public static void AppendPythonFloat(StringBuilder sb, double value)
    {
        ArgumentNullException.ThrowIfNull(sb);
        if (double.IsNaN(value))
        {
            sb.Append("NaN");
            return;
        }

        if (double.IsInfinity(value))
        {
            sb.Append(value > 0 ? "Infinity" : "-Infinity");
            return;
        }

        // .NET's "R" is the shortest round-trip digit string, as is Python's repr (dtoa mode 0);
        // only the layout differs, so take the digits and decimal exponent and lay them out Python's way.
        Span<char> text = stackalloc char[40];
        if (!value.TryFormat(text, out int len, "R", CultureInfo.InvariantCulture))
        {
            throw new InvalidOperationException("double formatting overflowed its buffer");
        }

        text = text[..len];
        bool negative = text[0] == '-';
        if (negative)
        {
            text = text[1..];
        }

        int ePos = text.IndexOfAny('E', 'e');
        int exponent = 0;
        var mantissa = text;
        if (ePos >= 0)
        {
            exponent = int.Parse(text[(ePos + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            mantissa = text[..ePos];
        }

        // Collect the significant digits; decpt is where the decimal point sits relative to them (value = 0.DIGITS × 10^decpt).
        Span<char> digits = stackalloc char[40];
        int nd = 0;
        int pointAt = -1;
        foreach (char c in mantissa)
        {
            if (c == '.')
            {
                pointAt = nd;
            }
            else
            {
                digits[nd++] = c;
            }
        }

        int decpt = (pointAt < 0 ? nd : pointAt) + exponent;
        int start = 0;
        while (start < nd && digits[start] == '0')
        {
            start++;
            decpt--;
        }

        while (nd > start && digits[nd - 1] == '0')
        {
            nd--;
        }

        ReadOnlySpan<char> sig = digits[start..nd];
        if (sig.IsEmpty)
        {
            // Zero: dtoa yields "0" with decpt 1.
            sig = "0";
            decpt = 1;
        }

        if (negative)
        {
            sb.Append('-');
        }

        // Python's 'r' formatting: exponent notation when decpt <= -4 or decpt > 16.
        if (decpt <= -4 || decpt > 16)
        {
            sb.Append(sig[0]);
            if (sig.Length > 1)
            {
                sb.Append('.').Append(sig[1..]);
            }

            int e = decpt - 1;
            sb.Append('e').Append(e < 0 ? '-' : '+');
            int abs = Math.Abs(e);
            if (abs < 10)
            {
                sb.Append('0');
            }

            sb.Append(abs.ToString(CultureInfo.InvariantCulture));
        }
        else if (decpt <= 0)
        {
            sb.Append("0.").Append('0', -decpt).Append(sig);
        }
        else if (decpt >= sig.Length)
        {
            sb.Append(sig).Append('0', decpt - sig.Length).Append(".0");
        }
        else
        {
            sb.Append(sig[..decpt]).Append('.').Append(sig[decpt..]);
        }
    }
}
