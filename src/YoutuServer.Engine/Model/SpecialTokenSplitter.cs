using System.Buffers;

namespace YoutuServer.Engine.Model;

/// <summary>
/// Cuts text at the special tokens' texts in one left-to-right pass, so each stretch between them is tokenized on
/// its own. llama.cpp's own split (parse_special) searches, for every special token and every fragment, from the
/// fragment to the end of the whole text: a prompt of 20,000 short messages then took 10-20 s to tokenize. Its
/// result is the same, because llama.cpp tokenizes the stretches between special tokens independently too.
/// </summary>
internal sealed class SpecialTokenSplitter
{
    private readonly Dictionary<char, (string Text, int Id)[]> byFirstChar;
    private readonly SearchValues<char> firstChars;

    public SpecialTokenSplitter(IEnumerable<(string Text, int Id)> specials)
    {
        // Longest first at each position, as llama.cpp tries longer special tokens before shorter ones.
        byFirstChar = specials.Where(s => s.Text.Length > 0)
            .GroupBy(s => s.Text[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(s => s.Text.Length).ThenBy(s => s.Id).ToArray());
        firstChars = SearchValues.Create([.. byFirstChar.Keys]);
    }

    public bool IsEmpty => byFirstChar.Count == 0;

    /// <summary>Segments in order: plain text (Id = -1) and special tokens (their id).</summary>
    public List<(int Start, int Length, int Id)> Split(string text)
    {
        var parts = new List<(int Start, int Length, int Id)>();
        var plainStart = 0;
        var i = 0;
        while (i < text.Length)
        {
            var k = text.AsSpan(i).IndexOfAny(firstChars);
            if (k < 0)
            {
                break;
            }

            i += k;
            var matched = false;
            foreach (var (t, id) in byFirstChar[text[i]])
            {
                if (i + t.Length <= text.Length && string.CompareOrdinal(text, i, t, 0, t.Length) == 0)
                {
                    if (i > plainStart)
                    {
                        parts.Add((plainStart, i - plainStart, -1));
                    }

                    parts.Add((i, t.Length, id));
                    i += t.Length;
                    plainStart = i;
                    matched = true;
                    break;
                }
            }

            if (!matched)
            {
                i++;
            }
        }

        if (plainStart < text.Length)
        {
            parts.Add((plainStart, text.Length - plainStart, -1));
        }

        return parts;
    }
}
