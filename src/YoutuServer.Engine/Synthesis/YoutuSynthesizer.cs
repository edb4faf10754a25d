using System.Diagnostics;
using System.Text;
using YoutuServer.Engine.Gguf;

namespace YoutuServer.Engine.Synthesis;

/// <summary>
/// Writes Youtu-LLM-shaped GGUF models with random weights: architecture deepseek2, dense (every layer dense),
/// MLA with split attn_k_b/attn_v_b and head_count_kv 1, tied embeddings, Youtu's marker tokens and its real chat
/// template. No real weights are available, so this is what the server and its tests load.
/// </summary>
public static class YoutuSynthesizer
{
    private const string TemplateResource = "YoutuServer.Engine.Synthesis.youtu_chat_template.jinja";

    private static readonly Lazy<string> Template = new(LoadTemplate);

    /// <summary>Youtu-LLM-2B's chat template, verbatim (embedded resource).</summary>
    public static string ChatTemplate => Template.Value;

    /// <summary>Hyper-parameters of a preset (the vocabulary size is the preset's tokenizer's).</summary>
    public static Deepseek2HyperParameters HyperParameters(SynthPreset preset) => preset switch
    {
        SynthPreset.TwoB => new(
            EmbeddingLength: 2048, BlockCount: 32, HeadCount: 16, QLoraRank: 1536, KvLoraRank: 512,
            QkNopeHeadDim: 128, QkRopeHeadDim: 64, VHeadDim: 128, FeedForwardLength: 6144,
            VocabSize: Llama3Vocabulary.ExpectedTokenCount, ContextLength: 131072, RopeFreqBase: 1.6e6f, RmsNormEpsilon: 1e-6f),
        SynthPreset.Tiny => new(
            EmbeddingLength: 64, BlockCount: 2, HeadCount: 4, QLoraRank: 32, KvLoraRank: 16,
            QkNopeHeadDim: 16, QkRopeHeadDim: 8, VHeadDim: 16, FeedForwardLength: 128,
            VocabSize: TinyVocabulary.Instance.Tokens.Count, ContextLength: 4096, RopeFreqBase: 1.6e6f, RmsNormEpsilon: 1e-6f),
        _ => throw new ArgumentOutOfRangeException(nameof(preset), preset, "unknown preset"),
    };

    /// <summary>Builds the metadata and tensor table without writing anything (dry mode).</summary>
    public static SynthPlan Plan(SynthOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var vocab = options.Preset == SynthPreset.TwoB ? Llama3Vocabulary.Load(options.VocabPath) : TinyVocabulary.Instance;
        var hp = HyperParameters(options.Preset);
        if (hp.VocabSize != vocab.Tokens.Count)
        {
            throw new InvalidOperationException($"vocabulary has {vocab.Tokens.Count} tokens, preset expects {hp.VocabSize}");
        }

        var w = new GgufWriter();
        var isF16 = options.DType == SynthDType.F16;
        w.AddString(GgufKeys.Architecture, GgufKeys.Deepseek2);
        w.AddString(GgufKeys.Name, options.Preset == SynthPreset.TwoB
            ? "Youtu-LLM-2B (synthetic random weights)"
            : "Youtu-LLM tiny (synthetic random weights)");
        w.AddUInt32(GgufKeys.FileType, isF16 ? 1u : 0u); // LLAMA_FTYPE_MOSTLY_F16 / ALL_F32

        w.AddUInt32(GgufKeys.ContextLength, (uint)hp.ContextLength);
        w.AddUInt32(GgufKeys.EmbeddingLength, (uint)hp.EmbeddingLength);
        w.AddUInt32(GgufKeys.BlockCount, (uint)hp.BlockCount);
        w.AddUInt32(GgufKeys.FeedForwardLength, (uint)hp.FeedForwardLength);
        w.AddUInt32(GgufKeys.HeadCount, (uint)hp.HeadCount);
        w.AddUInt32(GgufKeys.HeadCountKv, 1); // MLA is stored as MQA with one latent KV head
        w.AddFloat32(GgufKeys.RopeFreqBase, hp.RopeFreqBase);
        w.AddFloat32(GgufKeys.RmsEpsilon, hp.RmsNormEpsilon);
        w.AddUInt32(GgufKeys.LeadingDenseBlockCount, (uint)hp.BlockCount); // dense: no MoE layers
        w.AddUInt32(GgufKeys.VocabSize, (uint)hp.VocabSize);
        w.AddUInt32(GgufKeys.QLoraRank, (uint)hp.QLoraRank);
        w.AddUInt32(GgufKeys.KvLoraRank, (uint)hp.KvLoraRank);
        w.AddUInt32(GgufKeys.KeyLength, (uint)hp.KeyLength);
        w.AddUInt32(GgufKeys.ValueLength, (uint)hp.ValueLength);
        w.AddUInt32(GgufKeys.KeyLengthMla, (uint)hp.KeyLengthMla);
        w.AddUInt32(GgufKeys.ValueLengthMla, (uint)hp.ValueLengthMla);
        w.AddUInt32(GgufKeys.ExpertFeedForwardLength, (uint)hp.FeedForwardLength); // as the converter writes for dense
        w.AddUInt32(GgufKeys.ExpertSharedCount, 0);
        w.AddUInt32(GgufKeys.RopeDimensionCount, (uint)hp.QkRopeHeadDim);

        w.AddString(GgufKeys.TokenizerModel, "gpt2");
        w.AddString(GgufKeys.TokenizerPre, "youtu");
        w.AddStringArray(GgufKeys.Tokens, vocab.Tokens);
        w.AddInt32Array(GgufKeys.TokenType, vocab.TokenTypes.ToArray());
        w.AddStringArray(GgufKeys.Merges, vocab.Merges);
        w.AddUInt32(GgufKeys.BosTokenId, (uint)vocab.BosTokenId);
        w.AddUInt32(GgufKeys.EosTokenId, (uint)vocab.EosTokenId);
        w.AddUInt32(GgufKeys.EotTokenId, (uint)vocab.EosTokenId);
        w.AddUInt32(GgufKeys.PaddingTokenId, (uint)vocab.EosTokenId); // Youtu pads with <|end_of_text|>
        w.AddBool(GgufKeys.AddBosToken, false); // the chat template emits BOS itself
        w.AddBool(GgufKeys.AddEosToken, false);
        w.AddString(GgufKeys.ChatTemplate, ChatTemplate);

        var weights = new Lazy<RandomWeights>(() => new RandomWeights(options.Seed, options.DType));
        var matrixType = isF16 ? GgmlType.F16 : GgmlType.F32;
        ulong index = 0;
        foreach (var t in hp.ExpectedTensors())
        {
            var elements = t.ElementCount;
            var stream = index++;
            if (t.IsNorm)
            {
                w.AddTensor(t.Name, t.Shape, GgmlType.F32, s => RandomWeights.WriteOnes(s, elements));
            }
            else
            {
                w.AddTensor(t.Name, t.Shape, matrixType, s => weights.Value.Write(s, elements, stream));
            }
        }

        return new SynthPlan(options, hp, vocab, w);
    }

    /// <summary>Writes the model to <see cref="SynthOptions.OutPath"/> (via a temporary file, then renamed).</summary>
    public static SynthResult Synthesize(SynthOptions options, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.OutPath))
        {
            throw new ArgumentException("SynthOptions.OutPath is required", nameof(options));
        }

        var sw = Stopwatch.StartNew();
        var plan = Plan(options);
        var path = Path.GetFullPath(options.OutPath);
        plan.Writer.WriteTo(path, progress, cancellationToken);
        return new SynthResult(path, plan.FileLength, plan.ParameterCount, plan.Tensors.Count, plan.KeyValueCount,
            plan.HyperParameters, plan.SpecialTokenIds, sw.Elapsed);
    }

    private static string LoadTemplate()
    {
        using var s = typeof(YoutuSynthesizer).Assembly.GetManifestResourceStream(TemplateResource)
            ?? throw new InvalidOperationException($"embedded resource '{TemplateResource}' is missing");
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return new UTF8Encoding(false, true).GetString(ms.GetBuffer(), 0, (int)ms.Length);
    }
}
