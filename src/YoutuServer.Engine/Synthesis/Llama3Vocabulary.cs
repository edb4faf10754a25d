using System.Text.RegularExpressions;
using YoutuServer.Engine.Gguf;

namespace YoutuServer.Engine.Synthesis;

/// <summary>
/// Imports the Llama-3 BPE vocabulary (128,256 tokens, same size and BOS/EOS ids as Youtu's) from llama.cpp's
/// ggml-vocab-llama-bpe.gguf and renames reserved special tokens so every Youtu marker is a single token.
/// </summary>
public static partial class Llama3Vocabulary
{
    public const string FileName = "ggml-vocab-llama-bpe.gguf";
    public const int ExpectedTokenCount = 128256;
    public const int BosId = 128000;
    public const int EosId = 128001;

    [GeneratedRegex(@"^<\|reserved_special_token_\d+\|>$", RegexOptions.CultureInvariant)]
    private static partial Regex ReservedToken();

    /// <summary>Where the vocabulary is looked for when no explicit path is given, in order.</summary>
    public static IReadOnlyList<string> CandidatePaths()
    {
        var list = new List<string>();
        var env = Environment.GetEnvironmentVariable("YOUTU_NATIVE_DIR");
        if (!string.IsNullOrEmpty(env))
        {
            list.Add(Path.Combine(env, FileName));
        }

        var baseDir = AppContext.BaseDirectory;
        list.Add(Path.Combine(baseDir, FileName));
        list.Add(Path.Combine(baseDir, "llama", FileName));
        list.Add(Path.Combine(baseDir, "native", "linux-x64", FileName));

        // A source checkout: native/linux-x64 at the repository root, above bin/ or the working directory.
        foreach (var start in new[] { baseDir, Environment.CurrentDirectory })
        {
            var dir = new DirectoryInfo(start);
            for (var depth = 0; dir is not null && depth < 8; depth++, dir = dir.Parent)
            {
                list.Add(Path.Combine(dir.FullName, "native", "linux-x64", FileName));
            }
        }

        return list.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>The explicit path if given (it must exist), else the first candidate that exists, else null.</summary>
    public static string? Find(string? explicitPath)
    {
        if (!string.IsNullOrEmpty(explicitPath))
        {
            return File.Exists(explicitPath) ? Path.GetFullPath(explicitPath) : null;
        }

        return CandidatePaths().FirstOrDefault(File.Exists);
    }

    /// <summary>Loads and adapts the vocabulary; throws <see cref="FileNotFoundException"/> or <see cref="InvalidDataException"/> with a clear message.</summary>
    public static SynthVocabulary Load(string? explicitPath)
    {
        var path = Find(explicitPath) ?? throw new FileNotFoundException(
            string.IsNullOrEmpty(explicitPath)
                ? $"The Llama-3 vocabulary '{FileName}' needed for the 2b preset was not found (looked in: {string.Join(", ", CandidatePaths())}). Run scripts/fetch-native.sh or pass its path."
                : $"The Llama-3 vocabulary '{explicitPath}' needed for the 2b preset does not exist.",
            explicitPath ?? FileName);

        GgufFile file;
        try
        {
            file = GgufReader.Read(path);
        }
        catch (GgufFormatException e)
        {
            throw new InvalidDataException($"'{path}' is not a readable GGUF vocabulary: {e.Message}", e);
        }

        if (!file.TryGetArray(GgufKeys.Tokens, out var tokenArray) || tokenArray.ElementType != GgufValueType.String ||
            !file.TryGetArray(GgufKeys.Merges, out var mergeArray) || mergeArray.ElementType != GgufValueType.String ||
            !file.TryGetArray(GgufKeys.TokenType, out var typeArray) || typeArray.ElementType != GgufValueType.Int32)
        {
            throw new InvalidDataException($"'{path}' lacks the tokens/merges/token_type arrays of a BPE vocabulary.");
        }

        var tokens = tokenArray.Strings.ToArray();
        var types = typeArray.Int32s.ToArray();
        if (tokens.Length != ExpectedTokenCount || types.Length != tokens.Length ||
            tokens[BosId] != YoutuSpecialTokens.BeginOfText || tokens[EosId] != YoutuSpecialTokens.EndOfText)
        {
            throw new InvalidDataException(
                $"'{path}' is not the Llama-3 vocabulary: expected {ExpectedTokenCount} tokens with {YoutuSpecialTokens.BeginOfText} at {BosId} and {YoutuSpecialTokens.EndOfText} at {EosId}.");
        }

        var special = new Dictionary<string, int>(StringComparer.Ordinal)
        {
            [YoutuSpecialTokens.BeginOfText] = BosId,
            [YoutuSpecialTokens.EndOfText] = EosId,
        };
        types[BosId] = GgufTokenType.Control;
        types[EosId] = GgufTokenType.Control;

        // Youtu's real ids for the other markers are unknown (youtu.md §2.4): take reserved slots in id order.
        var pending = new Queue<string>(YoutuSpecialTokens.All.Where(s => !special.ContainsKey(s)));
        var existing = new HashSet<string>(tokens, StringComparer.Ordinal);
        foreach (var marker in pending)
        {
            if (existing.Contains(marker))
            {
                throw new InvalidDataException($"'{path}' already contains '{marker}'; renaming a reserved token to it would duplicate it.");
            }
        }

        for (var id = BosId; id < tokens.Length && pending.Count > 0; id++)
        {
            if (!ReservedToken().IsMatch(tokens[id]))
            {
                continue;
            }

            var marker = pending.Dequeue();
            tokens[id] = marker;
            types[id] = YoutuSpecialTokens.UserDefined.Contains(marker) ? GgufTokenType.UserDefined : GgufTokenType.Control;
            special[marker] = id;
        }

        if (pending.Count > 0)
        {
            throw new InvalidDataException($"'{path}' has too few reserved special tokens to hold the Youtu markers.");
        }

        return new SynthVocabulary(tokens, types, mergeArray.Strings, special);
    }
}
