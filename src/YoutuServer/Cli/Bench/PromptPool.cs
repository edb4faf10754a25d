using System.Net;
using System.Text;
using System.Text.Json;

namespace YoutuServer.Cli.Bench;

/// <summary>A prompt as sent: token ids (exact length) or text (approximate length).</summary>
internal sealed record BenchPrompt(int[]? Tokens, string? Text, int TargetTokens);

/// <summary>
/// Deterministic prompts of a given token length. The pool is a seeded stream of English words, tokenized once by
/// the server's own POST /tokenize (youtu-server and llama-server take "content", vLLM "prompt"); prompts are
/// slices of that token stream at seeded offsets, sent as token-id arrays to /v1/completions (as vLLM's random
/// dataset does), so lengths are exact and prompts rarely share a prefix by accident. Without /tokenize, or for
/// chat, prompts are text sized by the measured (or an assumed 1.3) tokens per word.
/// </summary>
internal sealed class PromptPool
{
    private static readonly string[] Words =
    [
        "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not", "he",
        "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were", "their",
        "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would", "who", "so",
        "no", "time", "people", "year", "way", "day", "man", "thing", "woman", "life", "child", "world", "school",
        "state", "family", "student", "group", "country", "problem", "hand", "part", "place", "case", "week",
        "company", "system", "program", "question", "work", "government", "number", "night", "point", "home",
        "water", "room", "mother", "area", "money", "story", "fact", "month", "lot", "right", "study", "book", "eye",
        "job", "word", "business", "issue", "side", "kind", "head", "house", "service", "friend", "father", "power",
        "hour", "game", "line", "end", "member", "law", "car", "city", "community", "name", "president", "team",
        "minute", "idea", "kid", "body", "information", "back", "parent", "face", "others", "level", "office", "door",
        "health", "person", "art", "war", "history", "party", "result", "change", "morning", "reason", "research",
        "girl", "guy", "moment", "air", "teacher", "force", "education", "river", "mountain", "light", "music",
        "quickly", "slowly", "bright", "green", "small", "large", "ancient", "modern", "quiet", "famous", "simple",
    ];

    private readonly int seed;
    private int[]? tokens;
    private string[] words = [];
    private double tokensPerWord = 1.3;

    public PromptPool(int seed) => this.seed = seed;

    public bool ExactTokens => tokens is not null;
    public double TokensPerWord => tokensPerWord;
    public string Source => tokens is not null ? $"token ids from the server's /tokenize ({tokens.Length:N0}-token pool)" : $"text, ~{tokensPerWord:F2} tokens per word";

    /// <summary>Builds a pool of at least <paramref name="minTokens"/> tokens when the server can tokenize.</summary>
    public async Task InitializeAsync(StreamingClient client, int minTokens, bool wantTokens, CancellationToken ct)
    {
        var rng = new Random(seed);
        var wordCount = Math.Max(512, minTokens);
        for (var attempt = 0; attempt < 6; attempt++)
        {
            words = Enumerable.Range(0, wordCount).Select(_ => Words[rng.Next(Words.Length)]).ToArray();
            var text = string.Join(' ', words);
            var ids = await TokenizeAsync(client, text, ct);
            if (ids is null)
            {
                return; // no tokenizer endpoint: text prompts with the default estimate
            }

            tokensPerWord = ids.Length / (double)words.Length;
            if (ids.Length >= minTokens)
            {
                tokens = wantTokens ? ids : null;
                return;
            }

            wordCount *= 2;
        }
    }

    private static async Task<int[]?> TokenizeAsync(StreamingClient client, string text, CancellationToken ct)
    {
        foreach (var field in new[] { "content", "prompt" })
        {
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms))
            {
                w.WriteStartObject();
                w.WriteString(field, text);
                w.WriteBoolean("add_special", false);
                w.WriteEndObject();
            }

            try
            {
                var (status, body) = await client.JsonAsync(HttpMethod.Post, "/tokenize", ms.ToArray(), ct);
                using (body)
                {
                    if (status == HttpStatusCode.OK && body?.RootElement is { ValueKind: JsonValueKind.Object } root
                        && root.TryGetProperty("tokens", out var arr) && arr.ValueKind == JsonValueKind.Array && arr.GetArrayLength() > 0)
                    {
                        var ids = new int[arr.GetArrayLength()];
                        var i = 0;
                        foreach (var e in arr.EnumerateArray())
                        {
                            // llama-server with_pieces returns objects; plain ids otherwise.
                            var id = e.ValueKind == JsonValueKind.Object && e.TryGetProperty("id", out var idEl) ? idEl : e;
                            if (id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out ids[i++]))
                            {
                                return null;
                            }
                        }

                        return ids;
                    }
                }
            }
            catch (HttpRequestException)
            {
                return null;
            }
        }

        return null;
    }

    /// <summary>A prompt of <paramref name="length"/> tokens starting at a random place in the pool.</summary>
    public BenchPrompt Make(int length, Random rng, bool asText = false)
    {
        if (tokens is not null && !asText)
        {
            var start = rng.Next(tokens.Length);
            var ids = new int[length];
            for (var i = 0; i < length; i++)
            {
                ids[i] = tokens[(start + i) % tokens.Length];
            }

            return new BenchPrompt(ids, null, length);
        }

        var n = Math.Max(1, (int)Math.Round(length / tokensPerWord));
        var from = rng.Next(words.Length);
        var sb = new StringBuilder();
        for (var i = 0; i < n; i++)
        {
            if (i > 0)
            {
                sb.Append(' ');
            }

            sb.Append(words[(from + i) % words.Length]);
        }

        return new BenchPrompt(null, sb.ToString(), length);
    }

    /// <summary><paramref name="count"/> words of the pool's text, starting at a random place.</summary>
    public string WordText(int count, Random rng)
    {
        var from = rng.Next(words.Length);
        return string.Join(' ', Enumerable.Range(0, count).Select(i => words[(from + i) % words.Length]));
    }

    /// <summary>How many tokens the server's tokenizer makes of <paramref name="text"/> (null without /tokenize).</summary>
    public static async Task<int?> CountTokensAsync(StreamingClient client, string text, CancellationToken ct) =>
        (await TokenizeAsync(client, text, ct))?.Length;

    /// <summary>The same prompt followed by <paramref name="extra"/> more tokens (a conversation's next turn).</summary>
    public BenchPrompt Extend(BenchPrompt p, int extra, Random rng)
    {
        var more = Make(extra, rng, asText: p.Tokens is null);
        return p.Tokens is { } t
            ? new BenchPrompt([.. t, .. more.Tokens!], null, p.TargetTokens + extra)
            : new BenchPrompt(null, p.Text + " " + more.Text, p.TargetTokens + extra);
    }
}
