using System.Globalization;
using YoutuServer.Engine.Gguf;
using YoutuServer.Engine.Synthesis;
using K = YoutuServer.Engine.Gguf.GgufKeys;

namespace YoutuServer.Engine.Tests.Gguf;

/// <summary>One hostile file and what the validator must say about it.</summary>
/// <param name="Fragment">Text the validator's message must contain; null = any rejection will do (garbage after a lie).</param>
internal sealed record BrokenCase(string Name, byte[] Bytes, string? Fragment, ValidationCode? Code);

/// <summary>
/// Hostile variants of the tiny synthetic model: truncations at every section boundary and many other offsets,
/// wrong magic/version, each required key removed or mistyped, absurd values, each tensor reshaped or removed,
/// lying offsets, enormous counts and lengths, bad ggml type ids, and broken tokenizers.
/// </summary>
internal static class BrokenGgufCorpus
{
    private static readonly Lazy<byte[]> Tiny = new(() => Build(SynthDType.F32));
    private static readonly Lazy<byte[]> TinyF16 = new(() => Build(SynthDType.F16));
    private static readonly Lazy<List<BrokenCase>> CachedMutations = new(BuildMutations);

    public static byte[] TinyModel => Tiny.Value;

    public static byte[] TinyModelF16 => TinyF16.Value;

    public static IReadOnlyList<BrokenCase> Mutations => CachedMutations.Value;

    public static readonly string[] RequiredKeys =
    [
        K.Architecture, K.ContextLength, K.EmbeddingLength, K.BlockCount, K.FeedForwardLength, K.HeadCount,
        K.HeadCountKv, K.LeadingDenseBlockCount, K.QLoraRank, K.KvLoraRank, K.ExpertFeedForwardLength,
        K.ExpertSharedCount, K.RopeDimensionCount, K.KeyLength, K.KeyLengthMla, K.ValueLengthMla, K.RmsEpsilon,
        K.TokenizerModel, K.Tokens, K.Merges,
    ];

    private static byte[] Build(SynthDType dtype)
    {
        using var ms = new MemoryStream();
        YoutuSynthesizer.Plan(new SynthOptions { Preset = SynthPreset.Tiny, Seed = 7, DType = dtype }).Writer.WriteTo(ms);
        return ms.ToArray();
    }

    /// <summary>Files that must validate OK.</summary>
    public static IEnumerable<(string Name, byte[] Bytes)> ValidVariants()
    {
        yield return ("tiny f32", TinyModel);
        yield return ("tiny f16", TinyModelF16);

        var v2 = RawGguf.From(TinyModel);
        v2.Version = 2;
        yield return ("gguf v2", v2.Serialize());

        var aligned = RawGguf.From(TinyModel);
        aligned.Alignment = 64;
        aligned.Kvs.Insert(0, new RawKv(K.Alignment, GgufValue.FromUInt32(64)));
        yield return ("alignment 64", aligned.Serialize());

        var untied = RawGguf.From(TinyModel);
        var embd = untied.Tensors[untied.TensorIndex("token_embd.weight")];
        var embdBytes = (int)(embd.Dims[0] * embd.Dims[1] * 4);
        untied.Tensors.Add(new RawTensor("output.weight", embd.Dims.ToArray(), 0, (ulong)untied.Data.Length));
        untied.Data = [.. untied.Data, .. new byte[embdBytes]];
        yield return ("untied output.weight", untied.Serialize());

        foreach (var optional in new[] { K.VocabSize, K.ValueLength, K.RopeFreqBase, K.TokenType, K.TokenizerPre, K.ChatTemplate,
                     K.BosTokenId, K.EosTokenId, K.EotTokenId, K.AddBosToken, K.Name, K.FileType })
        {
            var r = RawGguf.From(TinyModel);
            r.RemoveKv(optional);
            yield return ($"without optional {optional}", r.Serialize());
        }
    }

    /// <summary>Truncations at every section boundary (and bytes around them) plus a sweep of other offsets.</summary>
    public static IEnumerable<BrokenCase> Truncations()
    {
        var bytes = TinyModel;
        var f = GgufReader.Read(new MemoryStream(bytes));
        var dataEnd = f.DataOffset + f.Tensors.Max(t => (long)t.Offset + t.ByteSize);
        var points = new SortedSet<long>();
        for (var i = 0; i <= 32; i++)
        {
            points.Add(i); // magic, version, counts, first key
        }

        void Around(long at)
        {
            foreach (var d in new[] { -1, 0, 1, 4, 8, 9, 12, 13 })
            {
                points.Add(at + d);
            }
        }

        foreach (var kv in f.Metadata)
        {
            Around(kv.Offset);
        }

        foreach (var t in f.Tensors)
        {
            Around(t.InfoOffset);
            Around(f.DataOffset + (long)t.Offset);
            points.Add(f.DataOffset + (long)t.Offset + t.ByteSize - 1);
        }

        Around(f.TensorTableEnd);
        Around(f.DataOffset);
        for (long at = 0; at < bytes.Length; at += 997)
        {
            points.Add(at);
        }

        points.Add(dataEnd - 1);
        foreach (var n in points.Where(n => n >= 0 && n < dataEnd))
        {
            yield return new BrokenCase(string.Create(CultureInfo.InvariantCulture, $"truncated at {n}"),
                bytes.AsSpan(0, (int)n).ToArray(), "truncated", ValidationCode.Truncated);
        }
    }

    private static List<BrokenCase> BuildMutations()
    {
        var cases = new List<BrokenCase>();
        var baseRaw = RawGguf.From(TinyModel);

        void Add(string name, Action<RawGguf> mutate, string? fragment, ValidationCode? code)
        {
            var r = baseRaw.Clone();
            mutate(r);
            cases.Add(new BrokenCase(name, r.Serialize(), fragment, code));
        }

        void AddBytes(string name, byte[] bytes, string? fragment, ValidationCode? code) =>
            cases.Add(new BrokenCase(name, bytes, fragment, code));

        // ---- magic and version
        foreach (var magic in new[] { "GGML", "gguf", "FUGG", "\0\0\0\0", "PK\u0003\u0004" })
        {
            Add($"magic '{magic}'", r => r.Magic = magic.Select(c => (byte)c).ToArray(), "invalid magic", ValidationCode.NotGguf);
        }

        AddBytes("empty file", [], "truncated", ValidationCode.Truncated);
        AddBytes("text file", "hello world, this is not a model\n"u8.ToArray(), "invalid magic", ValidationCode.NotGguf);
        foreach (var version in new uint[] { 0, 1, 4, 0x03000000, uint.MaxValue })
        {
            Add($"version {version}", r => r.Version = version, "unsupported GGUF version", ValidationCode.UnsupportedVersion);
        }

        // ---- required keys removed / mistyped
        foreach (var key in RequiredKeys)
        {
            Add($"missing {key}", r => r.RemoveKv(key), $"missing required key '{key}'", ValidationCode.MissingKey);
        }

        foreach (var key in RequiredKeys.Where(k => baseRaw.Kv(k).Value!.Type == GgufValueType.UInt32))
        {
            Add($"{key} as i32", r => r.SetKv(key, GgufValue.FromInt32((int)U32(r, key))), $"key '{key}' has type i32, expected u32", ValidationCode.WrongKeyType);
        }

        var wrongTypes = new (string Key, GgufValue Value, string Fragment)[]
        {
            (K.Architecture, GgufValue.FromUInt32(2), "has type u32, expected str"),
            (K.RmsEpsilon, GgufValue.FromFloat64(1e-6), "has type f64, expected f32"),
            (K.RopeFreqBase, GgufValue.FromFloat64(1.6e6), "has type f64, expected f32"),
            (K.HeadCount, GgufValue.FromArray(GgufArray.FromUInt32([4, 4])), "has type arr[u32], expected u32"),
            (K.VocabSize, GgufValue.FromUInt64(668), "has type u64, expected u32"),
            (K.Tokens, GgufValue.FromArray(GgufArray.FromInt32([1, 2, 3])), "has type arr[i32], expected arr[str]"),
            (K.Merges, GgufValue.FromString("a b"), "has type str, expected arr[str]"),
            (K.TokenType, GgufValue.FromArray(GgufArray.FromUInt32([1])), "has type arr[u32], expected arr[i32]"),
            (K.Scores, GgufValue.FromArray(GgufArray.FromStrings(["x"])), "has type arr[str], expected arr[f32] or arr[i32]"),
            (K.TokenizerModel, GgufValue.FromArray(GgufArray.FromStrings(["gpt2"])), "has type arr[str], expected str"),
            (K.TokenizerPre, GgufValue.FromUInt32(1), "has type u32, expected str"),
            (K.BosTokenId, GgufValue.FromInt32(1), "has type i32, expected u32"),
            (K.EosTokenId, GgufValue.FromUInt64(1), "has type u64, expected u32"),
            (K.AddBosToken, GgufValue.FromUInt8(0), "has type u8, expected bool"),
            (K.ChatTemplate, GgufValue.FromArray(GgufArray.FromStrings(["{{ x }}"])), "has type arr[str], expected str"),
            (K.Name, GgufValue.FromUInt32(1), "has type u32, expected str"),
            (K.ExpertCount, GgufValue.FromInt32(0), "has type i32, expected u32"),
        };
        foreach (var (key, value, fragment) in wrongTypes)
        {
            Add($"{key} mistyped as {value.TypeName}", r => r.SetKv(key, value), $"key '{key}' {fragment}", ValidationCode.WrongKeyType);
        }

        Add("general.alignment as u64", r => r.Kvs.Insert(0, new RawKv(K.Alignment, GgufValue.FromUInt64(32))),
            "'general.alignment' has type u64, expected u32", ValidationCode.Malformed);

        // ---- absurd values
        var absurd = new (string Key, GgufValue Value, string Fragment)[]
        {
            (K.Architecture, GgufValue.FromString("llama"), "unsupported architecture 'llama'"),
            (K.Architecture, GgufValue.FromString("deepseek2ocr"), "unsupported architecture 'deepseek2ocr'"),
            (K.Architecture, GgufValue.FromString(""), "unsupported architecture ''"),
            (K.BlockCount, GgufValue.FromUInt32(0), "'deepseek2.block_count' is 0, outside the sane range"),
            (K.BlockCount, GgufValue.FromUInt32(100_000), "'deepseek2.block_count' is 100000, outside the sane range"),
            (K.BlockCount, GgufValue.FromUInt32(3), "only dense models"),
            (K.ContextLength, GgufValue.FromUInt32(0), "'deepseek2.context_length' is 0"),
            (K.ContextLength, GgufValue.FromUInt32(uint.MaxValue), "'deepseek2.context_length' is 4294967295"),
            (K.EmbeddingLength, GgufValue.FromUInt32(0), "'deepseek2.embedding_length' is 0"),
            (K.EmbeddingLength, GgufValue.FromUInt32(1 << 20), "'deepseek2.embedding_length' is 1048576"),
            (K.EmbeddingLength, GgufValue.FromUInt32(66), "not divisible by"),
            (K.HeadCount, GgufValue.FromUInt32(0), "'deepseek2.attention.head_count' is 0"),
            (K.HeadCount, GgufValue.FromUInt32(3), "not divisible by"),
            (K.HeadCountKv, GgufValue.FromUInt32(4), "'deepseek2.attention.head_count_kv' is 4; the split attn_k_b/attn_v_b MLA layout needs 1"),
            (K.HeadCountKv, GgufValue.FromUInt32(0), "needs 1"),
            (K.LeadingDenseBlockCount, GgufValue.FromUInt32(1), "only dense models"),
            (K.LeadingDenseBlockCount, GgufValue.FromUInt32(0), "MoE layers are not"),
            (K.FeedForwardLength, GgufValue.FromUInt32(0), "'deepseek2.feed_forward_length' is 0"),
            (K.QLoraRank, GgufValue.FromUInt32(0), "'deepseek2.attention.q_lora_rank' is 0"),
            (K.KvLoraRank, GgufValue.FromUInt32(0), "'deepseek2.attention.kv_lora_rank' is 0"),
            (K.KvLoraRank, GgufValue.FromUInt32(32), "'deepseek2.attention.key_length' is 24, expected kv_lora_rank + rope.dimension_count = 40"),
            (K.KeyLength, GgufValue.FromUInt32(20), "'deepseek2.attention.key_length' is 20, expected"),
            (K.ValueLength, GgufValue.FromUInt32(17), "'deepseek2.attention.value_length' is 17, expected kv_lora_rank"),
            (K.KeyLengthMla, GgufValue.FromUInt32(8), "must exceed 'deepseek2.rope.dimension_count' 8"),
            (K.KeyLengthMla, GgufValue.FromUInt32(0), "'deepseek2.attention.key_length_mla' is 0"),
            (K.ValueLengthMla, GgufValue.FromUInt32(0), "'deepseek2.attention.value_length_mla' is 0"),
            (K.RopeDimensionCount, GgufValue.FromUInt32(7), "must be even"),
            (K.RopeDimensionCount, GgufValue.FromUInt32(0), "'deepseek2.rope.dimension_count' is 0"),
            (K.RmsEpsilon, GgufValue.FromFloat32(0), "must be a small positive number"),
            (K.RmsEpsilon, GgufValue.FromFloat32(float.NaN), "must be a small positive number"),
            (K.RmsEpsilon, GgufValue.FromFloat32(float.PositiveInfinity), "must be a small positive number"),
            (K.RopeFreqBase, GgufValue.FromFloat32(-1), "must be a positive number"),
            (K.RopeScalingType, GgufValue.FromString("bogus"), "is not one of none/linear/yarn/longrope"),
            (K.ExpertCount, GgufValue.FromUInt32(8), "'deepseek2.expert_count' is 8; must be 0 or absent"),
            (K.ExpertUsedCount, GgufValue.FromUInt32(2), "'deepseek2.expert_used_count' is 2; must be 0 or absent"),
            (K.ExpertGroupCount, GgufValue.FromUInt32(2), "'deepseek2.expert_group_count' is 2"),
            (K.NextNPredictLayers, GgufValue.FromUInt32(1), "multi-token-prediction"),
            (K.VocabSize, GgufValue.FromUInt32(669), "'deepseek2.vocab_size' is 669 but"),
        };
        foreach (var (key, value, fragment) in absurd)
        {
            var code = key == K.Architecture ? ValidationCode.UnsupportedArchitecture : ValidationCode.InvalidValue;
            Add($"{key} = {value}", r => r.SetKv(key, value), fragment, code);
        }

        Add("block_count 27 (lite layout)", r =>
        {
            r.SetKv(K.BlockCount, GgufValue.FromUInt32(27));
            r.SetKv(K.LeadingDenseBlockCount, GgufValue.FromUInt32(27));
        }, "DeepSeek-V2-Lite", ValidationCode.InvalidValue);

        // ---- tokenizer
        var nTokens = baseRaw.Kv(K.Tokens).Value!.AsArray()!.Count;
        Add("tokenizer model llama", r => r.SetKv(K.TokenizerModel, GgufValue.FromString("llama")), "uses 'gpt2'", ValidationCode.Tokenizer);
        Add("unknown pre-tokenizer", r => r.SetKv(K.TokenizerPre, GgufValue.FromString("gpt2")), "is not a pre-tokenizer this llama.cpp knows", ValidationCode.Tokenizer);
        Add("token_type too short", r => r.SetKv(K.TokenType, GgufValue.FromArray(GgufArray.FromInt32(new int[nTokens - 1]))),
            $"has {nTokens - 1} entries but there are {nTokens} tokens", ValidationCode.Tokenizer);
        Add("scores wrong length", r => r.SetKv(K.Scores, GgufValue.FromArray(GgufArray.FromFloat32(new float[3]))),
            "'tokenizer.ggml.scores' has 3 entries", ValidationCode.Tokenizer);
        Add("duplicate token", r => r.SetKv(K.Tokens, GgufValue.FromArray(GgufArray.FromStrings(
            Tokens(r).Select((t, i) => i == 300 ? Tokens(r)[299] : t)))), "duplicate token", ValidationCode.Tokenizer);
        Add("empty vocabulary", r => r.SetKv(K.Tokens, GgufValue.FromArray(GgufArray.FromStrings([]))), "holds 0 tokens", ValidationCode.Tokenizer);
        Add("byte-typed normal token", r => r.SetKv(K.TokenType, GgufValue.FromArray(GgufArray.FromInt32(
            Enumerable.Repeat(GgufTokenType.Byte, 1).Concat(Enumerable.Repeat(GgufTokenType.Normal, nTokens - 1)).ToArray()))),
            "is typed BYTE", ValidationCode.Tokenizer);
        Add("malformed merge", r => r.SetKv(K.Merges, GgufValue.FromArray(GgufArray.FromStrings(["Ġ t", "abc"]))),
            "merge #1 'abc' is not of the form", ValidationCode.Tokenizer);
        foreach (var idKey in new[] { K.BosTokenId, K.EosTokenId, K.EotTokenId, K.PaddingTokenId })
        {
            Add($"{idKey} out of range", r => r.SetKv(idKey, GgufValue.FromUInt32(100_000)),
                $"'{idKey}' = 100000 is outside the vocabulary of {nTokens} tokens", ValidationCode.Tokenizer);
        }

        // ---- tensors: wrong shapes, missing, unexpected, bad types
        foreach (var t in baseRaw.Tensors)
        {
            Add($"{t.Name} last dim +1", r =>
            {
                var x = r.Tensors[r.TensorIndex(t.Name)];
                x.Dims[^1]++;
            }, $"tensor '{t.Name}' has wrong shape", ValidationCode.WrongTensorShape);

            if (t.Dims.Length >= 2 && t.Dims[0] != t.Dims[1])
            {
                Add($"{t.Name} transposed", r =>
                {
                    var x = r.Tensors[r.TensorIndex(t.Name)];
                    (x.Dims[0], x.Dims[1]) = (x.Dims[1], x.Dims[0]);
                }, $"tensor '{t.Name}' has wrong shape", ValidationCode.WrongTensorShape);
            }

            Add($"{t.Name} missing", r => r.Tensors.RemoveAt(r.TensorIndex(t.Name)), $"missing tensor '{t.Name}'", ValidationCode.MissingTensor);
        }

        Add("k_b with an extra dimension", r =>
        {
            var i = r.TensorIndex("blk.0.attn_k_b.weight");
            r.Tensors[i] = r.Tensors[i] with { Dims = [.. r.Tensors[i].Dims, 2] };
        }, "tensor 'blk.0.attn_k_b.weight' has wrong shape {16, 16, 4, 2}, expected {16, 16, 4}", ValidationCode.WrongTensorShape);
        Add("legacy attn_kv_b instead of split k_b/v_b", r =>
        {
            var i = r.TensorIndex("blk.0.attn_k_b.weight");
            r.Tensors[i] = r.Tensors[i] with { Name = "blk.0.attn_kv_b.weight", Dims = [16, 128] };
        }, "missing tensor 'blk.0.attn_k_b.weight' (expected shape {16, 16, 4}; the file has the legacy unsplit attn_kv_b", ValidationCode.MissingTensor);

        foreach (var extra in new[] { "blk.2.attn_norm.weight", "blk.0.ffn_gate_inp.weight", "rope_freqs.weight" })
        {
            Add($"unexpected {extra}", r =>
            {
                r.Tensors.Add(new RawTensor(extra, [64], 0, (ulong)r.Data.Length));
                r.Data = [.. r.Data, .. new byte[256]];
            }, $"unexpected tensor '{extra}'", ValidationCode.UnexpectedTensor);
        }

        foreach (var type in new uint[] { 4, 5, 31, 32, 33, 36, 37, 38, 43, 1000, uint.MaxValue })
        {
            Add($"ggml type {type}", r => r.Tensors[3] = r.Tensors[3] with { Type = type }, $"unknown ggml type {type}", ValidationCode.Malformed);
        }

        Add("q4_K on a 64-wide row", r => r.Tensors[r.TensorIndex("blk.0.attn_q_a.weight")] = r.Tensors[r.TensorIndex("blk.0.attn_q_a.weight")] with { Type = 12 },
            "not a multiple of the block size 256", ValidationCode.Malformed);
        Add("f16 norm", r => r.Tensors[r.TensorIndex("blk.0.attn_norm.weight")] = r.Tensors[r.TensorIndex("blk.0.attn_norm.weight")] with { Type = 1 },
            "norm weights must be f32", ValidationCode.BadTensorType);
        foreach (var (type, name) in new[] { (26u, "i32"), (9u, "q8_1"), (28u, "f64") })
        {
            Add($"{name} matrix", r => r.Tensors[r.TensorIndex("blk.1.ffn_up.weight")] = r.Tensors[r.TensorIndex("blk.1.ffn_up.weight")] with { Type = type },
                $"has ggml type {name}, which llama.cpp cannot use for weights", ValidationCode.BadTensorType);
        }

        // ---- lying tensor offsets
        foreach (var i in new[] { 0, baseRaw.Tensors.Count / 2, baseRaw.Tensors.Count - 1 })
        {
            var name = baseRaw.Tensors[i].Name;
            Add($"{name} misaligned", r => r.Tensors[i] = r.Tensors[i] with { Offset = r.Tensors[i].Offset + 4 }, "is misaligned", ValidationCode.BadTensorOffset);
            Add($"{name} past the end", r => r.Tensors[i] = r.Tensors[i] with { Offset = 1UL << 40 }, "runs past the end of the file", ValidationCode.BadTensorOffset);
            Add($"{name} at offset 2^64-32", r => r.Tensors[i] = r.Tensors[i] with { Offset = ulong.MaxValue & ~31UL }, "runs past the end of the file", ValidationCode.BadTensorOffset);
            if (i > 0)
            {
                Add($"{name} overlapping", r => r.Tensors[i] = r.Tensors[i] with { Offset = r.Tensors[i - 1].Offset }, "overlaps tensor", ValidationCode.BadTensorOffset);
            }
        }

        Add("same-size tensors swapped", r =>
        {
            var a = r.TensorIndex("blk.0.attn_norm.weight");
            var b = r.TensorIndex("blk.0.ffn_norm.weight");
            (r.Tensors[a], r.Tensors[b]) = (r.Tensors[a] with { Offset = r.Tensors[b].Offset }, r.Tensors[b] with { Offset = r.Tensors[a].Offset });
        }, "llama.cpp requires tensor data packed in table order", ValidationCode.BadTensorOffset);
        Add("gap before the last tensor", r =>
        {
            r.Tensors[^1] = r.Tensors[^1] with { Offset = r.Tensors[^1].Offset + 32 };
            r.Data = [.. r.Data, .. new byte[32]];
        }, "llama.cpp requires tensor data packed in table order", ValidationCode.BadTensorOffset);

        // ---- enormous counts and lengths
        Add("tensor count 2^64-1", r => r.TensorCountOverride = ulong.MaxValue, "tensor count 18446744073709551615 exceeds the limit", ValidationCode.Malformed);
        Add("tensor count 2^40", r => r.TensorCountOverride = 1UL << 40, "exceeds the limit", ValidationCode.Malformed);
        Add("tensor count 1,000,000", r => r.TensorCountOverride = 1_000_000, "truncated or corrupt", ValidationCode.Truncated);
        Add("kv count 2^40", r => r.KvCountOverride = 1UL << 40, "metadata key/value count 1099511627776 exceeds the limit", ValidationCode.Malformed);
        Add("kv count 1,000,000", r => r.KvCountOverride = 1_000_000, "truncated or corrupt", ValidationCode.Truncated);
        Add("tensor count +1", r => r.TensorCountOverride = (ulong)r.Tensors.Count + 1, "has an empty name", ValidationCode.Malformed);
        Add("kv count +1", r => r.KvCountOverride = (ulong)r.Kvs.Count + 1, null, null);
        Add("kv count -1", r => r.KvCountOverride = (ulong)r.Kvs.Count - 1, null, null);
        Add("tensor count 0", r => r.TensorCountOverride = 0, "missing tensor", ValidationCode.MissingTensor);

        foreach (var (count, fragment) in new[] { (1UL << 40, "exceeds the limit"), ((1UL << 28) + 1, "exceeds the limit"), (1UL << 27, "truncated or corrupt"), (ulong.MaxValue, "exceeds the limit") })
        {
            Add($"tokens array count {count}", r => ReplaceRaw(r, K.Tokens, Raw(9, 8, count)), fragment, null);
            Add($"token_type array count {count}", r => ReplaceRaw(r, K.TokenType, Raw(9, 5, count)), fragment, null);
        }

        Add("array count smaller than its data", r => ReplaceRaw(r, K.Merges, [.. Raw(9, 8, 1), .. RawGguf.Encode(GgufValue.FromArray(r.Kv(K.Merges).Value!.AsArray()!))[12..]]), null, null);
        Add("key length 2^40", r => r.Kvs[0] = r.Kvs[0] with { KeyLengthOverride = 1UL << 40 }, "string length 1099511627776 exceeds the limit of 67108864 bytes", ValidationCode.Malformed);
        Add("key length 2^64-1", r => r.Kvs[0] = r.Kvs[0] with { KeyLengthOverride = ulong.MaxValue }, "exceeds the limit", ValidationCode.Malformed);
        Add("key length 1 MiB", r => r.Kvs[0] = r.Kvs[0] with { KeyLengthOverride = 1 << 20 }, "runs past the end of the file", ValidationCode.Truncated);
        Add("chat template length 64 MiB + 1", r => ReplaceRaw(r, K.ChatTemplate, [.. Raw(8), .. BitConverter.GetBytes((64UL << 20) + 1)]), "exceeds the limit of 67108864 bytes", ValidationCode.Malformed);
        Add("tensor name length 2^40", r => r.Tensors[0] = r.Tensors[0] with { NameLengthOverride = 1UL << 40 }, "exceeds the limit", ValidationCode.Malformed);
        Add("tensor with 5 dimensions", r => r.Tensors[0] = r.Tensors[0] with { Dims = [64, 668, 1, 1, 1] }, "has 5 dimensions; ggml allows at most 4", ValidationCode.Malformed);
        Add("tensor dims overflow", r => r.Tensors[0] = r.Tensors[0] with { Dims = [1UL << 40, 1UL << 40] }, "element count overflows 64 bits", ValidationCode.Malformed);
        Add("negative dimension", r => r.Tensors[0] = r.Tensors[0] with { Dims = [64, ulong.MaxValue] }, "is negative", ValidationCode.Malformed);
        Add("zero dimension", r => r.Tensors[1] = r.Tensors[1] with { Dims = [0] }, "has wrong shape {0}", ValidationCode.WrongTensorShape);

        // ---- structural
        Add("duplicate key", r => r.Kvs.Add(r.Kvs[1] with { }), $"duplicate metadata key '{baseRaw.Kvs[1].Key}'", ValidationCode.Malformed);
        Add("empty key", r => r.Kvs.Add(new RawKv("", GgufValue.FromUInt32(1))), "is empty", ValidationCode.Malformed);
        Add("invalid value type 13", r => r.Kvs.Add(new RawKv("x.bad", null) { RawTypeAndValue = Raw(13) }), "has invalid value type 13", ValidationCode.Malformed);
        Add("invalid value type 2^32-1", r => r.Kvs.Add(new RawKv("x.bad", null) { RawTypeAndValue = Raw(uint.MaxValue) }), "invalid value type", ValidationCode.Malformed);
        Add("invalid array element type", r => r.Kvs.Add(new RawKv("x.bad", null) { RawTypeAndValue = [.. Raw(9, 99), .. BitConverter.GetBytes(0UL)] }), "invalid element type 99", ValidationCode.Malformed);
        Add("invalid UTF-8 key", r => r.Kvs.Add(new RawKv("x", GgufValue.FromUInt32(1)) { KeyBytesOverride = [0x78, 0xFF, 0xFE] }), "not valid UTF-8", ValidationCode.Malformed);
        Add("duplicate tensor name", r => r.Tensors[5] = r.Tensors[5] with { Name = r.Tensors[4].Name }, "duplicate tensor name", ValidationCode.Malformed);
        Add("tensor name of 64 bytes", r => r.Tensors[0] = r.Tensors[0] with { Name = new string('t', 64) }, "ggml allows at most 63", ValidationCode.Malformed);
        foreach (var alignment in new uint[] { 0, 3, 48 })
        {
            Add($"alignment {alignment}", r => r.Kvs.Insert(0, new RawKv(K.Alignment, GgufValue.FromUInt32(alignment))), "is not a power of two", ValidationCode.Malformed);
        }

        var deep = GgufArray.FromInt32([1]);
        for (var i = 0; i < GgufReader.MaxArrayNesting + 1; i++)
        {
            deep = GgufArray.FromArrays([deep]);
        }

        Add("arrays nested too deep", r => r.Kvs.Add(new RawKv("x.deep", GgufValue.FromArray(deep))), "nested deeper", ValidationCode.Malformed);

        return cases;
    }

    private static uint U32(RawGguf r, string key)
    {
        Assert.True(r.Kv(key).Value!.TryGetUInt32(out var v));
        return v;
    }

    private static IReadOnlyList<string> Tokens(RawGguf r) => r.Kv(K.Tokens).Value!.AsArray()!.Strings;

    private static void ReplaceRaw(RawGguf r, string key, byte[] raw)
    {
        var i = r.Kvs.FindIndex(k => k.Key == key);
        r.Kvs[i] = r.Kvs[i] with { RawTypeAndValue = raw };
    }

    /// <summary>u32 type id(s) followed by an optional u64 count.</summary>
    private static byte[] Raw(uint type, uint? elementType = null, ulong? count = null)
    {
        var ms = new MemoryStream();
        RawGguf.U32(ms, type);
        if (elementType is { } et)
        {
            RawGguf.U32(ms, et);
        }

        if (count is { } c)
        {
            RawGguf.U64(ms, c);
        }

        return ms.ToArray();
    }
}
