using System.Globalization;

namespace YoutuServer.Engine.Gguf;

/// <summary>GGUF key names the deepseek2 (Youtu-LLM) loader in the pinned llama.cpp reads.</summary>
public static class GgufKeys
{
    public const string Architecture = "general.architecture";
    public const string Name = "general.name";
    public const string FileType = "general.file_type";
    public const string Alignment = GgufReader.AlignmentKey;

    public const string Deepseek2 = "deepseek2";

    public const string ContextLength = "deepseek2.context_length";
    public const string EmbeddingLength = "deepseek2.embedding_length";
    public const string BlockCount = "deepseek2.block_count";
    public const string FeedForwardLength = "deepseek2.feed_forward_length";
    public const string HeadCount = "deepseek2.attention.head_count";
    public const string HeadCountKv = "deepseek2.attention.head_count_kv";
    public const string RopeFreqBase = "deepseek2.rope.freq_base";
    public const string RopeDimensionCount = "deepseek2.rope.dimension_count";
    public const string RopeScalingType = "deepseek2.rope.scaling.type";
    public const string RmsEpsilon = "deepseek2.attention.layer_norm_rms_epsilon";
    public const string LeadingDenseBlockCount = "deepseek2.leading_dense_block_count";
    public const string VocabSize = "deepseek2.vocab_size";
    public const string QLoraRank = "deepseek2.attention.q_lora_rank";
    public const string KvLoraRank = "deepseek2.attention.kv_lora_rank";
    public const string KeyLength = "deepseek2.attention.key_length";
    public const string ValueLength = "deepseek2.attention.value_length";
    public const string KeyLengthMla = "deepseek2.attention.key_length_mla";
    public const string ValueLengthMla = "deepseek2.attention.value_length_mla";
    public const string ExpertFeedForwardLength = "deepseek2.expert_feed_forward_length";
    public const string ExpertSharedCount = "deepseek2.expert_shared_count";
    public const string ExpertCount = "deepseek2.expert_count";
    public const string ExpertUsedCount = "deepseek2.expert_used_count";
    public const string ExpertGroupCount = "deepseek2.expert_group_count";
    public const string NextNPredictLayers = "deepseek2.nextn_predict_layers";

    public const string TokenizerModel = "tokenizer.ggml.model";
    public const string TokenizerPre = "tokenizer.ggml.pre";
    public const string Tokens = "tokenizer.ggml.tokens";
    public const string TokenType = "tokenizer.ggml.token_type";
    public const string Scores = "tokenizer.ggml.scores";
    public const string Merges = "tokenizer.ggml.merges";
    public const string BosTokenId = "tokenizer.ggml.bos_token_id";
    public const string EosTokenId = "tokenizer.ggml.eos_token_id";
    public const string EotTokenId = "tokenizer.ggml.eot_token_id";
    public const string PaddingTokenId = "tokenizer.ggml.padding_token_id";
    public const string AddBosToken = "tokenizer.ggml.add_bos_token";
    public const string AddEosToken = "tokenizer.ggml.add_eos_token";
    public const string ChatTemplate = "tokenizer.chat_template";
}

/// <summary>llama.cpp token types (<c>tokenizer.ggml.token_type</c> values).</summary>
public static class GgufTokenType
{
    public const int Undefined = 0;
    public const int Normal = 1;
    public const int Unknown = 2;
    public const int Control = 3;
    public const int UserDefined = 4;
    public const int Unused = 5;
    public const int Byte = 6;
}

/// <summary>One tensor the deepseek2 loader will ask for, with its ggml shape.</summary>
/// <param name="IsNorm">1-D RMSNorm weight (kept F32).</param>
public sealed record ExpectedTensor(string Name, long[] Shape, bool IsNorm)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// Hyper-parameters of a dense MLA deepseek2 model in the Youtu layout (split attn_k_b/attn_v_b, head_count_kv 1,
/// tied embeddings), and the tensor table llama.cpp's deepseek2 loader expects for them.
/// </summary>
public sealed record Deepseek2HyperParameters(
    int EmbeddingLength,
    int BlockCount,
    int HeadCount,
    int QLoraRank,
    int KvLoraRank,
    int QkNopeHeadDim,
    int QkRopeHeadDim,
    int VHeadDim,
    int FeedForwardLength,
    int VocabSize,
    int ContextLength,
    float RopeFreqBase,
    float RmsNormEpsilon)
{
    /// <summary><c>attention.key_length</c>: the MQA head the KV cache stores (latent + rope part).</summary>
    public int KeyLength => KvLoraRank + QkRopeHeadDim;

    /// <summary><c>attention.value_length</c>.</summary>
    public int ValueLength => KvLoraRank;

    /// <summary><c>attention.key_length_mla</c>: the decompressed per-head q/k size (nope + rope).</summary>
    public int KeyLengthMla => QkNopeHeadDim + QkRopeHeadDim;

    /// <summary><c>attention.value_length_mla</c>.</summary>
    public int ValueLengthMla => VHeadDim;

    /// <summary>
    /// The tensors llama.cpp's deepseek2 loader creates (src/models/deepseek2.cpp, MLA + dense branch), in its order.
    /// <c>output.weight</c> is optional (tied embeddings) and is not listed.
    /// </summary>
    public IReadOnlyList<ExpectedTensor> ExpectedTensors()
    {
        long e = EmbeddingLength, h = HeadCount, ql = QLoraRank, kvl = KvLoraRank;
        long nope = QkNopeHeadDim, rope = QkRopeHeadDim, vd = VHeadDim, ff = FeedForwardLength;
        var list = new List<ExpectedTensor>(2 + (13 * BlockCount))
        {
            new("token_embd.weight", [e, VocabSize], false),
            new("output_norm.weight", [e], true),
        };
        for (var i = 0; i < BlockCount; i++)
        {
            var p = "blk." + i.ToString(CultureInfo.InvariantCulture) + ".";
            list.Add(new(p + "attn_norm.weight", [e], true));
            list.Add(new(p + "attn_q_a_norm.weight", [ql], true));
            list.Add(new(p + "attn_kv_a_norm.weight", [kvl], true));
            list.Add(new(p + "attn_q_a.weight", [e, ql], false));
            list.Add(new(p + "attn_q_b.weight", [ql, h * (nope + rope)], false));
            list.Add(new(p + "attn_kv_a_mqa.weight", [e, kvl + rope], false));
            list.Add(new(p + "attn_k_b.weight", [nope, kvl, h], false));
            list.Add(new(p + "attn_v_b.weight", [kvl, vd, h], false));
            list.Add(new(p + "attn_output.weight", [h * vd, e], false));
            list.Add(new(p + "ffn_norm.weight", [e], true));
            list.Add(new(p + "ffn_gate.weight", [e, ff], false));
            list.Add(new(p + "ffn_down.weight", [ff, e], false));
            list.Add(new(p + "ffn_up.weight", [e, ff], false));
        }

        return list;
    }

    /// <summary>Parameters with tied embeddings (what llama_model_n_params reports).</summary>
    public long ParameterCount => ExpectedTensors().Sum(t => t.ElementCount);
}
