using System.Text.RegularExpressions;

namespace YoutuServer.Engine.Synthesis;

/// <summary>The tokenizer of the tiny synthetic model, ready for GGUF.</summary>
/// <param name="Tokens">Byte-level token texts, id order.</param>
/// <param name="TokenTypes">llama.cpp token types, same length.</param>
/// <param name="Merges">"left right" BPE merges, rank order.</param>
public sealed record SynthVocabulary(
    IReadOnlyList<string> Tokens,
    IReadOnlyList<int> TokenTypes,
    IReadOnlyList<string> Merges,
    IReadOnlyDictionary<string, int> SpecialTokenIds)
{
    public int BosTokenId => SpecialTokenIds[Gguf.YoutuSpecialTokens.BeginOfText];

    public int EosTokenId => SpecialTokenIds[Gguf.YoutuSpecialTokens.EndOfText];
}

/// <summary>
/// A small self-made byte-level BPE: the 256 GPT-2 byte tokens, a few hundred merges learned (deterministically)
/// from common English words, then the Youtu marker tokens. Plain English text tokenizes into multi-byte tokens.
/// </summary>
internal static partial class TinyVocabulary
{
    public const int TargetMerges = 400;

    // Common English (and chat/code) words, most frequent first; the rank sets the training weight.
    private const string Words =
        "the of and to a in is you that it he was for on are as with his they I at be this have from or one had by word " +
        "but not what all were we when your can said there use an each which she do how their if will up other about out " +
        "many then them these so some her would make like him into time has look two more write go see number no way " +
        "could people my than first water been call who oil its now find long down day did get come made may part over " +
        "new sound take only little work know place year live me back give most very after thing our just name good " +
        "sentence man think say great where help through much before line right too mean old any same tell boy follow " +
        "came want show also around form three small set put end does another well large must big even such because " +
        "turn here why ask went men read need land different home us move try kind hand picture again change off play " +
        "spell air away animal house point page letter mother answer found study still learn should world hello model " +
        "server token question please thank thanks assistant user function return value string list data file code " +
        "example test output input true false null weather today quick brown fox jumps lazy dog think reasoning tool " +
        "call response system message content chat language python json error request text";

    private static readonly Lazy<SynthVocabulary> Cached = new(Build);

    public static SynthVocabulary Instance => Cached.Value;

    [GeneratedRegex(@"'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", RegexOptions.CultureInvariant)]
    private static partial Regex PreTokenizer();

    private static SynthVocabulary Build()
    {
        var tokens = new List<string>(1024);
        var types = new List<int>(1024);
        var known = new HashSet<string>(StringComparer.Ordinal);
        foreach (var b in Gpt2ByteEncoding.OrderedBytes)
        {
            var t = Gpt2ByteEncoding.Map(b).ToString();
            tokens.Add(t);
            types.Add(Gguf.GgufTokenType.Normal);
            known.Add(t);
        }

        var merges = Train(TrainingWords());
        foreach (var m in merges)
        {
            var merged = m.Replace(" ", string.Empty, StringComparison.Ordinal);
            if (known.Add(merged))
            {
                tokens.Add(merged);
                types.Add(Gguf.GgufTokenType.Normal);
            }
        }

        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var s in Gguf.YoutuSpecialTokens.Control)
        {
            special[s] = tokens.Count;
            tokens.Add(s);
            types.Add(Gguf.GgufTokenType.Control);
        }

        foreach (var s in Gguf.YoutuSpecialTokens.UserDefined)
        {
            special[s] = tokens.Count;
            tokens.Add(s);
            types.Add(Gguf.GgufTokenType.UserDefined);
        }

        return new SynthVocabulary(tokens, types, merges, special);
    }

    /// <summary>Pre-tokenized training pieces (byte-level text) with weights.</summary>
    private static Dictionary<string, int> TrainingWords()
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        void Add(string text, int weight)
        {
            foreach (Match m in PreTokenizer().Matches(text))
            {
                var piece = Gpt2ByteEncoding.Encode(m.Value);
                counts[piece] = counts.GetValueOrDefault(piece) + weight;
            }
        }

        var words = Words.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        for (var rank = 0; rank < words.Length; rank++)
        {
            var w = words[rank];
            Add(" " + w, 2 + (600 / (rank + 1)));
            if (rank < 60)
            {
                // Sentence starts: capitalized, no leading space.
                Add(char.ToUpperInvariant(w[0]) + w[1..], 2 + (120 / (rank + 1)));
            }
        }

        Add(".\n\n", 20);
        Add(" ...", 5);
        Add(" ==", 4);
        Add(" =>", 4);
        Add(" ();", 4);
        Add(" **", 4);
        Add(" //", 4);
        Add("\n\n", 30);
        Add("    ", 10);
        return counts;
    }

    /// <summary>Classic BPE training: repeatedly merge the most frequent adjacent pair (ties broken ordinally).</summary>
    private static List<string> Train(Dictionary<string, int> pieceCounts)
    {
        // Sorted input order keeps training independent of dictionary enumeration order.
        var words = pieceCounts
            .OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (Symbols: kv.Key.Select(c => c.ToString()).ToList(), Count: kv.Value))
            .ToList();

        var merges = new List<string>(TargetMerges);
        var pairCounts = new Dictionary<(string, string), int>();
        while (merges.Count < TargetMerges)
        {
            pairCounts.Clear();
            foreach (var (symbols, count) in words)
            {
                for (var i = 0; i + 1 < symbols.Count; i++)
                {
                    var key = (symbols[i], symbols[i + 1]);
                    pairCounts[key] = pairCounts.GetValueOrDefault(key) + count;
                }
            }

            if (pairCounts.Count == 0)
            {
                break;
            }

            var best = pairCounts
                .OrderByDescending(kv => kv.Value)
                .ThenBy(kv => kv.Key.Item1, StringComparer.Ordinal)
                .ThenBy(kv => kv.Key.Item2, StringComparer.Ordinal)
                .First();
            if (best.Value < 2)
            {
                break;
            }

            var (left, right) = best.Key;
            merges.Add(left + " " + right);
            var joined = left + right;
            foreach (var (symbols, _) in words)
            {
                for (var i = 0; i + 1 < symbols.Count; i++)
                {
                    if (symbols[i] == left && symbols[i + 1] == right)
                    {
                        symbols[i] = joined;
                        symbols.RemoveAt(i + 1);
                    }
                }
            }
        }

        return merges;
    }
}
