using System.Globalization;

namespace YoutuServer.Engine.Gguf;

/// <summary>
/// The safe-loading gate. llama.cpp calls abort() on several malformed files (a missing rope.dimension_count or
/// key_length, head_count_kv != 1 with split k_b/v_b, duplicate tokens, ...), which kills the whole server, so every
/// file is checked here first: structure, architecture, required keys and their types, hyper-parameter sanity,
/// the tokenizer, and the exact shape, type and placement of every tensor. Never throws for any input bytes.
/// </summary>
public sealed class ModelValidator
{
    public const int MaxContextLength = 1 << 24;
    public const int MaxEmbeddingLength = 1 << 16;
    public const int MaxBlockCount = 512; // LLAMA_MAX_LAYERS
    public const int MaxHeadCount = 1024;
    public const int MaxRank = 1 << 16;
    public const int MaxFeedForwardLength = 1 << 20;
    public const int MaxVocabSize = 1 << 24;

    /// <summary>Values of <c>tokenizer.ggml.pre</c> the pinned llama-vocab.cpp accepts (others make loading fail).</summary>
    private static readonly HashSet<string> KnownPreTokenizers = new(StringComparer.Ordinal)
    {
        "default", "minicpm5", "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
        "jina-v5-nano", "deepseek-llm", "deepseek-coder", "deepseek-v3", "spark2_5", "youtu", "falcon", "mpt", "starcoder",
        "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert",
        "jais-2", "gemma4", "granite-embed-multi-311m", "sarvam-moe", "jina-v1-en", "jina-v2-code", "roberta-bpe",
        "whitespace", "refact", "command-r", "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "qwen35", "stablelm2", "olmo",
        "dbrx", "smaug-bpe", "poro-chat", "glm4", "chatglm-bpe", "viking", "jais", "tekken", "smollm", "codeshell", "bloom",
        "gpt3-finnish", "exaone", "exaone4", "exaone-moe", "chameleon", "minerva-7b", "megrez", "gpt-4o", "llama4",
        "kanana2", "talkie", "granite-embed-multi-97m", "tiny_aya", "cohere2moe", "superbpe", "trillion", "granite-docling",
        "bailingmoe", "bailingmoe2", "llada-moe", "seed-coder", "hunyuan", "hunyuan-dense", "hy_v4", "joyai-llm", "kimi-k2",
        "ufakzeka", "grok-2", "afmoe", "laguna", "minimax-m2", "solar-open", "mellum2",
    };

    private static readonly HashSet<string> KnownRopeScalingTypes = new(StringComparer.Ordinal) { "none", "linear", "yarn", "longrope" };

    public static ModelValidator Default { get; } = new();

    public ValidationResult Validate(string path)
    {
        var shown = path ?? string.Empty;
        try
        {
            if (string.IsNullOrWhiteSpace(path))
            {
                return Failed(shown, ValidationCode.MissingFile, "no model path given");
            }

            if (Directory.Exists(path))
            {
                return Failed(shown, ValidationCode.MissingFile, "the path is a directory, not a model file");
            }

            if (!File.Exists(path))
            {
                return Failed(shown, ValidationCode.MissingFile, "model file not found");
            }

            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, FileOptions.RandomAccess);
            return Validate(stream, path);
        }
        catch (Exception e)
        {
            return Failed(shown, ValidationCode.Unreadable, $"cannot read the model file: {e.Message}");
        }
    }

    /// <summary>Validates a GGUF image in a seekable stream (read from position 0).</summary>
    public ValidationResult Validate(Stream stream, string displayName = "<stream>")
    {
        var shown = displayName ?? "<stream>";
        return ValidationCodes.ReadAndCheck(() => GgufReader.Read(stream), "model", file => new Checker(file, shown).Run(), (code, message) => Failed(shown, code, message));
    }

    /// <summary>Validates an already parsed file (e.g. a header-only image); data placement is checked against <see cref="GgufFile.FileLength"/>.</summary>
    public ValidationResult Validate(GgufFile file, string displayName = "<gguf>")
    {
        ArgumentNullException.ThrowIfNull(file);
        var shown = displayName ?? "<gguf>";
        return ValidationCodes.Check(file, f => new Checker(f, shown).Run(), (code, message) => Failed(shown, code, message));
    }

    /// <summary>Problems with where the tensor data lies (bounds, alignment, overlap, packing), for any GGUF.</summary>
    internal static List<(ValidationCode Code, string Message)> PlacementProblems(GgufFile file)
    {
        var problems = new List<(ValidationCode, string)>();
        Checker.CheckPlacement(file, problems);
        return problems;
    }

    private static ValidationResult Failed(string path, ValidationCode code, string message) =>
        new(path, [(code, message)], [], null);

    private sealed class Checker(GgufFile f, string path)
    {
        private readonly List<(ValidationCode, string)> problems = [];
        private readonly List<string> warnings = [];

        private bool Failed => problems.Count > 0;

        public ValidationResult Run()
        {
            var hp = CheckHeaderAndHyperParameters(out var tokenizer);
            if (!Failed && hp is not null && tokenizer is not null)
            {
                CheckTensors(hp);
            }

            if (Failed || hp is null || tokenizer is null)
            {
                return new ValidationResult(path, problems, warnings, null);
            }

            var summary = new ModelSummary
            {
                Architecture = GgufKeys.Deepseek2,
                Name = f.Find(GgufKeys.Name)?.AsString(),
                GgufVersion = f.Version,
                FileType = FileTypeName(),
                HyperParameters = hp,
                ParameterCount = f.ParameterCount,
                TensorCount = f.Tensors.Count,
                KeyValueCount = f.Metadata.Count,
                TensorDataBytes = f.Tensors.Sum(t => t.ByteSize),
                FileLength = f.FileLength,
                TiedEmbeddings = f.FindTensor("output.weight") is null,
                TokenizerPre = f.Find(GgufKeys.TokenizerPre)?.AsString(),
                BosTokenId = f.TryGetUInt32(GgufKeys.BosTokenId, out var bos) ? (int)bos : null,
                EosTokenId = f.TryGetUInt32(GgufKeys.EosTokenId, out var eos) ? (int)eos : null,
                AddBosToken = f.TryGetBool(GgufKeys.AddBosToken, out var addBos) ? addBos : null,
                HasChatTemplate = f.Find(GgufKeys.ChatTemplate)?.AsString() is not null,
                MarkerTokenIds = tokenizer,
            };
            return new ValidationResult(path, problems, warnings, summary);
        }

        private void Problem(ValidationCode code, string message) => problems.Add((code, message));

        // ---------------------------------------------------------------- keys

        private Deepseek2HyperParameters? CheckHeaderAndHyperParameters(out IReadOnlyDictionary<string, int>? markers)
        {
            markers = null;
            if (!f.TryGetValue(GgufKeys.Architecture, out var archValue))
            {
                Problem(ValidationCode.MissingKey, $"missing required key '{GgufKeys.Architecture}'");
                return null;
            }

            if (archValue.AsString() is not { } arch)
            {
                Problem(ValidationCode.WrongKeyType, $"key '{GgufKeys.Architecture}' has type {archValue.TypeName}, expected str");
                return null;
            }

            if (arch != GgufKeys.Deepseek2)
            {
                Problem(ValidationCode.UnsupportedArchitecture,
                    $"unsupported architecture '{Shorten(arch)}': only '{GgufKeys.Deepseek2}' (Youtu-LLM, dense MLA) is supported");
                return null;
            }

            // Required keys: llama.cpp fails or aborts without each of them (native.md §3).
            var ctx = RequiredU32(GgufKeys.ContextLength, "llama.cpp: key not found");
            var embd = RequiredU32(GgufKeys.EmbeddingLength, "llama.cpp: key not found");
            var layers = RequiredU32(GgufKeys.BlockCount, "llama.cpp: key not found");
            var ff = RequiredU32(GgufKeys.FeedForwardLength, "the FFN tensors would get a zero dimension");
            var heads = RequiredU32(GgufKeys.HeadCount, "attn_q_b would get a zero dimension");
            var headsKv = RequiredU32(GgufKeys.HeadCountKv, "it defaults to head_count and context creation aborts");
            var dense = RequiredU32(GgufKeys.LeadingDenseBlockCount, "without it every layer is treated as MoE");
            var qLora = RequiredU32(GgufKeys.QLoraRank, "llama.cpp: key not found");
            var kvLora = RequiredU32(GgufKeys.KvLoraRank, "llama.cpp: key not found");
            RequiredU32(GgufKeys.ExpertFeedForwardLength, "llama.cpp requires it even for dense models");
            RequiredU32(GgufKeys.ExpertSharedCount, "llama.cpp requires it even for dense models");
            var rope = RequiredU32(GgufKeys.RopeDimensionCount, "llama.cpp aborts the process without it");
            var keyLen = RequiredU32(GgufKeys.KeyLength, "it defaults to n_embd/n_head and context creation aborts");
            var keyLenMla = RequiredU32(GgufKeys.KeyLengthMla, "without it the split attn_k_b/attn_v_b layout is not used");
            var valueLenMla = RequiredU32(GgufKeys.ValueLengthMla, "without it the split attn_k_b/attn_v_b layout is not used");
            var eps = Required(GgufKeys.RmsEpsilon, GgufValueType.Float32, "llama.cpp: key not found");

            var vocabSize = Optional(GgufKeys.VocabSize, GgufValueType.UInt32);
            var valueLen = Optional(GgufKeys.ValueLength, GgufValueType.UInt32);
            var freqBase = Optional(GgufKeys.RopeFreqBase, GgufValueType.Float32);
            var scaling = Optional(GgufKeys.RopeScalingType, GgufValueType.String);
            var experts = Optional(GgufKeys.ExpertCount, GgufValueType.UInt32);
            var expertsUsed = Optional(GgufKeys.ExpertUsedCount, GgufValueType.UInt32);
            var expertGroups = Optional(GgufKeys.ExpertGroupCount, GgufValueType.UInt32);
            var nextN = Optional(GgufKeys.NextNPredictLayers, GgufValueType.UInt32);
            Optional(GgufKeys.Name, GgufValueType.String);
            Optional(GgufKeys.FileType, GgufValueType.UInt32);

            CheckTokenizerKeyTypes();
            if (Failed)
            {
                return null;
            }

            // Sanity of values. Everything below is a u32 that was present with the right type.
            Range(GgufKeys.ContextLength, ctx!.Value, 1, MaxContextLength);
            Range(GgufKeys.EmbeddingLength, embd!.Value, 1, MaxEmbeddingLength);
            Range(GgufKeys.BlockCount, layers!.Value, 1, MaxBlockCount);
            Range(GgufKeys.FeedForwardLength, ff!.Value, 1, MaxFeedForwardLength);
            Range(GgufKeys.HeadCount, heads!.Value, 1, MaxHeadCount);
            Range(GgufKeys.QLoraRank, qLora!.Value, 1, MaxRank);
            Range(GgufKeys.KvLoraRank, kvLora!.Value, 1, MaxRank);
            Range(GgufKeys.RopeDimensionCount, rope!.Value, 2, MaxRank);
            Range(GgufKeys.KeyLengthMla, keyLenMla!.Value, 1, MaxRank);
            Range(GgufKeys.ValueLengthMla, valueLenMla!.Value, 1, MaxRank);
            if (Failed)
            {
                return null;
            }

            if (headsKv!.Value != 1)
            {
                Problem(ValidationCode.InvalidValue,
                    $"'{GgufKeys.HeadCountKv}' is {headsKv.Value}; the split attn_k_b/attn_v_b MLA layout needs 1 (llama.cpp aborts at context creation otherwise)");
            }

            if (embd.Value % heads.Value != 0)
            {
                Problem(ValidationCode.InvalidValue,
                    $"'{GgufKeys.EmbeddingLength}' {embd.Value} is not divisible by '{GgufKeys.HeadCount}' {heads.Value}");
            }

            if (dense!.Value != layers.Value)
            {
                Problem(ValidationCode.InvalidValue,
                    $"'{GgufKeys.LeadingDenseBlockCount}' is {dense.Value} but '{GgufKeys.BlockCount}' is {layers.Value}: only dense models (all layers dense) are supported, MoE layers are not");
            }

            if (layers.Value is 26 or 27)
            {
                Problem(ValidationCode.InvalidValue,
                    $"'{GgufKeys.BlockCount}' {layers.Value} selects llama.cpp's DeepSeek-V2-Lite layout, which ignores q_lora_rank; not supported");
            }

            if (rope.Value % 2 != 0)
            {
                Problem(ValidationCode.InvalidValue, $"'{GgufKeys.RopeDimensionCount}' {rope.Value} must be even");
            }

            if (keyLenMla.Value <= rope.Value)
            {
                Problem(ValidationCode.InvalidValue,
                    $"'{GgufKeys.KeyLengthMla}' {keyLenMla.Value} must exceed '{GgufKeys.RopeDimensionCount}' {rope.Value} (qk_nope_head_dim would be < 1; llama.cpp aborts)");
            }

            if (keyLen!.Value != kvLora.Value + rope.Value)
            {
                Problem(ValidationCode.InvalidValue,
                    $"'{GgufKeys.KeyLength}' is {keyLen.Value}, expected kv_lora_rank + rope.dimension_count = {kvLora.Value + rope.Value} (llama.cpp aborts at context creation otherwise)");
            }

            if (valueLen is not null && valueLen.Value != kvLora.Value)
            {
                Problem(ValidationCode.InvalidValue,
                    $"'{GgufKeys.ValueLength}' is {valueLen.Value}, expected kv_lora_rank = {kvLora.Value}");
            }

            MustBeZero(GgufKeys.ExpertCount, experts, "MoE models are not supported");
            MustBeZero(GgufKeys.ExpertUsedCount, expertsUsed, "llama.cpp asserts expert_used_count <= expert_count");
            MustBeZero(GgufKeys.ExpertGroupCount, expertGroups, "llama.cpp asserts expert_group_count == 0 without experts");
            MustBeZero(GgufKeys.NextNPredictLayers, nextN, "multi-token-prediction layers are not supported");

            var epsValue = BitConverter.UInt32BitsToSingle((uint)eps!.Value);
            if (!float.IsFinite(epsValue) || epsValue <= 0 || epsValue > 0.1f)
            {
                Problem(ValidationCode.InvalidValue,
                    string.Create(CultureInfo.InvariantCulture, $"'{GgufKeys.RmsEpsilon}' {epsValue} must be a small positive number"));
            }

            var baseValue = freqBase is null ? 10000f : BitConverter.UInt32BitsToSingle((uint)freqBase.Value);
            if (!float.IsFinite(baseValue) || baseValue <= 0)
            {
                Problem(ValidationCode.InvalidValue,
                    string.Create(CultureInfo.InvariantCulture, $"'{GgufKeys.RopeFreqBase}' {baseValue} must be a positive number"));
            }

            if (scaling is not null && f.Find(GgufKeys.RopeScalingType)!.AsString() is { } st && !KnownRopeScalingTypes.Contains(st))
            {
                Problem(ValidationCode.InvalidValue,
                    $"'{GgufKeys.RopeScalingType}' '{Shorten(st)}' is not one of none/linear/yarn/longrope (llama.cpp aborts)");
            }

            if (Failed)
            {
                return null;
            }

            var nVocab = CheckTokenizer(out markers);
            if (Failed)
            {
                return null;
            }

            if (vocabSize is not null && vocabSize.Value != (ulong)nVocab)
            {
                Problem(ValidationCode.InvalidValue,
                    $"'{GgufKeys.VocabSize}' is {vocabSize.Value} but '{GgufKeys.Tokens}' holds {nVocab} tokens");
            }

            if (layers.Value == 48 && nVocab == 128256)
            {
                Problem(ValidationCode.InvalidValue,
                    $"48 layers with a 128256-token vocabulary selects llama.cpp's 'lite' layout, which ignores q_lora_rank; not supported");
            }

            if (Failed)
            {
                return null;
            }

            return new Deepseek2HyperParameters(
                EmbeddingLength: (int)embd.Value,
                BlockCount: (int)layers.Value,
                HeadCount: (int)heads.Value,
                QLoraRank: (int)qLora.Value,
                KvLoraRank: (int)kvLora.Value,
                QkNopeHeadDim: (int)(keyLenMla.Value - rope.Value),
                QkRopeHeadDim: (int)rope.Value,
                VHeadDim: (int)valueLenMla.Value,
                FeedForwardLength: (int)ff.Value,
                VocabSize: nVocab,
                ContextLength: (int)ctx.Value,
                RopeFreqBase: baseValue,
                RmsNormEpsilon: epsValue);
        }

        private ulong? RequiredU32(string key, string why) => Required(key, GgufValueType.UInt32, why);

        /// <summary>Returns the raw value bits when present with the right type; records a problem otherwise.</summary>
        private ulong? Required(string key, GgufValueType type, string why)
        {
            if (!f.TryGetValue(key, out var v))
            {
                Problem(ValidationCode.MissingKey, $"missing required key '{key}' ({why})");
                return null;
            }

            return TypeMatches(key, v, type) ? v.RawBits : null;
        }

        private ulong? Optional(string key, GgufValueType type) =>
            f.TryGetValue(key, out var v) && TypeMatches(key, v, type) ? v.RawBits : null;

        private bool TypeMatches(string key, GgufValue v, GgufValueType type)
        {
            if (v.Type == type)
            {
                return true;
            }

            Problem(ValidationCode.WrongKeyType, $"key '{key}' has type {v.TypeName}, expected {GgufValueTypes.Name(type)}");
            return false;
        }

        private bool ArrayTypeMatches(string key, GgufValue v, params GgufValueType[] elementTypes)
        {
            if (v.AsArray() is { } a && elementTypes.Contains(a.ElementType))
            {
                return true;
            }

            var expected = string.Join(" or ", elementTypes.Select(t => $"arr[{GgufValueTypes.Name(t)}]"));
            Problem(ValidationCode.WrongKeyType, $"key '{key}' has type {v.TypeName}, expected {expected}");
            return false;
        }

        private void Range(string key, ulong value, long min, long max)
        {
            if ((long)value < min || (long)value > max)
            {
                Problem(ValidationCode.InvalidValue,
                    string.Create(CultureInfo.InvariantCulture, $"'{key}' is {value}, outside the sane range {min}..{max}"));
            }
        }

        private void MustBeZero(string key, ulong? value, string why)
        {
            if (value is > 0)
            {
                Problem(ValidationCode.InvalidValue, $"'{key}' is {value.Value}; must be 0 or absent ({why})");
            }
        }

        // ---------------------------------------------------------------- tokenizer

        private void CheckTokenizerKeyTypes()
        {
            foreach (var kv in f.Metadata)
            {
                var key = kv.Key;
                if (!key.StartsWith("tokenizer.", StringComparison.Ordinal))
                {
                    continue;
                }

                var v = kv.Value;
                switch (key)
                {
                    case GgufKeys.TokenizerModel or GgufKeys.TokenizerPre or GgufKeys.ChatTemplate:
                        TypeMatches(key, v, GgufValueType.String);
                        break;
                    case GgufKeys.Tokens or GgufKeys.Merges:
                        ArrayTypeMatches(key, v, GgufValueType.String);
                        break;
                    case GgufKeys.TokenType:
                        ArrayTypeMatches(key, v, GgufValueType.Int32);
                        break;
                    case GgufKeys.Scores:
                        ArrayTypeMatches(key, v, GgufValueType.Float32, GgufValueType.Int32);
                        break;
                    case GgufKeys.AddBosToken or GgufKeys.AddEosToken or "tokenizer.ggml.add_sep_token"
                        or "tokenizer.ggml.add_space_prefix" or "tokenizer.ggml.remove_extra_whitespaces":
                        TypeMatches(key, v, GgufValueType.Bool);
                        break;
                    default:
                        if (key.StartsWith("tokenizer.ggml.", StringComparison.Ordinal) && key.EndsWith("_token_id", StringComparison.Ordinal))
                        {
                            TypeMatches(key, v, GgufValueType.UInt32);
                        }

                        break;
                }
            }

            if (!f.ContainsKey(GgufKeys.TokenizerModel))
            {
                Problem(ValidationCode.MissingKey, $"missing required key '{GgufKeys.TokenizerModel}' (llama.cpp: key not found)");
            }

            if (!f.ContainsKey(GgufKeys.Tokens))
            {
                Problem(ValidationCode.MissingKey, $"missing required key '{GgufKeys.Tokens}' (llama.cpp: cannot find tokenizer vocab)");
            }

            if (!f.ContainsKey(GgufKeys.Merges))
            {
                Problem(ValidationCode.MissingKey, $"missing required key '{GgufKeys.Merges}' (llama.cpp: cannot find tokenizer merges)");
            }
        }

        /// <summary>Checks the vocabulary; returns its size. Key presence and types were checked before.</summary>
        private int CheckTokenizer(out IReadOnlyDictionary<string, int> markers)
        {
            markers = new Dictionary<string, int>();
            var model = f.GetString(GgufKeys.TokenizerModel);
            if (model != "gpt2")
            {
                Problem(ValidationCode.Tokenizer, $"'{GgufKeys.TokenizerModel}' is '{Shorten(model)}'; Youtu-LLM uses 'gpt2' (byte-level BPE)");
                return 0;
            }

            if (f.TryGetString(GgufKeys.TokenizerPre, out var pre))
            {
                if (!KnownPreTokenizers.Contains(pre))
                {
                    Problem(ValidationCode.Tokenizer, $"'{GgufKeys.TokenizerPre}' '{Shorten(pre)}' is not a pre-tokenizer this llama.cpp knows (Youtu uses 'youtu')");
                }
            }
            else
            {
                warnings.Add($"'{GgufKeys.TokenizerPre}' is missing: llama.cpp falls back to the 'default' pre-tokenizer and tokenization will differ");
            }

            var tokens = f.GetArray(GgufKeys.Tokens).Strings;
            var n = tokens.Count;
            if (n == 0 || n > MaxVocabSize)
            {
                Problem(ValidationCode.Tokenizer, $"'{GgufKeys.Tokens}' holds {n} tokens, outside the sane range 1..{MaxVocabSize}");
                return 0;
            }

            ReadOnlySpan<int> types = default;
            if (f.TryGetArray(GgufKeys.TokenType, out var typeArray))
            {
                if (typeArray.Count != n)
                {
                    Problem(ValidationCode.Tokenizer, $"'{GgufKeys.TokenType}' has {typeArray.Count} entries but there are {n} tokens");
                    return 0;
                }

                types = typeArray.Int32s;
            }
            else
            {
                warnings.Add($"'{GgufKeys.TokenType}' is missing: special tokens will not be typed as control tokens");
            }

            if (f.TryGetArray(GgufKeys.Scores, out var scores) && scores.Count != n)
            {
                Problem(ValidationCode.Tokenizer, $"'{GgufKeys.Scores}' has {scores.Count} entries but there are {n} tokens");
                return 0;
            }

            // llama.cpp asserts id_to_token.size() == token_to_id.size(): a duplicate token text aborts the process.
            var ids = new Dictionary<string, int>(n, StringComparer.Ordinal);
            for (var i = 0; i < n; i++)
            {
                var text = tokens[i].Length == 0 ? string.Create(CultureInfo.InvariantCulture, $"[EMPTY_{i}]") : tokens[i];
                if (!ids.TryAdd(text, i))
                {
                    Problem(ValidationCode.Tokenizer,
                        $"'{GgufKeys.Tokens}' has duplicate token '{Shorten(text)}' at ids {ids[text]} and {i} (llama.cpp aborts on duplicates)");
                    return 0;
                }

                // BYTE tokens are decoded as "<0xXX>" by substr(3, 2); a shorter text throws inside llama.cpp.
                if (!types.IsEmpty && types[i] == GgufTokenType.Byte &&
                    !(text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) && text[5] == '>'))
                {
                    Problem(ValidationCode.Tokenizer, $"token {i} '{Shorten(text)}' is typed BYTE but is not of the form <0xXX>");
                    return 0;
                }
            }

            var merges = f.GetArray(GgufKeys.Merges).Strings;
            for (var i = 0; i < merges.Count; i++)
            {
                if (merges[i].Length < 3 || merges[i].IndexOf(' ', 1) < 0)
                {
                    Problem(ValidationCode.Tokenizer, $"merge #{i} '{Shorten(merges[i])}' is not of the form 'left right'");
                    return 0;
                }
            }

            foreach (var kv in f.Metadata)
            {
                if (kv.Key.StartsWith("tokenizer.ggml.", StringComparison.Ordinal) && kv.Key.EndsWith("_token_id", StringComparison.Ordinal) &&
                    kv.Value.TryGetUInt32(out var id) && id >= (uint)n)
                {
                    Problem(ValidationCode.Tokenizer, $"'{kv.Key}' = {id} is outside the vocabulary of {n} tokens");
                }
            }

            if (!f.ContainsKey(GgufKeys.EosTokenId))
            {
                warnings.Add($"'{GgufKeys.EosTokenId}' is missing: end of generation relies on llama.cpp's token-text heuristics");
            }

            if (!f.ContainsKey(GgufKeys.ChatTemplate))
            {
                warnings.Add($"'{GgufKeys.ChatTemplate}' is missing");
            }

            var found = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var marker in YoutuSpecialTokens.All)
            {
                if (ids.TryGetValue(marker, out var id))
                {
                    found[marker] = id;
                }
            }

            markers = found;
            return n;
        }

        // ---------------------------------------------------------------- tensors

        private void CheckTensors(Deepseek2HyperParameters hp)
        {
            var expected = hp.ExpectedTensors();
            var expectedByName = new Dictionary<string, ExpectedTensor>(expected.Count, StringComparer.Ordinal);
            foreach (var e in expected)
            {
                expectedByName[e.Name] = e;
            }

            // The untied head is optional; when present it must have the embedding's shape.
            expectedByName["output.weight"] = new ExpectedTensor("output.weight", [hp.EmbeddingLength, hp.VocabSize], false);

            foreach (var e in expected)
            {
                if (f.FindTensor(e.Name) is null)
                {
                    var legacy = e.Name.EndsWith(".attn_k_b.weight", StringComparison.Ordinal) &&
                        f.FindTensor(e.Name.Replace(".attn_k_b.", ".attn_kv_b.", StringComparison.Ordinal)) is not null
                        ? "; the file has the legacy unsplit attn_kv_b instead, which needs head_count_kv = n_head (reconvert with a current llama.cpp)"
                        : string.Empty;
                    Problem(ValidationCode.MissingTensor, $"missing tensor '{e.Name}' (expected shape {GgufTensorInfo.FormatShape(e.Shape)}{legacy})");
                }
            }

            foreach (var t in f.Tensors)
            {
                if (!expectedByName.TryGetValue(t.Name, out var e))
                {
                    Problem(ValidationCode.UnexpectedTensor,
                        $"unexpected tensor '{Shorten(t.Name)}' {t.ShapeText}: not part of a dense MLA deepseek2 model with {hp.BlockCount} layers");
                    continue;
                }

                if (!SameShape(t.Dimensions, e.Shape))
                {
                    Problem(ValidationCode.WrongTensorShape,
                        $"tensor '{t.Name}' has wrong shape {t.ShapeText}, expected {GgufTensorInfo.FormatShape(e.Shape)}");
                    continue;
                }

                if (e.IsNorm && t.Type != GgmlType.F32)
                {
                    Problem(ValidationCode.BadTensorType, $"tensor '{t.Name}' is {GgmlTypes.Name(t.Type)}; norm weights must be f32");
                }
                else if (!GgmlTypes.IsWeightType(t.Type))
                {
                    Problem(ValidationCode.BadTensorType, $"tensor '{t.Name}' has ggml type {GgmlTypes.Name(t.Type)}, which llama.cpp cannot use for weights");
                }
            }

            if (!Failed)
            {
                CheckPlacement();
            }
        }

        /// <summary>Shapes compare like llama.cpp's check_tensor_dims: trailing dimensions of 1 are ignored.</summary>
        private static bool SameShape(IReadOnlyList<long> actual, long[] expected)
        {
            for (var i = 0; i < GgufReader.MaxDimensions; i++)
            {
                var a = i < actual.Count ? actual[i] : 1;
                var e = i < expected.Length ? expected[i] : 1;
                if (a != e)
                {
                    return false;
                }
            }

            return true;
        }

        private void CheckPlacement() => CheckPlacement(f, problems);

        /// <summary>Tensor data placement as gguf.cpp requires it (also used for LoRA adapter files).</summary>
        internal static void CheckPlacement(GgufFile f, List<(ValidationCode, string)> problems)
        {
            void Problem(ValidationCode code, string message) => problems.Add((code, message));
            ulong Pad(ulong n) => (n + f.Alignment - 1) / f.Alignment * f.Alignment;
            if (f.Tensors.Count == 0)
            {
                return;
            }

            if (f.DataOffset > f.FileLength)
            {
                Problem(ValidationCode.Truncated,
                    $"file is truncated: the tensor data section starts at byte {f.DataOffset} but the file has {f.FileLength} bytes");
                return;
            }

            var dataLength = (ulong)(f.FileLength - f.DataOffset);
            ulong packed = 0;
            foreach (var t in f.Tensors)
            {
                var size = (ulong)t.ByteSize;
                if (t.Offset % f.Alignment != 0)
                {
                    Problem(ValidationCode.BadTensorOffset,
                        $"tensor '{t.Name}' data offset {t.Offset} is misaligned (not a multiple of the alignment {f.Alignment})");
                }
                else if (t.Offset > dataLength || size > dataLength - t.Offset)
                {
                    // A tensor where the packed layout puts it means the file was cut short; anything else is a lying offset.
                    var code = t.Offset == packed ? ValidationCode.Truncated : ValidationCode.BadTensorOffset;
                    Problem(code, string.Create(CultureInfo.InvariantCulture,
                        $"{(code == ValidationCode.Truncated ? "file is truncated: " : string.Empty)}tensor '{t.Name}' data (offset {t.Offset}, {size} bytes) runs past the end of the file ({f.FileLength} bytes, data section {dataLength} bytes)"));
                    if (code == ValidationCode.Truncated)
                    {
                        return; // every later tensor is missing too; one message says it
                    }
                }

                packed += Pad(size);
            }

            if (problems.Count > 0)
            {
                return;
            }

            var byOffset = f.Tensors.OrderBy(t => t.Offset).ToList();
            for (var i = 1; i < byOffset.Count; i++)
            {
                var prev = byOffset[i - 1];
                if (byOffset[i].Offset < prev.Offset + (ulong)prev.ByteSize)
                {
                    Problem(ValidationCode.BadTensorOffset,
                        $"tensor '{byOffset[i].Name}' data (offset {byOffset[i].Offset}) overlaps tensor '{prev.Name}' (offset {prev.Offset}, {prev.ByteSize} bytes)");
                }
            }

            if (problems.Count > 0)
            {
                return;
            }

            // gguf.cpp additionally requires the data packed in table order with alignment padding.
            packed = 0;
            foreach (var t in f.Tensors)
            {
                if (t.Offset != packed)
                {
                    Problem(ValidationCode.BadTensorOffset,
                        $"tensor '{t.Name}' has data offset {t.Offset}, expected {packed} (llama.cpp requires tensor data packed in table order)");
                    return;
                }

                packed += Pad((ulong)t.ByteSize);
            }
        }

        private ulong Pad(ulong n) => (n + f.Alignment - 1) / f.Alignment * f.Alignment;

        private string FileTypeName()
        {
            if (f.TryGetUInt32(GgufKeys.FileType, out var ft))
            {
                return LlamaFileTypeName(ft);
            }

            // Guess from the largest tensor, like llama.cpp does when the key is absent.
            var largest = f.Tensors.MaxBy(t => t.ByteSize);
            return largest is null ? "unknown" : $"mostly {GgmlTypes.Name(largest.Type)} (guessed)";
        }

        private static string Shorten(string s) => s.Length <= 80 ? s : s[..77] + "...";
    }

    /// <summary>llama_ftype names (include/llama.h).</summary>
    public static string LlamaFileTypeName(uint fileType) => fileType switch
    {
        0 => "all F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K - Medium",
        11 => "Q3_K - Small",
        12 => "Q3_K - Medium",
        13 => "Q3_K - Large",
        14 => "Q4_K - Small",
        15 => "Q4_K - Medium",
        16 => "Q5_K - Small",
        17 => "Q5_K - Medium",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K - Small",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4 MoE",
        39 => "NVFP4",
        40 => "Q1_0",
        41 => "Q2_0",
        _ => string.Create(CultureInfo.InvariantCulture, $"file type {fileType}"),
    };
}
