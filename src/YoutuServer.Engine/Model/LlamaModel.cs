using System.Text;
using Microsoft.Extensions.Logging;
using YoutuServer.Native;

namespace YoutuServer.Engine.Model;

/// <summary>
/// A loaded model and its vocabulary. Loading validates the GGUF in managed code first, because llama.cpp
/// aborts the whole process (GGML_ASSERT) on several malformed files and on AMX CPUs with repacking buffers.
/// Vocabulary calls are read-only on the native side and safe from any thread.
/// </summary>
public sealed unsafe partial class LlamaModel : IDisposable
{
    private readonly SafeLlamaModelHandle handle;
    private readonly bool[] eog;

    private LlamaModel(SafeLlamaModelHandle handle, string path)
    {
        this.handle = handle;
        Path = path;
        var m = handle.DangerousGetHandle();
        Vocab = NativeMethods.llama_model_get_vocab(m);
        VocabSize = NativeMethods.llama_vocab_n_tokens(Vocab);
        Bos = NativeMethods.llama_vocab_bos(Vocab);
        Eos = NativeMethods.llama_vocab_eos(Vocab);
        ContextTrain = NativeMethods.llama_model_n_ctx_train(m);
        ParameterCount = NativeMethods.llama_model_n_params(m);
        SizeBytes = NativeMethods.llama_model_size(m);
        var buf = stackalloc byte[256];
        var n = NativeMethods.llama_model_desc(m, buf, 256);
        Description = n > 0 ? Encoding.UTF8.GetString(buf, Math.Min(n, 255)) : "";
        ChatTemplate = NativeMethods.llama_model_chat_template(m, null) is var t && t != null ? LlamaNativeLibrary.Utf8(t) : null;
        eog = new bool[VocabSize];
        var eogList = new List<int>();
        for (var i = 0; i < VocabSize; i++)
        {
            if (NativeMethods.llama_vocab_is_eog(Vocab, i))
            {
                eog[i] = true;
                eogList.Add(i);
            }
        }

        EndOfGenerationTokens = eogList;
        EndOfGenerationIds = [.. eogList];
    }

    public string Path { get; }
    public string Name => System.IO.Path.GetFileNameWithoutExtension(Path);
    public int VocabSize { get; }
    public int Bos { get; }
    public int Eos { get; }
    public int ContextTrain { get; }
    public ulong ParameterCount { get; }
    public ulong SizeBytes { get; }
    public string Description { get; }
    public string? ChatTemplate { get; }
    public IReadOnlyList<int> EndOfGenerationTokens { get; }
    /// <summary>Repeating layers of the model.</summary>
    public int LayerCount { get; private set; }
    /// <summary>Layers (of LayerCount + 1, the output layer counted) that live on a GPU; 0 on the CPU.</summary>
    public int GpuLayers { get; private set; }
    /// <summary>Where the weights run, for logs, /health and /metrics: the GPU devices, else the CPU.</summary>
    public string Backend => GpuLayers > 0 ? LlamaNativeLibrary.BackendSummary : Devices0();

    private static string Devices0() => LlamaNativeLibrary.Devices.FirstOrDefault(d => d.Kind == "CPU")?.ToString() ?? "CPU";
    /// <summary>The same ids as an array (a span for the samplers' suppress list).</summary>
    internal int[] EndOfGenerationIds { get; }

    internal nint Vocab { get; }

    private Sampling.Utf8TokenGuard? utf8Guard;

    /// <summary>Every token's bytes as the grammar sees them (control tokens rendered), built on first use.</summary>
    internal Sampling.Utf8TokenGuard Utf8Guard =>
        LazyInitializer.EnsureInitialized(ref utf8Guard, () => new Sampling.Utf8TokenGuard(VocabSize, TokenBytes));

    /// <summary>Builds the lazily made per-vocabulary tables now.</summary>
    public void WarmUpTables()
    {
        _ = Utf8Guard;
        _ = Specials;
    }

    /// <summary>The raw bytes of one token (control tokens rendered as their text); may be a partial UTF-8 character.</summary>
    public byte[] TokenBytes(int token)
    {
        Span<byte> buf = stackalloc byte[256];
        var n = TokenToPiece(token, buf, special: true);
        return buf[..n].ToArray();
    }
    internal SafeLlamaModelHandle Handle => handle;

    public bool IsEndOfGeneration(int token) => (uint)token < (uint)eog.Length && eog[token];

    /// <summary>Validates, then loads. Throws ModelLoadException with a one-line reason on any failure.</summary>
    public static LlamaModel Load(EngineOptions options, ILogger? logger = null)
    {
        var path = options.ModelPath;
        if (!File.Exists(path))
        {
            throw new ModelLoadException($"model file not found: {path}");
        }

        if (!options.SkipValidation)
        {
            ValidateFile(path);
        }

        LlamaRuntime.Initialize(options.Library);

        // llama.cpp falls back to the CPU without a word when a GPU module fails to load: a GPU that was asked for
        // explicitly must be there, or the server would run 10-50x slower than its operator expects.
        var wantsGpu = options.Library.Backend == LlamaBackend.Cuda || options.GpuLayers > 0;
        if (wantsGpu && !LlamaNativeLibrary.HasGpuDevice)
        {
            throw new ModelLoadException(
                $"{(options.Library.Backend == LlamaBackend.Cuda ? "--native cuda" : $"--gpu-layers {options.GpuLayers}")} asks for a GPU, but no GPU backend " +
                $"registered from '{LlamaNativeLibrary.LoadedDirectory}' (devices: {string.Join(", ", LlamaNativeLibrary.Backends)}). " +
                "llama.cpp would silently run on the CPU; refusing to start. Check that libggml-cuda.so is in that folder and that " +
                "`ldd libggml-cuda.so` finds the CUDA runtime and driver (or run with --gpu-layers 0).");
        }

        var p = NativeMethods.llama_model_default_params();
        var gpu = LlamaNativeLibrary.SupportsGpuOffload && LlamaNativeLibrary.HasGpuDevice;
        p.NGpuLayers = options.GpuLayers >= 0 ? options.GpuLayers : gpu ? 999 : 0;
        // Weight repacking (extra buffer types): llama.cpp's default and a large decode speed-up on some CPUs, but on
        // AMX CPUs it makes llama_init_from_model abort for F16/Q8_0/Q4_K_M on this release (research/native.md §4),
        // so it is off there unless asked for. It also keeps a repacked copy beside the mmapped file (higher RSS).
        p.UseExtraBufts = options.UseExtraBufts ?? !LlamaNativeLibrary.CpuHasAmx;
        // Repacked weights (CPU only) are copied into their own buffer at load; a mapping would keep the file's pages
        // resident beside that copy, so read the file instead: RSS is then about the model size, not twice it.
        var mmap = options.UseMmap ?? !(p.UseExtraBufts && p.NGpuLayers == 0);
        p.LoadMode = mmap ? LlamaConstants.LoadModeMmap : LlamaConstants.LoadModeNone;
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        nint m;
        fixed (byte* b = bytes)
        {
            m = NativeMethods.llama_model_load_from_file(b, p);
        }

        if (m == 0)
        {
            throw new ModelLoadException($"{path}: llama.cpp could not load the model (see the log for its reason)");
        }

        var model = new LlamaModel(new SafeLlamaModelHandle(m), path);
        model.LayerCount = NativeMethods.llama_model_n_layer(m);
        // llama.cpp offloads the last n_gpu_layers repeating layers, plus the output layer once all of them are.
        model.GpuLayers = gpu ? Math.Min(Math.Max(p.NGpuLayers, 0), model.LayerCount + 1) : 0;
        if (logger is not null)
        {
            if (logger.IsEnabled(LogLevel.Information))
            {
                var devices = string.Join("; ", LlamaNativeLibrary.Devices.Select(d => d.ToString()));
                var backend = model.Backend;
                LogBackends(logger, LlamaNativeLibrary.LoadedDirectory ?? "?", devices);
                LogOffload(logger, model.Name, model.GpuLayers, model.LayerCount + 1, backend);
            }
            LogLoaded(logger, model.Name, model.Description, model.ParameterCount, model.SizeBytes, model.VocabSize, model.ContextTrain, p.NGpuLayers, p.UseExtraBufts, mmap);
        }

        return model;
    }

    private static void ValidateFile(string path)
    {
        var result = Gguf.ModelValidator.Default.Validate(path);
        if (!result.IsValid)
        {
            throw new ModelLoadException(result.Message);
        }
    }

    private SpecialTokenSplitter? specialSplitter;

    private SpecialTokenSplitter Specials => LazyInitializer.EnsureInitialized(ref specialSplitter, () =>
    {
        // The tokens llama.cpp matches as text with parse_special: control, user-defined and unknown.
        const int attrs = LlamaConstants.TokenAttrControl | LlamaConstants.TokenAttrUserDefined | LlamaConstants.TokenAttrUnknown;
        var list = new List<(string, int)>();
        for (var t = 0; t < VocabSize; t++)
        {
            if ((NativeMethods.llama_vocab_get_attr(Vocab, t) & attrs) != 0 && TokenText(t) is { Length: > 0 } text)
            {
                list.Add((text, t));
            }
        }

        return new SpecialTokenSplitter(list);
    });

    /// <summary>Tokenizes UTF-8 text. parseSpecial maps marker text such as "&lt;|User|&gt;" to its control token.</summary>
    public int[] Tokenize(string text, bool addSpecial = false, bool parseSpecial = true) =>
        TryTokenize(text, addSpecial, parseSpecial, int.MaxValue, out _)!;

    /// <summary>
    /// As <see cref="Tokenize"/>, but stops (null) as soon as the text certainly holds more than <paramref name="limit"/>
    /// tokens; <paramref name="atLeast"/> then says how many it has seen. A request far beyond the context is refused
    /// without tokenizing it all: llama.cpp compiles its pre-tokenizer regex for every stretch between special tokens
    /// (~0.3 ms each here), so 20,000 short messages cost 14 s.
    /// </summary>
    public int[]? TryTokenize(string text, bool addSpecial, bool parseSpecial, int limit, out int atLeast)
    {
        // Short texts: one call. Longer ones on a BPE vocabulary: cut here at special tokens (llama.cpp's own cut is
        // superlinear) and cut long stretches into pieces (its std::regex recursion overflows the stack on a run of
        // ~32k letters and kills the process). Same tokens, except inside runs of over MaxRun characters.
        if (text.Length < 1024 || NativeMethods.llama_vocab_type(Vocab) != LlamaConstants.VocabTypeBpe)
        {
            var whole = TokenizeWhole(text, addSpecial, parseSpecial);
            atLeast = whole.Length;
            return whole.Length > limit ? null : whole;
        }

        var parts = parseSpecial && !Specials.IsEmpty ? Specials.Split(text) : [(0, text.Length, -1)];
        var bos = addSpecial && NativeMethods.llama_vocab_get_add_bos(Vocab) ? 1 : 0;
        var eos = addSpecial && NativeMethods.llama_vocab_get_add_eos(Vocab) ? 1 : 0;

        // Every special token is one token and every stretch between them at least one.
        atLeast = bos + eos + parts.Count;
        if (atLeast > limit)
        {
            return null;
        }

        var result = new List<int>(Math.Min(text.Length / 3 + 8, 1 << 20));
        if (bos == 1)
        {
            result.Add(Bos);
        }

        for (var p = 0; p < parts.Count; p++)
        {
            var (start, length, id) = parts[p];
            if (id >= 0)
            {
                result.Add(id);
            }
            else
            {
                foreach (var (cs, cl) in PlainChunks(text, start, length))
                {
                    result.AddRange(TokenizeWhole(text.Substring(cs, cl), addSpecial: false, parseSpecial));
                    if (result.Count > limit)
                    {
                        break; // counted just below
                    }
                }
            }

            if (result.Count + (parts.Count - p - 1) + eos > limit)
            {
                atLeast = result.Count + (parts.Count - p - 1) + eos;
                return null;
            }
        }

        if (eos == 1)
        {
            result.Add(Eos);
        }

        atLeast = result.Count;
        return [.. result];
    }

    /// <summary>Longest stretch handed to llama.cpp without a pre-token boundary (8k letters still passed; 32k overflowed).</summary>
    internal const int MaxRun = 1024;

    private const int MaxChunk = 8192;

    /// <summary>
    /// Cuts a stretch of plain text into pieces of about MaxChunk characters at points where every supported BPE
    /// pre-tokenizer (GPT-2, Llama-3, Youtu) starts a new pre-token anyway: before a space that follows a non-space,
    /// after a newline that precedes a non-space. A run of more than MaxRun characters without such a point is cut
    /// where it reaches MaxRun (never inside a surrogate pair or CR LF): the only place the tokens may differ.
    /// </summary>
    internal static IEnumerable<(int Start, int Length)> PlainChunks(string text, int start, int length)
    {
        var end = start + length;
        var chunkStart = start;
        var lastSafe = start;
        for (var i = start + 1; i < end; i++)
        {
            var c = text[i];
            var prev = text[i - 1];
            var safe = (c == ' ' && !char.IsWhiteSpace(prev)) || (prev == '\n' && !char.IsWhiteSpace(c));
            if (safe)
            {
                lastSafe = i;
                if (i - chunkStart >= MaxChunk)
                {
                    yield return (chunkStart, i - chunkStart);
                    chunkStart = i;
                }
            }
            else if (i - Math.Max(lastSafe, chunkStart) >= MaxRun && !char.IsLowSurrogate(c) && !(prev == '\r' && c == '\n'))
            {
                yield return (chunkStart, i - chunkStart);
                chunkStart = i;
                lastSafe = i;
            }
        }

        if (end > chunkStart)
        {
            yield return (chunkStart, end - chunkStart);
        }
    }

    /// <summary>One llama_tokenize call over the whole text (the reference the split path must equal).</summary>
    internal int[] TokenizeWhole(string text, bool addSpecial, bool parseSpecial)
    {
        var byteCount = Encoding.UTF8.GetByteCount(text);
        var bytes = byteCount <= 4096 ? stackalloc byte[byteCount] : new byte[byteCount];
        Encoding.UTF8.GetBytes(text, bytes);
        var capacity = byteCount + 8;
        var tokens = new int[capacity];
        fixed (byte* b = bytes)
        fixed (int* t = tokens)
        {
            var n = NativeMethods.llama_tokenize(Vocab, b, byteCount, t, capacity, addSpecial, parseSpecial);
            if (n < 0)
            {
                // Negative = the buffer was too small by -n; cannot happen with one slot per byte, but be exact.
                tokens = new int[-n];
                fixed (int* t2 = tokens)
                {
                    n = NativeMethods.llama_tokenize(Vocab, b, byteCount, t2, -n, addSpecial, parseSpecial);
                }
            }

            return n == tokens.Length ? tokens : tokens.AsSpan(0, n).ToArray();
        }
    }

    /// <summary>Writes the bytes of one token into dest; returns the byte count (may be 0).</summary>
    public int TokenToPiece(int token, Span<byte> dest, bool special = false)
    {
        fixed (byte* d = dest)
        {
            var n = NativeMethods.llama_token_to_piece(Vocab, token, d, dest.Length, 0, special);
            return n < 0 ? throw new InvalidOperationException($"token piece longer than {dest.Length} bytes") : n;
        }
    }

    /// <summary>Detokenizes a whole sequence; control tokens are rendered only when renderSpecial.</summary>
    public string Detokenize(ReadOnlySpan<int> tokens, bool renderSpecial = false)
    {
        var buf = new List<byte>(tokens.Length * 4);
        Span<byte> piece = stackalloc byte[256];
        foreach (var t in tokens)
        {
            if ((uint)t >= (uint)VocabSize)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {t} is outside the vocabulary (0..{VocabSize - 1})");
            }

            var n = TokenToPiece(t, piece, renderSpecial);
            for (var i = 0; i < n; i++)
            {
                buf.Add(piece[i]);
            }
        }

        return Encoding.UTF8.GetString(buf.ToArray());
    }

    public string TokenText(int token) => LlamaNativeLibrary.Utf8(NativeMethods.llama_vocab_get_text(Vocab, token));

    public bool IsControl(int token) => NativeMethods.llama_vocab_is_control(Vocab, token);

    /// <summary>Renders a conversation with one of llama.cpp's built-in templates (role + content only); null when unknown.</summary>
    public string? ApplyBuiltinTemplate(string template, IReadOnlyList<(string Role, string Content)> messages, bool addAssistant)
    {
        var handles = new List<nint>();
        try
        {
            var msgs = new LlamaChatMessage[messages.Count];
            for (var i = 0; i < messages.Count; i++)
            {
                var r = System.Runtime.InteropServices.Marshal.StringToCoTaskMemUTF8(messages[i].Role);
                var c = System.Runtime.InteropServices.Marshal.StringToCoTaskMemUTF8(messages[i].Content);
                handles.Add(r);
                handles.Add(c);
                msgs[i] = new LlamaChatMessage { Role = r, Content = c };
            }

            var tmpl = Encoding.UTF8.GetBytes(template + "\0");
            var size = 4096 + messages.Sum(m => Encoding.UTF8.GetByteCount(m.Content) + 64);
            var outBuf = new byte[size];
            fixed (byte* t = tmpl)
            fixed (LlamaChatMessage* mp = msgs)
            fixed (byte* o = outBuf)
            {
                var n = NativeMethods.llama_chat_apply_template(t, mp, (nuint)msgs.Length, addAssistant, o, size);
                if (n < 0)
                {
                    return null;
                }

                if (n > size)
                {
                    outBuf = new byte[n];
                    fixed (byte* o2 = outBuf)
                    {
                        n = NativeMethods.llama_chat_apply_template(t, mp, (nuint)msgs.Length, addAssistant, o2, n);
                    }
                }

                return Encoding.UTF8.GetString(outBuf, 0, n);
            }
        }
        finally
        {
            foreach (var h in handles)
            {
                System.Runtime.InteropServices.Marshal.FreeCoTaskMem(h);
            }
        }
    }

    /// <summary>Quantizes a GGUF file through llama_model_quantize (ftype: LlamaConstants.FType*).</summary>
    public static void Quantize(string input, string output, int ftype, int threads, LlamaLibraryOptions? library = null)
    {
        LlamaRuntime.Initialize(library);
        var p = NativeMethods.llama_model_quantize_default_params();
        p.FType = ftype;
        p.NThread = threads;
        var inBytes = Encoding.UTF8.GetBytes(input + "\0");
        var outBytes = Encoding.UTF8.GetBytes(output + "\0");
        fixed (byte* i = inBytes)
        fixed (byte* o = outBytes)
        {
            var rc = NativeMethods.llama_model_quantize(i, o, &p);
            if (rc != 0)
            {
                throw new ModelLoadException($"quantizing {input} failed (llama_model_quantize returned {rc})");
            }
        }
    }

    public void Dispose() => handle.Dispose();

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Loaded {Model}: {Desc}, {Parameters} parameters, {Size} bytes, vocab {Vocab}, trained context {Ctx}, gpu layers {Gpu}, extra bufts {Bufts}, mmap {Mmap}")]
    private static partial void LogLoaded(ILogger logger, string model, string desc, ulong parameters, ulong size, int vocab, int ctx, int gpu, bool bufts, bool mmap);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "llama.cpp backends from {Dir}: {Devices}")]
    private static partial void LogBackends(ILogger logger, string dir, string devices);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "{Model}: {Offloaded} of {Layers} layers (output layer counted) offloaded; weights run on {Backend}")]
    private static partial void LogOffload(ILogger logger, string model, int offloaded, int layers, string backend);
}
