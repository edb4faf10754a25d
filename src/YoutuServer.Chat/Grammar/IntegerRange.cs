using System.Globalization;
using System.Numerics;
using System.Text;

namespace YoutuServer.Chat.Grammar;

/// <summary>
/// GBNF for the decimal integers in a closed range, without leading zeros (JSON spelling).
/// Magnitudes are capped at 19 digits, the same cap as the plain <c>integer</c> rule.
/// </summary>
internal static class IntegerRange
{
    public const int MaxDigits = 19;

    public static readonly BigInteger Largest = BigInteger.Pow(10, MaxDigits) - 1;

    /// <summary>Rule body for integers in [<paramref name="lo"/>, <paramref name="hi"/>]; null bounds are open.</summary>
    public static string Build(BigInteger? lo, BigInteger? hi)
    {
        var low = lo is { } l && l > -Largest ? l : -Largest;
        var high = hi is { } h && h < Largest ? h : Largest;
        var parts = new List<string>(2);
        if (low < 0)
        {
            var absHigh = -low;
            var absLow = high < 0 ? -high : BigInteger.One;
            parts.Add("\"-\" ( " + NonNegative(absLow, absHigh) + " )");
        }

        if (high >= 0)
        {
            parts.Add(NonNegative(BigInteger.Max(low, BigInteger.Zero), high));
        }

        return string.Join(" | ", parts);
    }

    private static string NonNegative(BigInteger a, BigInteger b)
    {
        var alternatives = new List<string>();
        var da = Digits(a);
        var db = Digits(b);
        var d = da;
        while (d <= db)
        {
            var blockLow = d == 1 ? BigInteger.Zero : BigInteger.Pow(10, d - 1);
            var blockHigh = BigInteger.Pow(10, d) - 1;
            var from = BigInteger.Max(a, blockLow);
            var to = BigInteger.Min(b, blockHigh);
            if (d > 1 && from == blockLow && to == blockHigh)
            {
                // Whole digit-length blocks in a row collapse into one [1-9] [0-9]{m,n}.
                var last = d;
                while (last + 1 <= db && BigInteger.Min(b, BigInteger.Pow(10, last + 1) - 1) == BigInteger.Pow(10, last + 1) - 1)
                {
                    last++;
                }

                alternatives.Add("[1-9] " + DigitRun(d - 1, last - 1));
                d = last + 1;
                continue;
            }

            alternatives.Add(SameLength(from.ToString(CultureInfo.InvariantCulture), to.ToString(CultureInfo.InvariantCulture)));
            d++;
        }

        return string.Join(" | ", alternatives);
    }

    private static int Digits(BigInteger v) => v.IsZero ? 1 : v.ToString(CultureInfo.InvariantCulture).Length;

    private static string DigitRun(int min, int max)
    {
        var inv = CultureInfo.InvariantCulture;
        if (min == max)
        {
            return min == 1 ? "[0-9]" : $"[0-9]{{{min.ToString(inv)}}}";
        }

        return $"[0-9]{{{min.ToString(inv)},{max.ToString(inv)}}}";
    }

    private static string Range(char from, char to) => from == to ? $"\"{from}\"" : $"[{from}-{to}]";

    /// <summary>Numbers from <paramref name="x"/> to <paramref name="y"/>, both with the same number of digits.</summary>
    private static string SameLength(string x, string y)
    {
        if (x == y)
        {
            return "\"" + x + "\"";
        }

        var i = 0;
        while (x[i] == y[i])
        {
            i++;
        }

        var sb = new StringBuilder();
        if (i > 0)
        {
            sb.Append('"').Append(x, 0, i).Append("\" ");
        }

        var xr = x[(i + 1)..];
        var yr = y[(i + 1)..];
        if (xr.Length == 0)
        {
            sb.Append(Range(x[i], y[i]));
            return sb.ToString();
        }

        var alternatives = new List<string>(3);
        var midLow = x[i];
        var midHigh = y[i];
        if (xr.Trim('0').Length != 0)
        {
            alternatives.Add($"\"{x[i]}\" ( {SameLength(xr, new string('9', xr.Length))} )");
            midLow++;
        }

        string? top = null;
        if (yr.Trim('9').Length != 0)
        {
            top = $"\"{y[i]}\" ( {SameLength(new string('0', yr.Length), yr)} )";
            midHigh--;
        }

        if (midLow <= midHigh)
        {
            alternatives.Add(Range(midLow, midHigh) + " " + DigitRun(xr.Length, xr.Length));
        }

        if (top is not null)
        {
            alternatives.Add(top);
        }

        sb.Append("( ").Append(string.Join(" | ", alternatives)).Append(" )");
        return sb.ToString();
    }
}
