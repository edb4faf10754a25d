using System.Security.Cryptography;
using YoutuServer.Engine.Gguf;
using YoutuServer.Engine.Synthesis;
using YoutuServer.Engine.Tests.Gguf;

namespace YoutuServer.Engine.Tests.Synthesis;

public sealed class YoutuSynthesizerTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("youtu-synth-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string PathFor(string name) => Path.Combine(dir, name);

    [Fact]
    public void Tiny_model_is_small_valid_and_has_the_youtu_layout()
    {
        var progress = new List<double>();
        var result = YoutuSynthesizer.Synthesize(
            new SynthOptions { Preset = SynthPreset.Tiny, OutPath = PathFor("tiny.gguf"), Seed = 1 },
            new SyncProgress(progress.Add));

        Assert.True(result.FileLength < 2_000_000, $"{result.FileLength} bytes");
        Assert.Equal(new FileInfo(result.Path).Length, result.FileLength);
        Assert.Equal(1.0, progress[^1]);

        var v = ModelValidator.Default.Validate(result.Path);
        Assert.True(v.IsValid, v.Message);

        var f = GgufReader.Read(result.Path);
        Assert.Equal(3u, f.Version);
        Assert.Equal("deepseek2", f.GetString(GgufKeys.Architecture));
        Assert.Equal(f.GetUInt32(GgufKeys.BlockCount), f.GetUInt32(GgufKeys.LeadingDenseBlockCount));
        Assert.Equal(1u, f.GetUInt32(GgufKeys.HeadCountKv));
        Assert.Equal(24u, f.GetUInt32(GgufKeys.KeyLength));
        Assert.Equal(16u, f.GetUInt32(GgufKeys.ValueLength));
        Assert.Equal(24u, f.GetUInt32(GgufKeys.KeyLengthMla));
        Assert.Equal(16u, f.GetUInt32(GgufKeys.ValueLengthMla));
        Assert.Equal(8u, f.GetUInt32(GgufKeys.RopeDimensionCount));
        Assert.Equal(1.6e6f, f.GetFloat32(GgufKeys.RopeFreqBase));
        Assert.Equal(1e-6f, f.GetFloat32(GgufKeys.RmsEpsilon));
        Assert.Equal("gpt2", f.GetString(GgufKeys.TokenizerModel));
        Assert.Equal("youtu", f.GetString(GgufKeys.TokenizerPre));
        Assert.False(f.GetBool(GgufKeys.AddBosToken));
        Assert.Null(f.FindTensor("output.weight")); // tied embeddings
        Assert.NotNull(f.FindTensor("blk.1.attn_k_b.weight"));
        Assert.Null(f.FindTensor("blk.0.attn_kv_b.weight"));
        Assert.Equal([16L, 16L, 4L], f.FindTensor("blk.0.attn_k_b.weight")!.Dimensions);
        Assert.Equal(GgmlType.F32, f.FindTensor("blk.0.ffn_norm.weight")!.Type);
        Assert.Equal(result.ParameterCount, f.ParameterCount);
        Assert.Equal(result.TensorCount, f.Tensors.Count);
        Assert.Equal(result.KeyValueCount, f.Metadata.Count);
        Assert.Equal(2 + (13 * 2), f.Tensors.Count);
    }

    [Fact]
    public void Same_seed_gives_identical_bytes_and_a_different_seed_does_not()
    {
        var a = YoutuSynthesizer.Synthesize(new SynthOptions { OutPath = PathFor("a.gguf"), Seed = 99 });
        var b = YoutuSynthesizer.Synthesize(new SynthOptions { OutPath = PathFor("b.gguf"), Seed = 99 });
        var c = YoutuSynthesizer.Synthesize(new SynthOptions { OutPath = PathFor("c.gguf"), Seed = 100 });
        var ha = SHA256.HashData(File.ReadAllBytes(a.Path));
        Assert.Equal(ha, SHA256.HashData(File.ReadAllBytes(b.Path)));
        Assert.NotEqual(ha, SHA256.HashData(File.ReadAllBytes(c.Path)));
        Assert.Equal(a.FileLength, c.FileLength);
    }

    [Fact]
    public void Weights_look_like_small_gaussians_and_norms_are_one()
    {
        var r = YoutuSynthesizer.Synthesize(new SynthOptions { OutPath = PathFor("w.gguf"), Seed = 3 });
        var f = GgufReader.Read(r.Path);
        var bytes = File.ReadAllBytes(r.Path);
        var embd = f.FindTensor("token_embd.weight")!;
        var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(
            bytes.AsSpan((int)(f.DataOffset + (long)embd.Offset), (int)embd.ByteSize));
        double sum = 0, sq = 0;
        foreach (var x in values)
        {
            sum += x;
            sq += x * x;
        }

        var mean = sum / values.Length;
        var std = Math.Sqrt((sq / values.Length) - (mean * mean));
        Assert.InRange(mean, -0.002, 0.002);
        Assert.InRange(std, 0.017, 0.023);

        var norm = f.FindTensor("blk.1.attn_kv_a_norm.weight")!;
        var ones = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(
            bytes.AsSpan((int)(f.DataOffset + (long)norm.Offset), (int)norm.ByteSize));
        Assert.All(ones.ToArray(), x => Assert.Equal(1.0f, x));
    }

    [Fact]
    public void F16_tiny_model_is_valid_and_smaller()
    {
        var f32 = YoutuSynthesizer.Plan(new SynthOptions { DType = SynthDType.F32 });
        var r = YoutuSynthesizer.Synthesize(new SynthOptions { OutPath = PathFor("f16.gguf"), DType = SynthDType.F16 });
        Assert.True(r.FileLength < f32.FileLength);
        var v = ModelValidator.Default.Validate(r.Path);
        Assert.True(v.IsValid, v.Message);
        Assert.Equal("F16", v.Summary!.FileType);
        var f = GgufReader.Read(r.Path);
        Assert.Equal(GgmlType.F16, f.FindTensor("blk.0.attn_q_b.weight")!.Type);
        Assert.Equal(GgmlType.F32, f.FindTensor("output_norm.weight")!.Type);
    }

    [Fact]
    public void Tiny_vocabulary_has_bytes_merges_and_every_youtu_marker()
    {
        var plan = YoutuSynthesizer.Plan(new SynthOptions());
        var v = plan.Vocabulary;
        var ids = v.Tokens.Select((t, i) => (t, i)).ToDictionary(x => x.t, x => x.i);
        Assert.Equal(v.Tokens.Count, ids.Count); // unique
        Assert.Equal(v.Tokens.Count, v.TokenTypes.Count);

        // 256 byte tokens in GPT-2 order ("!" is id 0, the space byte maps to "Ġ").
        Assert.Equal("!", v.Tokens[0]);
        Assert.Contains("Ġ", ids.Keys);
        Assert.Equal(256, Enumerable.Range(0, 256).Select(b => Gpt2ByteEncoding.Map((byte)b).ToString()).Distinct().Count(ids.ContainsKey));

        Assert.InRange(v.Merges.Count, 300, 500);
        foreach (var m in v.Merges)
        {
            var parts = m.Split(' ');
            Assert.Equal(2, parts.Length);
            Assert.Contains(parts[0], ids.Keys);
            Assert.Contains(parts[1], ids.Keys);
            Assert.Contains(parts[0] + parts[1], ids.Keys);
        }

        // Common English words are whole tokens, so ASCII text becomes multi-byte tokens.
        foreach (var w in new[] { "Ġthe", "Ġand", "Ġof", "Ġto", "Ġyou", "Ġthat", "Ġwith", "The" })
        {
            Assert.Contains(w, ids.Keys);
        }

        const string sentence = "The quick brown fox jumps over the lazy dog, and then you write some code for the model.";
        var count = BpeTokenCount(sentence, ids, v.Merges);
        Assert.True(count * 2 < sentence.Length, $"{count} tokens for {sentence.Length} bytes");

        foreach (var s in YoutuSpecialTokens.Control)
        {
            Assert.Equal(GgufTokenType.Control, v.TokenTypes[ids[s]]);
            Assert.Equal(ids[s], v.SpecialTokenIds[s]);
        }

        foreach (var s in YoutuSpecialTokens.UserDefined)
        {
            Assert.Equal(GgufTokenType.UserDefined, v.TokenTypes[ids[s]]);
        }

        Assert.Equal(ids["<|begin_of_text|>"], v.BosTokenId);
        Assert.Equal(ids["<|end_of_text|>"], v.EosTokenId);
        Assert.Equal(v.Tokens.Count, plan.HyperParameters.VocabSize);
    }

    [Fact]
    public void Chat_template_is_embedded_verbatim()
    {
        var source = File.ReadAllBytes(TestPaths.SynthesisSource("youtu_chat_template.jinja"));
        Assert.Equal(source, System.Text.Encoding.UTF8.GetBytes(YoutuSynthesizer.ChatTemplate));
        Assert.NotEqual((byte)'\n', source[^1]);
        Assert.StartsWith("{%", YoutuSynthesizer.ChatTemplate, StringComparison.Ordinal);
        Assert.Contains("<|Assistant|>", YoutuSynthesizer.ChatTemplate, StringComparison.Ordinal);

        var f = GgufReader.Read(new MemoryStream(BrokenGgufCorpus.TinyModel));
        Assert.Equal(YoutuSynthesizer.ChatTemplate, f.GetString(GgufKeys.ChatTemplate));
    }

    [Fact]
    public void TwoB_preset_has_exactly_the_published_parameter_count_in_dry_mode()
    {
        var hp = YoutuSynthesizer.HyperParameters(SynthPreset.TwoB);
        Assert.Equal(1_961_560_064L, hp.ParameterCount);
        Assert.Equal(2 + (13 * 32), hp.ExpectedTensors().Count);
        Assert.Equal(576, hp.KeyLength);
        Assert.Equal(512, hp.ValueLength);
        Assert.Equal(192, hp.KeyLengthMla);
        Assert.Equal(128, hp.ValueLengthMla);
        Assert.Equal(131072, hp.ContextLength);
        Assert.Equal([128L, 512L, 16L], hp.ExpectedTensors().Single(t => t.Name == "blk.31.attn_k_b.weight").Shape);
        Assert.Equal([512L, 128L, 16L], hp.ExpectedTensors().Single(t => t.Name == "blk.0.attn_v_b.weight").Shape);
    }

    [Llama3VocabFact]
    public void TwoB_plan_writes_a_header_whose_tensor_table_sums_to_1_96_billion()
    {
        var plan = YoutuSynthesizer.Plan(new SynthOptions { Preset = SynthPreset.TwoB, DType = SynthDType.F16, VocabPath = TestPaths.Llama3Vocab });
        Assert.Equal(1_961_560_064L, plan.ParameterCount);
        Assert.Equal(418, plan.Tensors.Count);
        Assert.Equal(34, plan.KeyValueCount);
        Assert.InRange(plan.FileLength, 3_900_000_000L, 3_950_000_000L);

        // Header only: read it back and sum the element counts of the tensor table.
        var header = PathFor("2b-header.gguf");
        using (var fs = File.Create(header))
        {
            plan.WriteHeader(fs);
        }

        var f = GgufReader.Read(header);
        Assert.Equal(1_961_560_064L, f.Tensors.Sum(t => t.ElementCount));
        Assert.Equal(plan.FileLength, f.DataOffset + f.Tensors.Sum(t => (t.ByteSize + 31) / 32 * 32));
        Assert.Equal(128_256, f.GetArray(GgufKeys.Tokens).Count);
        Assert.Equal(280_147, f.GetArray(GgufKeys.Merges).Count);

        // The header is everything but the data: valid up to the missing bytes.
        var v = ModelValidator.Default.Validate(header);
        Assert.Equal(ValidationCode.Truncated, v.Code);
        Assert.Contains("file is truncated: tensor 'token_embd.weight'", v.Problems[0], StringComparison.Ordinal);
    }

    [Llama3VocabFact]
    public void TwoB_vocabulary_keeps_llama3_ids_and_adds_the_youtu_markers()
    {
        var v = Llama3Vocabulary.Load(TestPaths.Llama3Vocab);
        Assert.Equal(128_256, v.Tokens.Count);
        Assert.Equal(128000, v.BosTokenId);
        Assert.Equal(128001, v.EosTokenId);
        Assert.Equal(v.Tokens.Count, v.Tokens.Distinct().Count());
        var expected = new Dictionary<string, int>
        {
            ["<|begin_of_text|>"] = 128000,
            ["<|end_of_text|>"] = 128001,
            ["<|User|>"] = 128002,
            ["<|Assistant|>"] = 128003,
            ["<|begin_of_tool_description|>"] = 128004,
            ["<|end_of_tool_description|>"] = 128005,
            ["<think>"] = 128008,
            ["</think>"] = 128010,
            ["<tool_call>"] = 128011,
            ["</tool_call>"] = 128012,
            ["<tool_response>"] = 128013,
            ["</tool_response>"] = 128014,
        };
        Assert.Equal(expected.OrderBy(x => x.Key), v.SpecialTokenIds.OrderBy(x => x.Key));
        foreach (var (token, id) in expected)
        {
            Assert.Equal(token, v.Tokens[id]);
            var type = YoutuSpecialTokens.UserDefined.Contains(token) ? GgufTokenType.UserDefined : GgufTokenType.Control;
            Assert.Equal(type, v.TokenTypes[id]);
        }

        Assert.Equal("<|eot_id|>", v.Tokens[128009]);
    }

    [Fact]
    public void TwoB_without_a_vocabulary_fails_clearly()
    {
        var e = Assert.Throws<FileNotFoundException>(() =>
            YoutuSynthesizer.Plan(new SynthOptions { Preset = SynthPreset.TwoB, VocabPath = PathFor("missing-vocab.gguf") }));
        Assert.Contains("needed for the 2b preset", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Synthesize_requires_an_output_path()
    {
        Assert.Throws<ArgumentException>(() => YoutuSynthesizer.Synthesize(new SynthOptions()));
    }

    /// <summary>Reference byte-level BPE (whole-piece lookup first, like ignore_merges), to count tokens.</summary>
    private static int BpeTokenCount(string text, Dictionary<string, int> vocab, IReadOnlyList<string> merges)
    {
        var ranks = merges.Select((m, i) => (m, i)).ToDictionary(x => x.m, x => x.i);
        var total = 0;
        foreach (System.Text.RegularExpressions.Match piece in System.Text.RegularExpressions.Regex.Matches(text, @" ?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]+|\s+"))
        {
            var encoded = Gpt2ByteEncoding.Encode(piece.Value);
            if (vocab.ContainsKey(encoded))
            {
                total++;
                continue;
            }

            var symbols = encoded.Select(c => c.ToString()).ToList();
            while (true)
            {
                var best = -1;
                var bestRank = int.MaxValue;
                for (var i = 0; i + 1 < symbols.Count; i++)
                {
                    if (ranks.TryGetValue(symbols[i] + " " + symbols[i + 1], out var r) && r < bestRank)
                    {
                        (best, bestRank) = (i, r);
                    }
                }

                if (best < 0)
                {
                    break;
                }

                symbols[best] += symbols[best + 1];
                symbols.RemoveAt(best + 1);
            }

            Assert.All(symbols, s => Assert.True(vocab.ContainsKey(s)));
            total += symbols.Count;
        }

        return total;
    }

    /// <summary>Progress&lt;T&gt; posts to the thread pool; tests want the calls inline.</summary>
    private sealed class SyncProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}
