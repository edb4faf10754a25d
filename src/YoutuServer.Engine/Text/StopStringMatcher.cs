using System.Text;

namespace YoutuServer.Engine.Text;

/// <summary>
/// Finds stop strings in streamed text without leaking them: text that could still be the start of a
/// stop string is held back until the next delta decides it. The stop string itself is never emitted.
/// </summary>
public sealed class StopStringMatcher
{
    private readonly string[] stops;
    private readonly int maxLen;
    private readonly StringBuilder pending = new();

    public StopStringMatcher(IReadOnlyList<string> stopStrings)
    {
        stops = stopStrings.Where(s => s.Length > 0).ToArray();
        maxLen = stops.Length == 0 ? 0 : stops.Max(s => s.Length);
    }

    public bool IsEmpty => stops.Length == 0;

    /// <summary>The stop string that ended generation (the earliest in the text), once <see cref="Push"/> reported a stop.</summary>
    public string? Matched { get; private set; }

    /// <summary>Appends a delta. Returns the text safe to emit; <paramref name="stopped"/> when a stop string completed.</summary>
    public string Push(string delta, out bool stopped)
    {
        stopped = false;
        if (stops.Length == 0)
        {
            return delta;
        }

        pending.Append(delta);
        var text = pending.ToString();
        var first = -1;
        string? matched = null;
        foreach (var s in stops)
        {
            var i = text.IndexOf(s, StringComparison.Ordinal);
            if (i >= 0 && (first < 0 || i < first))
            {
                first = i;
                matched = s;
            }
        }

        if (first >= 0)
        {
            stopped = true;
            Matched = matched;
            pending.Clear();
            return text[..first];
        }

        // Hold back the longest suffix that is a proper prefix of some stop string.
        var hold = 0;
        for (var len = Math.Min(maxLen - 1, text.Length); len > 0; len--)
        {
            var suffix = text.AsSpan(text.Length - len);
            foreach (var s in stops)
            {
                if (s.AsSpan().StartsWith(suffix, StringComparison.Ordinal))
                {
                    hold = len;
                    break;
                }
            }

            if (hold > 0)
            {
                break;
            }
        }

        // Never split a surrogate pair between emitted and held-back text.
        var emitLen = text.Length - hold;
        if (emitLen > 0 && hold > 0 && char.IsHighSurrogate(text[emitLen - 1]))
        {
            emitLen--;
        }

        pending.Clear();
        pending.Append(text, emitLen, text.Length - emitLen);
        return text[..emitLen];
    }

    /// <summary>At the end of generation the held-back text was not a stop string after all.</summary>
    public string Flush()
    {
        var s = pending.ToString();
        pending.Clear();
        return s;
    }
}
