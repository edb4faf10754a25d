using YoutuServer.Engine.Model;
using YoutuServer.Engine.Sampling;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Native;

namespace YoutuServer.Engine.Tests.Engine;

public sealed class NativeLayoutTests
{
    [Fact]
    public unsafe void Struct_sizes_match_the_pinned_header()
    {
        Assert.Equal(80, sizeof(LlamaModelParams));
        Assert.Equal(160, sizeof(LlamaContextParams));
        Assert.Equal(56, sizeof(LlamaBatch));
        Assert.Equal(1, sizeof(LlamaSamplerChainParams));
        Assert.Equal(16, sizeof(LlamaChatMessage));
        Assert.Equal(32, sizeof(LlamaTokenDataArray));
        Assert.Equal(64, sizeof(LlamaModelQuantizeParams));
        Assert.Equal(48, sizeof(LlamaPerfContextData));
    }

    [Fact]
    public unsafe void Defaults_read_through_the_binding_match_the_release()
    {
        LlamaNativeLibrary.Initialize();
        var m = NativeMethods.llama_model_default_params();
        Assert.Equal(-1, m.NGpuLayers);
        Assert.True(m.UseExtraBufts);
        var c = NativeMethods.llama_context_default_params();
        Assert.Equal(512u, c.NCtx);
        Assert.Equal(2048u, c.NBatch);
        Assert.Equal(-1, c.FlashAttnType);
        Assert.True(c.OffloadKqv);
        Assert.Equal(LlamaNativeLibrary.PinnedVersion, LlamaNativeLibrary.Utf8(NativeMethods.llama_version()));
        Assert.NotEmpty(LlamaNativeLibrary.Backends);
    }
}

[Collection("engine")]
public sealed class GenerationTests
{
    private static async Task<InferenceEngine> Start(int parallel = 4) => await InferenceEngine.StartAsync(TinyModel.Options(parallel));

    [Theory]
    [InlineData("Hello, world! The quick brown fox.")]
    [InlineData("你好，世界。今天天气很好。")]
    [InlineData("emoji: 😀🚀 and ünïcödé")]
    [InlineData("<|User|>Hi<|Assistant|><think>\n\n</think>\n\n")]
    public async Task Tokenization_round_trips(string text)
    {
        await using var engine = await Start();
        var tokens = engine.Tokenize(text, addSpecial: false, parseSpecial: true);
        Assert.NotEmpty(tokens);
        Assert.Equal(text, engine.Detokenize(tokens, renderSpecial: true));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Long_texts_split_at_special_tokens_tokenize_exactly_as_llama_cpp_does(bool addSpecial)
    {
        // Above 1 KiB the model cuts the text at special tokens itself; the result must equal one llama_tokenize call.
        await using var engine = await Start();
        var rng = new Random(7);
        string[] pieces = ["<|User|>", "<|Assistant|>", "<think>", "</think>", "<tool_call>", "<|end_of_text|>", "<|Use", "<", "|>",
            "</tool_call>\n", "Hello ", "world", " 日本語 ", "😀", "\n\n", "  ", "<|begin_of_text|>", "</think", "a<b>c"];
        for (var round = 0; round < 20; round++)
        {
            var sb = new System.Text.StringBuilder();
            while (sb.Length < 1024 + rng.Next(4096))
            {
                sb.Append(pieces[rng.Next(pieces.Length)]);
            }

            var text = sb.ToString();
            Assert.Equal(engine.Model.TokenizeWhole(text, addSpecial, parseSpecial: true), engine.Model.Tokenize(text, addSpecial, parseSpecial: true));
        }
    }

    [Theory]
    [InlineData("m")]
    [InlineData(" ")]
    [InlineData("\n")]
    [InlineData("中")]
    [InlineData("!")]
    [InlineData("ü")]
    [InlineData("😀")]
    [InlineData("ab1")]
    public async Task A_100k_character_run_tokenizes_without_overflowing_the_stack(string unit)
    {
        // llama.cpp's std::regex pre-tokenizer recursed per character: a run of 32k letters overflowed the stack and
        // killed the process. The model hands it pieces of at most MaxRun characters without a boundary.
        await using var engine = await Start();
        var text = string.Concat(Enumerable.Repeat(unit, 100_000 / unit.Length));
        var tokens = engine.Model.Tokenize(text, addSpecial: false, parseSpecial: true);
        Assert.Equal(text, engine.Detokenize(tokens, renderSpecial: true));
    }

    [Fact]
    public async Task Tokenizing_stops_early_past_the_limit()
    {
        await using var engine = await Start();
        var text = string.Concat(Enumerable.Range(0, 1_500).Select(i => $"<|User|>m{i}"));

        // 3,000 stretches (marker + text) cannot fit in 2,048 tokens: refused before any llama_tokenize call.
        Assert.Null(engine.Model.TryTokenize(text, addSpecial: false, parseSpecial: true, limit: 2048, out var atLeast));
        Assert.Equal(3_000, atLeast);

        // 3,500 passes that bound, but the real count does not fit: refused part-way, with what it had seen.
        Assert.Null(engine.Model.TryTokenize(text, addSpecial: false, parseSpecial: true, limit: 3500, out atLeast));
        Assert.True(atLeast > 3500);
        var all = engine.Model.TryTokenize(text, addSpecial: false, parseSpecial: true, limit: int.MaxValue, out var count);
        Assert.NotNull(all);
        Assert.Equal(all.Length, count);
        Assert.Equal(engine.Model.TokenizeWhole(text, addSpecial: false, parseSpecial: true), all);
    }

    [Fact]
    public async Task Youtu_markers_are_single_tokens()
    {
        await using var engine = await Start();
        foreach (var marker in new[] { "<|begin_of_text|>", "<|end_of_text|>", "<|User|>", "<|Assistant|>", "<think>", "</think>", "<tool_call>", "</tool_call>" })
        {
            Assert.Single(engine.Tokenize(marker));
        }

        // Think tags are user-defined tokens: they render as text even without special rendering.
        var think = engine.Tokenize("<think>")[0];
        Assert.Equal("<think>", engine.Detokenize([think], renderSpecial: false));
        Assert.True(engine.Model.IsEndOfGeneration(engine.Tokenize("<|end_of_text|>")[0]));
    }

    private static GenerationRequest Request(InferenceEngine e, string prompt, int max, uint seed, float temp = 1.0f, IReadOnlyList<string>? stop = null, bool ignoreEos = true) => new()
    {
        Prompt = e.Tokenize(prompt),
        MaxTokens = max,
        IgnoreEos = ignoreEos,
        Stop = stop ?? [],
        Sampling = new SamplingParams { Temperature = temp, Seed = seed },
    };

    [Fact]
    public async Task Same_seed_gives_the_same_output_and_another_seed_differs()
    {
        await using var engine = await Start();
        var a = await engine.GenerateAsync(Request(engine, "<|User|>tell me a story<|Assistant|>", 24, 7));
        var b = await engine.GenerateAsync(Request(engine, "<|User|>tell me a story<|Assistant|>", 24, 7));
        var c = await engine.GenerateAsync(Request(engine, "<|User|>tell me a story<|Assistant|>", 24, 8));
        Assert.Equal(a.Choices[0].Tokens, b.Choices[0].Tokens);
        Assert.NotEqual(a.Choices[0].Tokens, c.Choices[0].Tokens);
        Assert.Equal(24, a.Choices[0].Tokens.Count);
    }

    [Fact]
    public async Task Max_tokens_stops_with_length()
    {
        await using var engine = await Start();
        var r = await engine.GenerateAsync(Request(engine, "abc", 5, 1));
        Assert.Equal(FinishReason.Length, r.Choices[0].FinishReason);
        Assert.Equal(5, r.Choices[0].CompletionTokens);
    }

    [Fact]
    public async Task End_of_generation_token_stops_with_stop()
    {
        await using var engine = await Start();
        var eos = engine.Tokenize("<|end_of_text|>")[0];
        // +100 on the EOS logit makes the random model end at once.
        var req = Request(engine, "abc", 20, 1, ignoreEos: false) with
        {
            Sampling = new SamplingParams { Temperature = 1, Seed = 1, LogitBias = new Dictionary<int, float> { [eos] = 100f } },
        };
        var r = await engine.GenerateAsync(req);
        Assert.Equal(FinishReason.Stop, r.Choices[0].FinishReason);
        Assert.Equal("", r.Choices[0].Text);
    }

    [Fact]
    public async Task Stop_string_ends_generation_without_leaking()
    {
        await using var engine = await Start();
        var free = await engine.GenerateAsync(Request(engine, "<|User|>hello<|Assistant|>", 40, 3));
        var text = free.Choices[0].Text;
        Assert.True(text.Length >= 6, "the greedy output should be long enough to pick a stop string from");
        var stop = text.Substring(text.Length / 2, 3);
        var cut = text.IndexOf(stop, StringComparison.Ordinal);
        var stopped = await engine.GenerateAsync(Request(engine, "<|User|>hello<|Assistant|>", 40, 3, stop: [stop]));
        Assert.Equal(FinishReason.Stop, stopped.Choices[0].FinishReason);
        Assert.Equal(text[..cut], stopped.Choices[0].Text);
        Assert.DoesNotContain(stop, stopped.Choices[0].Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancellation_ends_the_request_and_frees_its_sequence()
    {
        await using var engine = await Start(parallel: 1);
        using var cts = new CancellationTokenSource();
        var handle = engine.Submit(Request(engine, "abc", 2000, 1), cts.Token);
        var tokens = 0;
        FinishReason? reason = null;
        await foreach (var e in handle.ReadAllAsync())
        {
            if (e is TokenEvent && ++tokens == 3)
            {
                await cts.CancelAsync();
            }

            if (e is ChoiceFinishedEvent f)
            {
                reason = f.Reason;
            }
        }

        // Ordering, not speed: the request ends Cancelled (not Length), so it stopped before its 2000 tokens; how many
        // tokens came between the cancel and the loop's next step depends on the machine's load, and is not asserted.
        Assert.Equal(FinishReason.Cancelled, reason);
        Assert.InRange(tokens, 3, 1999);
        var (min, max) = engine.Scheduler.NativeSequenceRange(0);
        Assert.Equal(-1, max); // KV cells of the cancelled sequence are gone
        _ = min;
        // The freed slot serves the next request.
        var next = await engine.GenerateAsync(Request(engine, "abc", 4, 1));
        Assert.Equal(4, next.Choices[0].CompletionTokens);
    }
}

[Collection("engine")]
public sealed class BackendTests
{
    [Fact]
    public void Devices_are_listed_with_their_kind()
    {
        LlamaNativeLibrary.Initialize();
        Assert.Contains(LlamaNativeLibrary.Devices, d => d.Kind == "CPU");
        Assert.False(string.IsNullOrEmpty(LlamaNativeLibrary.BackendSummary));
    }

    [Fact]
    public async Task Asking_for_gpu_layers_without_a_gpu_backend_refuses_to_start()
    {
        LlamaNativeLibrary.Initialize();
        if (LlamaNativeLibrary.HasGpuDevice)
        {
            return; // a GPU machine: the request can be honoured
        }

        var e = await Assert.ThrowsAsync<ModelLoadException>(() => InferenceEngine.StartAsync(TinyModel.Options() with { GpuLayers = 8 }));
        Assert.Contains("refusing to start", e.Message, StringComparison.Ordinal);

        // Without asking, the CPU serves and says so.
        await using var engine = await InferenceEngine.StartAsync(TinyModel.Options());
        Assert.Equal(0, engine.Model.GpuLayers);
        Assert.StartsWith("CPU", engine.Stats.Backend, StringComparison.Ordinal);
    }
}
