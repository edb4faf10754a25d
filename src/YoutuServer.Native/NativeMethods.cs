using System.Runtime.InteropServices;

namespace YoutuServer.Native;

// The llama.cpp C API subset we use, bound with source-generated LibraryImport.
// Library names are logical; LlamaNativeLibrary's resolver maps them to the pinned files
// (CPU: libllama.v0.5.0.so / libggml.v0.5.0.so; CUDA: libllama.cuda.v0.5.0.so / libggml.cuda.v0.5.0.so).
// Opaque pointers (model, context, vocab, memory, sampler) are nint; ownership lives in the SafeHandles.
internal static unsafe partial class NativeMethods
{
    public const string LlamaLib = "llama";
    public const string GgmlLib = "ggml";
    public const string GgmlBaseLib = "ggml-base";

    // ----- ggml backends and logging -----
    [LibraryImport(GgmlLib)] public static partial void ggml_backend_load_all_from_path(byte* dirPath);
    [LibraryImport(GgmlLib)] public static partial nint ggml_backend_load(byte* path);
    [LibraryImport(GgmlLib)] public static partial nuint ggml_backend_reg_count();
    [LibraryImport(GgmlLib)] public static partial nint ggml_backend_reg_get(nuint index);
    [LibraryImport(GgmlLib)] public static partial nuint ggml_backend_dev_count();
    [LibraryImport(GgmlLib)] public static partial nint ggml_backend_dev_get(nuint index);
    [LibraryImport(GgmlBaseLib)] public static partial byte* ggml_backend_reg_name(nint reg);
    [LibraryImport(GgmlBaseLib)] public static partial byte* ggml_backend_dev_name(nint dev);
    [LibraryImport(GgmlBaseLib)] public static partial byte* ggml_backend_dev_description(nint dev);
    /// <summary>enum ggml_backend_dev_type: 0 CPU, 1 GPU, 2 IGPU, 3 ACCEL, 4 META.</summary>
    [LibraryImport(GgmlBaseLib)] public static partial int ggml_backend_dev_type(nint dev);
    [LibraryImport(GgmlBaseLib)] public static partial void ggml_backend_dev_memory(nint dev, nuint* free, nuint* total);

    // ----- lifecycle -----
    [LibraryImport(LlamaLib)] public static partial byte* llama_version();
    [LibraryImport(LlamaLib)] public static partial void llama_backend_init();
    [LibraryImport(LlamaLib)] public static partial void llama_backend_free();
    [LibraryImport(LlamaLib)] public static partial byte* llama_print_system_info();
    [LibraryImport(LlamaLib)] public static partial void llama_log_set(delegate* unmanaged[Cdecl]<int, byte*, nint, void> callback, nint userData);
    [LibraryImport(LlamaLib)] [return: MarshalAs(UnmanagedType.U1)] public static partial bool llama_supports_gpu_offload();

    [LibraryImport(LlamaLib)] public static partial LlamaModelParams llama_model_default_params();
    [LibraryImport(LlamaLib)] public static partial int llama_model_n_layer(nint model);
    [LibraryImport(LlamaLib)] public static partial LlamaContextParams llama_context_default_params();
    [LibraryImport(LlamaLib)] public static partial LlamaSamplerChainParams llama_sampler_chain_default_params();
    [LibraryImport(LlamaLib)] public static partial LlamaModelQuantizeParams llama_model_quantize_default_params();

    // ----- model -----
    [LibraryImport(LlamaLib)] public static partial nint llama_model_load_from_file(byte* path, LlamaModelParams p);
    [LibraryImport(LlamaLib)] public static partial void llama_model_free(nint model);
    [LibraryImport(LlamaLib)] public static partial nint llama_model_get_vocab(nint model);
    [LibraryImport(LlamaLib)] public static partial int llama_model_n_ctx_train(nint model);
    [LibraryImport(LlamaLib)] public static partial int llama_model_n_embd(nint model);
    [LibraryImport(LlamaLib)] public static partial ulong llama_model_n_params(nint model);
    [LibraryImport(LlamaLib)] public static partial ulong llama_model_size(nint model);
    [LibraryImport(LlamaLib)] public static partial int llama_model_desc(nint model, byte* buf, nuint bufSize);
    [LibraryImport(LlamaLib)] public static partial int llama_model_meta_val_str(nint model, byte* key, byte* buf, nuint bufSize);
    [LibraryImport(LlamaLib)] public static partial byte* llama_model_chat_template(nint model, byte* name);
    [LibraryImport(LlamaLib)] public static partial uint llama_model_quantize(byte* fnameInp, byte* fnameOut, LlamaModelQuantizeParams* p);

    // ----- LoRA adapters (llama.h "Adapters"): an adapter lives as long as its model; contexts apply a set of them -----
    [LibraryImport(LlamaLib)] public static partial nint llama_adapter_lora_init(nint model, byte* pathLora);
    [LibraryImport(LlamaLib)] public static partial void llama_adapter_lora_free(nint adapter);
    [LibraryImport(LlamaLib)] public static partial int llama_adapter_meta_val_str(nint adapter, byte* key, byte* buf, nuint bufSize);
    /// <summary>Sets the context's adapters (n = 0 clears them); a no-op when the set and scales are unchanged.</summary>
    [LibraryImport(LlamaLib)] public static partial int llama_set_adapters_lora(nint ctx, nint* adapters, nuint nAdapters, float* scales);

    // ----- context -----
    [LibraryImport(LlamaLib)] public static partial nint llama_init_from_model(nint model, LlamaContextParams p);
    [LibraryImport(LlamaLib)] public static partial void llama_free(nint ctx);
    [LibraryImport(LlamaLib)] public static partial uint llama_n_ctx(nint ctx);
    [LibraryImport(LlamaLib)] public static partial uint llama_n_batch(nint ctx);
    [LibraryImport(LlamaLib)] public static partial uint llama_n_seq_max(nint ctx);
    [LibraryImport(LlamaLib)] public static partial nint llama_get_memory(nint ctx);
    [LibraryImport(LlamaLib)] public static partial int llama_decode(nint ctx, LlamaBatch batch);
    [LibraryImport(LlamaLib)] public static partial float* llama_get_logits_ith(nint ctx, int i);
    [LibraryImport(LlamaLib)] public static partial void llama_set_n_threads(nint ctx, int nThreads, int nThreadsBatch);
    [LibraryImport(LlamaLib)] public static partial void llama_synchronize(nint ctx);
    [LibraryImport(LlamaLib)] public static partial LlamaPerfContextData llama_perf_context(nint ctx);
    [LibraryImport(LlamaLib)] public static partial void llama_perf_context_reset(nint ctx);

    // ----- batch -----
    [LibraryImport(LlamaLib)] public static partial LlamaBatch llama_batch_init(int nTokens, int embd, int nSeqMax);
    [LibraryImport(LlamaLib)] public static partial void llama_batch_free(LlamaBatch batch);

    // ----- memory (KV cache) -----
    [LibraryImport(LlamaLib)] public static partial void llama_memory_clear(nint mem, [MarshalAs(UnmanagedType.U1)] bool data);
    [LibraryImport(LlamaLib)] [return: MarshalAs(UnmanagedType.U1)] public static partial bool llama_memory_seq_rm(nint mem, int seqId, int p0, int p1);
    [LibraryImport(LlamaLib)] public static partial void llama_memory_seq_cp(nint mem, int seqSrc, int seqDst, int p0, int p1);
    [LibraryImport(LlamaLib)] public static partial int llama_memory_seq_pos_min(nint mem, int seqId);
    [LibraryImport(LlamaLib)] public static partial int llama_memory_seq_pos_max(nint mem, int seqId);

    // ----- sequence state (llama.h "State / sessions"): a sequence's KV cells as bytes, restored into any sequence -----
    /// <summary>Bytes <see cref="llama_state_seq_get_data_ext"/> needs for the sequence; 0 on error.</summary>
    [LibraryImport(LlamaLib)] public static partial nuint llama_state_seq_get_size_ext(nint ctx, int seqId, uint flags);
    /// <summary>Copies the sequence's cells (positions, K/V rows, cell types) into dst; returns the bytes written, 0 on error.</summary>
    [LibraryImport(LlamaLib)] public static partial nuint llama_state_seq_get_data_ext(nint ctx, byte* dst, nuint size, int seqId, uint flags);
    /// <summary>
    /// Empties destSeqId, then places the saved cells in free cells of the cache; returns the bytes read, 0 when the
    /// data does not fit this context (wrong magic, layer count, cell types, row sizes, truncated, no free cells).
    /// On 0 the destination sequence is left empty.
    /// </summary>
    [LibraryImport(LlamaLib)] public static partial nuint llama_state_seq_set_data_ext(nint ctx, byte* src, nuint size, int destSeqId, uint flags);

    // ----- vocabulary -----
    [LibraryImport(LlamaLib)] public static partial int llama_vocab_n_tokens(nint vocab);
    [LibraryImport(LlamaLib)] public static partial int llama_vocab_type(nint vocab);
    [LibraryImport(LlamaLib)] public static partial int llama_vocab_bos(nint vocab);
    [LibraryImport(LlamaLib)] public static partial int llama_vocab_eos(nint vocab);
    [LibraryImport(LlamaLib)] public static partial int llama_vocab_eot(nint vocab);
    [LibraryImport(LlamaLib)] [return: MarshalAs(UnmanagedType.U1)] public static partial bool llama_vocab_is_eog(nint vocab, int token);
    [LibraryImport(LlamaLib)] [return: MarshalAs(UnmanagedType.U1)] public static partial bool llama_vocab_is_control(nint vocab, int token);
    [LibraryImport(LlamaLib)] [return: MarshalAs(UnmanagedType.U1)] public static partial bool llama_vocab_get_add_bos(nint vocab);
    [LibraryImport(LlamaLib)] [return: MarshalAs(UnmanagedType.U1)] public static partial bool llama_vocab_get_add_eos(nint vocab);
    [LibraryImport(LlamaLib)] public static partial int llama_vocab_get_attr(nint vocab, int token);
    [LibraryImport(LlamaLib)] public static partial byte* llama_vocab_get_text(nint vocab, int token);
    [LibraryImport(LlamaLib)]
    public static partial int llama_tokenize(nint vocab, byte* text, int textLen, int* tokens, int nTokensMax,
        [MarshalAs(UnmanagedType.U1)] bool addSpecial, [MarshalAs(UnmanagedType.U1)] bool parseSpecial);
    [LibraryImport(LlamaLib)]
    public static partial int llama_token_to_piece(nint vocab, int token, byte* buf, int length, int lstrip,
        [MarshalAs(UnmanagedType.U1)] bool special);
    [LibraryImport(LlamaLib)]
    public static partial int llama_detokenize(nint vocab, int* tokens, int nTokens, byte* text, int textLenMax,
        [MarshalAs(UnmanagedType.U1)] bool removeSpecial, [MarshalAs(UnmanagedType.U1)] bool unparseSpecial);

    // ----- chat templates (built-in list only; not a Jinja engine) -----
    [LibraryImport(LlamaLib)]
    public static partial int llama_chat_apply_template(byte* tmpl, LlamaChatMessage* chat, nuint nMsg,
        [MarshalAs(UnmanagedType.U1)] bool addAss, byte* buf, int length);

    // ----- samplers -----
    [LibraryImport(LlamaLib)] public static partial nint llama_sampler_chain_init(LlamaSamplerChainParams p);
    [LibraryImport(LlamaLib)] public static partial void llama_sampler_chain_add(nint chain, nint smpl);
    [LibraryImport(LlamaLib)] public static partial nint llama_sampler_init_greedy();
    [LibraryImport(LlamaLib)] public static partial nint llama_sampler_init_dist(uint seed);
    [LibraryImport(LlamaLib)] public static partial nint llama_sampler_init_top_k(int k);
    [LibraryImport(LlamaLib)] public static partial nint llama_sampler_init_top_p(float p, nuint minKeep);
    [LibraryImport(LlamaLib)] public static partial nint llama_sampler_init_min_p(float p, nuint minKeep);
    [LibraryImport(LlamaLib)] public static partial nint llama_sampler_init_temp(float t);
    [LibraryImport(LlamaLib)] public static partial nint llama_sampler_init_penalties(int nVocab, int penaltyLastN, float penaltyRepeat, float penaltyFreq, float penaltyPresent);
    [LibraryImport(LlamaLib)] public static partial nint llama_sampler_init_logit_bias(int nVocab, int nLogitBias, LlamaLogitBias* logitBias);
    [LibraryImport(LlamaLib)] public static partial nint llama_sampler_init_grammar(nint vocab, byte* grammarStr, byte* grammarRoot);
    [LibraryImport(LlamaLib)]
    public static partial nint llama_sampler_init_grammar_lazy_patterns(nint vocab, byte* grammarStr, byte* grammarRoot,
        byte** triggerPatterns, nuint nTriggerPatterns, int* triggerTokens, nuint nTriggerTokens);
    [LibraryImport(LlamaLib)] public static partial int llama_sampler_sample(nint smpl, nint ctx, int idx);
    [LibraryImport(LlamaLib)] public static partial void llama_sampler_apply(nint smpl, LlamaTokenDataArray* curP);
    [LibraryImport(LlamaLib)] public static partial void llama_sampler_accept(nint smpl, int token);
    [LibraryImport(LlamaLib)] public static partial void llama_sampler_reset(nint smpl);
    [LibraryImport(LlamaLib)] public static partial void llama_sampler_free(nint smpl);
}
