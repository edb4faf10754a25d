using System.Text;
using Microsoft.Extensions.Logging;
using YoutuServer.Engine.Model;
using YoutuServer.Engine.Scheduling;

namespace YoutuServer.Engine;

/// <summary>
/// The engine's public surface: a loaded model plus its scheduler. Submit token ids with sampling settings,
/// read back token events; tokenize and detokenize; read stats. Nothing here knows about HTTP.
/// </summary>
public sealed class InferenceEngine : IAsyncDisposable
{
    private InferenceEngine(LlamaModel model, InferenceScheduler scheduler, EngineOptions options)
    {
        Model = model;
        Scheduler = scheduler;
        Options = options;
    }

    public LlamaModel Model { get; }
    public InferenceScheduler Scheduler { get; }
    public EngineOptions Options { get; }
    public EngineStats Stats => Scheduler.Stats;
    /// <summary>The LoRA adapters loaded beside the model (GenerationRequest.Adapter picks one by id).</summary>
    public IReadOnlyList<LoraAdapter> Adapters => Scheduler.Adapters;

    /// <summary>Validates and loads the model, creates the context and starts the inference loop.</summary>
    public static async Task<InferenceEngine> StartAsync(EngineOptions options, ILoggerFactory? loggerFactory = null)
    {
        var log = loggerFactory?.CreateLogger("YoutuServer.Engine");
        if (log is not null)
        {
            Native.LlamaNativeLibrary.SetLogger(loggerFactory!.CreateLogger("llama.cpp"));
        }

        var model = LlamaModel.Load(options, log);
        var adapters = new List<LoraAdapter>();
        try
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var baseFile = options.Adapters.Count > 0 ? Gguf.GgufReader.Read(options.ModelPath) : null;
            foreach (var a in options.Adapters)
            {
                if (!seen.Add(a.Id))
                {
                    throw new ModelLoadException($"LoRA adapter id '{a.Id}' is given twice");
                }

                adapters.Add(model.LoadAdapter(a, baseFile, log));
            }
        }
        catch
        {
            model.Dispose();
            throw;
        }

        var scheduler = new InferenceScheduler(model, options, loggerFactory?.CreateLogger<InferenceScheduler>(), adapters);
        try
        {
            await scheduler.StartAsync().ConfigureAwait(false);
        }
        catch
        {
            await scheduler.DisposeAsync().ConfigureAwait(false);
            model.Dispose();
            throw;
        }

        // Per-vocabulary tables (grammar UTF-8 guard, special-token splitter) are built at start rather than by the
        // first request that needs them, which would otherwise stall one inference step or one request.
        model.WarmUpTables();
        return new InferenceEngine(model, scheduler, options);
    }

    public int[] Tokenize(string text, bool addSpecial = false, bool parseSpecial = true) => Model.Tokenize(text, addSpecial, parseSpecial);

    /// <summary>Tokenizes unless the text has more than <paramref name="limit"/> tokens (then null, with a lower bound in <paramref name="atLeast"/>).</summary>
    public int[]? TryTokenize(string text, bool addSpecial, bool parseSpecial, int limit, out int atLeast)
        => Model.TryTokenize(text, addSpecial, parseSpecial, limit, out atLeast);

    /// <summary>A token's own bytes (part of a UTF-8 character for some tokens).</summary>
    public byte[] TokenBytes(int token) => Model.TokenBytes(token);

    public int VocabSize => Model.VocabSize;

    /// <summary>The context the model was trained with (GGUF metadata).</summary>
    public int ContextTrain => Model.ContextTrain;

    /// <summary>The model file's path.</summary>
    public string ModelPath => Model.Path;

    /// <summary>The GGUF's tokenizer.chat_template, if any.</summary>
    public string? ChatTemplate => Model.ChatTemplate;

    /// <summary>llama.cpp's built-in template rendering (role + content only); null when it does not know the template.</summary>
    public string? ApplyBuiltinTemplate(string template, IReadOnlyList<(string Role, string Content)> messages, bool addAssistant)
        => Model.ApplyBuiltinTemplate(template, messages, addAssistant);

    /// <summary>Stops admitting requests; running ones go on (graceful drain).</summary>
    public void BeginDrain() => Scheduler.BeginDrain();

    /// <summary>Ends every running request now with finish reason length (the drain's deadline passed).</summary>
    public void FinishAll() => Scheduler.FinishAll();

    public string Detokenize(ReadOnlySpan<int> tokens, bool renderSpecial = false) => Model.Detokenize(tokens, renderSpecial);

    /// <inheritdoc cref="InferenceScheduler.ClearPrefixCacheAsync"/>
    internal Task ClearPrefixCacheAsync() => Scheduler.ClearPrefixCacheAsync();

    /// <summary>
    /// Pins a prefix (a session's tokens so far) while a client holds its session open: the KV sequence and saved
    /// states that hold the whole prefix, under this adapter and cache salt, are evicted only after every unpinned one
    /// (RAM and disk states never, while pinned). Dispose the pin to release it. Throws EngineRejectedException for an
    /// unknown adapter.
    /// </summary>
    public Caching.PrefixPin PinPrefix(IReadOnlyList<int> tokens, string? adapter = null, string? cacheSalt = null)
        => Scheduler.PinPrefix(tokens, adapter, cacheSalt);

    public GenerationHandle Submit(GenerationRequest request, CancellationToken cancellationToken = default)
        => Scheduler.Submit(request, cancellationToken);

    /// <summary>Runs a request to the end and collects its text (CLI, tests, non-streaming callers).</summary>
    public async Task<GenerationResult> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        var handle = Submit(request, cancellationToken);
        var texts = new StringBuilder[request.N];
        var tokens = new List<int>[request.N];
        var choices = new GenerationChoice[request.N];
        for (var i = 0; i < request.N; i++)
        {
            texts[i] = new StringBuilder();
            tokens[i] = [];
        }

        GenerationUsage? usage = null;
        var cached = 0;
        await foreach (var e in handle.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            switch (e)
            {
                case AdmittedEvent a:
                    cached = a.CachedTokens;
                    break;
                case TokenEvent t:
                    texts[t.Choice].Append(t.Text);
                    tokens[t.Choice].Add(t.Token);
                    break;
                case ChoiceFinishedEvent f:
                    texts[f.Choice].Append(f.Text);
                    choices[f.Choice] = new GenerationChoice(f.Choice, texts[f.Choice].ToString(), tokens[f.Choice], f.Reason, f.CompletionTokens, f.Error);
                    break;
                case RequestCompletedEvent c:
                    usage = c.Usage;
                    break;
            }
        }

        return new GenerationResult(choices, usage ?? new GenerationUsage(request.Prompt.Count, cached, 0, 0, 0, 0));
    }

    public async ValueTask DisposeAsync()
    {
        await Scheduler.DisposeAsync().ConfigureAwait(false);
        Model.Dispose();
    }
}

public sealed record GenerationChoice(int Index, string Text, IReadOnlyList<int> Tokens, FinishReason FinishReason, int CompletionTokens, string? Error);

public sealed record GenerationResult(IReadOnlyList<GenerationChoice> Choices, GenerationUsage Usage);
