using YoutuServer.Engine.Caching;
using YoutuServer.Engine.Sampling;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Engine.Tests.Lora;
using YoutuServer.TestSupport;
using Xunit.Abstractions;

namespace YoutuServer.Engine.Tests.Engine;

/// <summary>
/// The prefix cache's tiers on the tiny model: a state saved when its sequence is taken (host RAM), spilled to disk,
/// found again by a new engine, shared between sequences with llama_memory_seq_cp; every reuse gives exactly the
/// greedy tokens of a cold prefill. Bad files never crash and never give wrong tokens; salts and adapters never share.
/// </summary>
[Collection("engine")]
public sealed class PrefixCacheTierTests(ITestOutputHelper output) : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "youtu-tests", "kvcache-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static GenerationRequest Greedy(IReadOnlyList<int> prompt, int max = 8, string? adapter = null, string? salt = null) => new()
    {
        Prompt = prompt,
        MaxTokens = max,
        IgnoreEos = true,
        Sampling = new SamplingParams { Temperature = 0 },
        Adapter = adapter,
        CacheSalt = salt,
    };

    /// <summary>Exactly <paramref name="n"/> tokens of text that differs per <paramref name="topic"/>.</summary>
    private static int[] Tokens(InferenceEngine e, string topic, int n)
    {
        var text = string.Concat(Enumerable.Range(0, n).Select(i => $"{topic} {i}, "));
        var t = e.Tokenize(text);
        Assert.True(t.Length >= n);
        return t[..n];
    }

    private static int[] Concat(params IReadOnlyList<int>[] parts) => [.. parts.SelectMany(p => p)];

    private static EngineOptions Options(int parallel = 1, int ctx = 2048) => TinyModel.Options(parallel, ctx) with { Threads = 1 };

    private static Task<InferenceEngine> Cold(EngineOptions o) => InferenceEngine.StartAsync(o with { PrefixCache = false, CacheDir = null });

    [Theory]
    [InlineData(40, false)]
    [InlineData(130, false)]
    [InlineData(700, false)]
    [InlineData(130, true)]
    [InlineData(700, true)]
    public async Task A_state_restored_from_ram_gives_the_tokens_of_a_cold_prefill(int length, bool withAdapter)
    {
        var options = (withAdapter ? LoraFiles.Options(1, new LoraAdapterOptions("a", LoraFiles.Get(1))) : TinyModel.Options(1)) with { Threads = 1, CacheRamMiB = 64 };
        var adapter = withAdapter ? "a" : null;
        await using var warm = await InferenceEngine.StartAsync(options);
        var session = Tokens(warm, "session", length);
        var turn1 = await warm.GenerateAsync(Greedy(session, 6, adapter));

        // Another conversation takes the only sequence: the session's cells are saved to RAM first.
        _ = await warm.GenerateAsync(Greedy(Tokens(warm, "another conversation", 64), 2, adapter));
        Assert.Equal(1, warm.Stats.PrefixCache.RamEntries);

        var turn2 = Concat(session, turn1.Choices[0].Tokens, Tokens(warm, "the tool result", 20));
        var restored = await warm.GenerateAsync(Greedy(turn2, 10, adapter));

        // Everything but the last generated token (sampled, never decoded) comes back from the saved state.
        var expected = session.Length + turn1.Choices[0].Tokens.Count - 1;
        Assert.Equal(expected, restored.Usage.CachedTokens);
        Assert.Equal(expected, restored.Usage.RestoredTokens);
        Assert.True(restored.Usage.RestoreMs > 0);
        Assert.Equal(expected, warm.Stats.PrefixCache.ReusedTokensRam);
        Assert.Equal(1, warm.Stats.PrefixCache.Restores);

        await using var cold = await Cold(options);
        var reference = await cold.GenerateAsync(Greedy(turn2, 10, adapter));
        Assert.Equal(0, reference.Usage.CachedTokens);
        Assert.Equal(reference.Choices[0].Tokens, restored.Choices[0].Tokens);
    }

    [Fact]
    public async Task A_prefix_held_by_a_busy_sequence_is_shared_not_recomputed()
    {
        var options = Options(parallel: 2, ctx: 4096) with { CacheRamMiB = 0 };
        await using var warm = await InferenceEngine.StartAsync(options);
        var system = Tokens(warm, "the shared system prompt with tool definitions", 200);
        var a = Concat(system, Tokens(warm, "alpha", 30));
        var b = Concat(system, Tokens(warm, "bravo", 30));

        using var stopA = new CancellationTokenSource();
        var handleA = warm.Submit(Greedy(a, 1500), stopA.Token);
        await foreach (var e in handleA.ReadAllAsync())
        {
            if (e is TokenEvent)
            {
                break; // A's prompt is in its cells and it is generating
            }
        }

        var shared = await warm.GenerateAsync(Greedy(b, 10));
        await stopA.CancelAsync();
        await foreach (var _ in handleA.ReadAllAsync())
        {
        }

        var common = PrefixHashing.CommonPrefix(a, b);
        Assert.True(common >= system.Length);
        Assert.Equal(common, shared.Usage.CachedTokens);
        Assert.Equal(common, warm.Stats.PrefixCache.ReusedTokensShared);

        await using var cold = await Cold(options);
        Assert.Equal((await cold.GenerateAsync(Greedy(b, 10))).Choices[0].Tokens, shared.Choices[0].Tokens);
    }

    [Fact]
    public async Task Interleaved_agent_sessions_reuse_every_earlier_turn_and_get_the_tokens_of_a_cold_prefill()
    {
        // The replay of the issue in small: sessions sharing a system prompt, turns interleaved (every session's turn k
        // at once), each turn appending the answer and a tool result; more sessions than sequences, so later turns
        // come back from the RAM tier or resident cells, all while others generate.
        var options = Options(parallel: 2, ctx: 4096) with { CacheRamMiB = 64 };
        await using var warm = await InferenceEngine.StartAsync(options);
        await using var cold = await Cold(options);
        var system = Tokens(warm, "you are an agent with twenty tools", 160);
        var prompts = Enumerable.Range(0, 5).Select(i => Concat(system, Tokens(warm, $"task number {i} for the agent", 24))).ToArray();
        for (var turn = 0; turn < 3; turn++)
        {
            var results = await Task.WhenAll(prompts.Select(p => warm.GenerateAsync(Greedy(p, 6))));
            for (var i = 0; i < prompts.Length; i++)
            {
                var reference = await cold.GenerateAsync(Greedy(prompts[i], 6));
                Assert.Equal(reference.Choices[0].Tokens, results[i].Choices[0].Tokens);
                if (turn > 0)
                {
                    // Everything up to the last generated token of the session's previous turn is reused.
                    Assert.True(results[i].Usage.CachedTokens >= prompts[i].Length - 30 - 1,
                        $"turn {turn} session {i}: {results[i].Usage.CachedTokens} of {prompts[i].Length} cached");
                }

                prompts[i] = Concat(prompts[i], results[i].Choices[0].Tokens, Tokens(warm, $"tool result {turn} {i}", 24));
            }
        }

        var stats = warm.Stats.PrefixCache;
        output.WriteLine($"resident {stats.ReusedTokensResident}, shared {stats.ReusedTokensShared}, RAM {stats.ReusedTokensRam}, restores {stats.Restores}, saves {stats.Saves}");
        Assert.True(stats.ReusedTokensRam > 0, "sessions whose sequence went to another come back from RAM");
    }

    [Fact]
    public async Task States_go_to_disk_and_a_new_engine_restores_them_after_a_restart()
    {
        var options = Options() with { CacheRamMiB = 0, CacheDir = dir };
        int[] session, turn2;
        await using (var first = await InferenceEngine.StartAsync(options))
        {
            session = Tokens(first, "a long agent session", 300);
            var turn1 = await first.GenerateAsync(Greedy(session, 6));
            turn2 = Concat(session, turn1.Choices[0].Tokens, Tokens(first, "tool output", 25));
            _ = await first.GenerateAsync(Greedy(Tokens(first, "someone else", 80), 2));
            // No RAM tier: the evicted session went straight to disk.
            Assert.Equal(1, first.Stats.PrefixCache.Spills);
            Assert.Equal(1, first.Stats.PrefixCache.DiskEntries);
        }

        // At shutdown the idle sequence ("someone else") was written too.
        Assert.Equal(2, Directory.GetFiles(dir, "*" + DiskTier.Extension).Length);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));

        await using var second = await InferenceEngine.StartAsync(options);
        Assert.Equal(2, second.Stats.PrefixCache.DiskEntries);
        var restored = await second.GenerateAsync(Greedy(turn2, 10));
        Assert.Equal(session.Length + 5, restored.Usage.CachedTokens);
        Assert.Equal(restored.Usage.CachedTokens, restored.Usage.RestoredTokens);
        Assert.Equal(restored.Usage.CachedTokens, second.Stats.PrefixCache.ReusedTokensDisk);

        await using var cold = await Cold(options);
        Assert.Equal((await cold.GenerateAsync(Greedy(turn2, 10))).Choices[0].Tokens, restored.Choices[0].Tokens);
    }

    [Fact]
    public async Task Eviction_to_ram_spill_to_disk_restart_and_restore_give_the_tokens_of_a_cold_prefill()
    {
        var options = Options() with { CacheRamMiB = 1, CacheDir = dir };
        int[] turn2;
        await using (var first = await InferenceEngine.StartAsync(options))
        {
            var session = Tokens(first, "the session that survives", 400);
            var turn1 = await first.GenerateAsync(Greedy(session, 6));
            turn2 = Concat(session, turn1.Choices[0].Tokens, Tokens(first, "tool output", 25));

            // Other sessions take the sequence: the session's state goes to RAM, then (RAM full) on to disk.
            for (var i = 0; i < 12 && first.Stats.PrefixCache.Spills == 0; i++)
            {
                _ = await first.GenerateAsync(Greedy(Tokens(first, $"{i} unrelated session", 1200), 2));
            }

            Assert.True(first.Stats.PrefixCache.Spills > 0, "the oldest state spilled from RAM to disk");
            Assert.Equal(0, first.Stats.PrefixCache.RamEvictions);
        }

        await using var second = await InferenceEngine.StartAsync(options);
        var restored = await second.GenerateAsync(Greedy(turn2, 10));
        Assert.Equal(turn2.Length - 26, restored.Usage.CachedTokens);
        Assert.Equal(restored.Usage.CachedTokens, second.Stats.PrefixCache.ReusedTokensDisk);

        await using var cold = await Cold(options);
        Assert.Equal((await cold.GenerateAsync(Greedy(turn2, 10))).Choices[0].Tokens, restored.Choices[0].Tokens);
    }

    [Fact]
    public async Task States_spill_from_ram_to_disk_and_both_stay_within_their_bounds_under_churn()
    {
        // About 110 bytes a token on the tiny model: 24 states of 1,200 tokens are ~3 MiB against 1 + 1 MiB of tiers.
        var options = Options() with { CacheRamMiB = 1, CacheDir = dir, CacheDiskMiB = 1 };
        await using var engine = await InferenceEngine.StartAsync(options);
        var sessions = Enumerable.Range(0, 24).Select(i => Tokens(engine, $"churn {i} session", 1200 + i)).ToArray();
        long perToken = 0;
        for (var round = 0; round < 2; round++)
        {
            foreach (var s in sessions)
            {
                _ = await engine.GenerateAsync(Greedy(s, 2));
                var st = engine.Stats.PrefixCache;
                Assert.True(st.RamBytes <= st.RamLimitBytes, $"RAM {st.RamBytes} > {st.RamLimitBytes}");
                Assert.True(st.DiskBytes <= st.DiskLimitBytes, $"disk {st.DiskBytes} > {st.DiskLimitBytes}");
                var onDisk = Directory.GetFiles(dir, "*" + DiskTier.Extension).Sum(f => new FileInfo(f).Length);
                Assert.Equal(st.DiskBytes, onDisk);
                if (st.RamEntries > 0)
                {
                    perToken = st.RamBytes / st.RamEntries / 1200;
                }
            }
        }

        var stats = engine.Stats.PrefixCache;
        output.WriteLine($"state bytes/token ~{perToken}; saves {stats.Saves}, spills {stats.Spills}, RAM {stats.RamBytes}/{stats.RamLimitBytes} in {stats.RamEntries}, " +
            $"disk {stats.DiskBytes}/{stats.DiskLimitBytes} in {stats.DiskEntries}, disk evictions {stats.DiskEvictions}, restores {stats.Restores}");
        Assert.True(stats.Saves >= 40, $"saves {stats.Saves}");
        Assert.True(stats.Spills > 0, "the RAM tier overflowed into the disk tier");
        Assert.True(stats.DiskEvictions > 0, "the disk tier dropped its oldest files");
    }

    [Fact]
    public async Task Corrupt_truncated_foreign_and_old_files_are_removed_with_a_warning_and_never_give_wrong_tokens()
    {
        // A file written for another model is foreign to this one.
        var foreignOptions = TinyModel.Options(1) with { ModelPath = TinyModelFiles.Get(seed: 43), Threads = 1, CacheRamMiB = 0, CacheDir = dir };
        await using (var other = await InferenceEngine.StartAsync(foreignOptions))
        {
            _ = await other.GenerateAsync(Greedy(Tokens(other, "another model's session", 100), 2));
        }

        var foreign = Directory.GetFiles(dir, "*" + DiskTier.Extension).Single();
        var options = Options() with { CacheRamMiB = 0, CacheDir = dir };
        int[] a, b;
        await using (var first = await InferenceEngine.StartAsync(options))
        {
            Assert.Equal(1, first.Stats.PrefixCache.FilesRejected);
            Assert.False(File.Exists(foreign));
            a = Tokens(first, "session alpha", 200);
            b = Tokens(first, "session bravo", 200);
            _ = await first.GenerateAsync(Greedy(a, 4));
            _ = await first.GenerateAsync(Greedy(b, 4));
        }

        var files = Directory.GetFiles(dir, "*" + DiskTier.Extension);
        Assert.Equal(2, files.Length);

        // Corrupt one state byte of every file: the header stays valid, so only the state checksum can tell.
        foreach (var f in files)
        {
            var bytes = File.ReadAllBytes(f);
            bytes[^100] ^= 0x5A;
            File.WriteAllBytes(f, bytes);
        }

        // A truncated copy, an old-format copy, garbage with our extension, and a file that is not ours at all.
        var truncated = Path.Combine(dir, "truncated" + DiskTier.Extension);
        File.WriteAllBytes(truncated, File.ReadAllBytes(files[0])[..^40]);
        var old = Path.Combine(dir, "old" + DiskTier.Extension);
        var oldBytes = File.ReadAllBytes(files[0]);
        oldBytes[8] = 0; // version 0
        File.WriteAllBytes(old, oldBytes);
        var garbage = Path.Combine(dir, "garbage" + DiskTier.Extension);
        File.WriteAllBytes(garbage, [.. Enumerable.Range(0, 5000).Select(i => (byte)(i * 31))]);
        var notOurs = Path.Combine(dir, "README.txt");
        File.WriteAllText(notOurs, "left alone");

        await using var second = await InferenceEngine.StartAsync(options);
        Assert.Equal(3, second.Stats.PrefixCache.FilesRejected);
        Assert.False(File.Exists(truncated));
        Assert.False(File.Exists(old));
        Assert.False(File.Exists(garbage));
        Assert.True(File.Exists(notOurs));
        Assert.Equal(2, second.Stats.PrefixCache.DiskEntries);

        // The corrupt states are found, refused by their checksum, removed, and the prompt is evaluated instead.
        var next = Concat(a, Tokens(second, "more", 10));
        var r = await second.GenerateAsync(Greedy(next, 8));
        Assert.Equal(0, r.Usage.CachedTokens);
        Assert.Equal(1, second.Stats.PrefixCache.RestoreFailures);
        Assert.Equal(4, second.Stats.PrefixCache.FilesRejected);
        Assert.Equal(1, second.Stats.PrefixCache.DiskEntries);

        await using var cold = await Cold(options);
        Assert.Equal((await cold.GenerateAsync(Greedy(next, 8))).Choices[0].Tokens, r.Choices[0].Tokens);
    }

    [Fact]
    public async Task A_cache_directory_that_cannot_be_used_stops_the_start_with_a_clear_error()
    {
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "not-a-directory");
        File.WriteAllText(file, "x");
        var e = await Assert.ThrowsAsync<ModelLoadException>(() => InferenceEngine.StartAsync(Options() with { CacheDir = file }));
        Assert.Contains("prefix cache directory", e.Message);
    }

    [Fact]
    public async Task A_different_salt_never_reuses_a_prefix_in_any_tier()
    {
        await using var engine = await InferenceEngine.StartAsync(Options(parallel: 2) with { CacheRamMiB = 16 });
        var p = Tokens(engine, "a confidential prompt of tenant A", 120);

        Assert.Equal(0, (await engine.GenerateAsync(Greedy(p, 4, salt: "tenant-a"))).Usage.CachedTokens);
        // Resident cells of A: B, and the shared scope, see nothing.
        Assert.Equal(0, (await engine.GenerateAsync(Greedy(p, 4, salt: "tenant-b"))).Usage.CachedTokens);
        Assert.Equal(0, (await engine.GenerateAsync(Greedy(p, 4))).Usage.CachedTokens);
        // A sees its own (the third request took the other sequence's cells, saving B's state to RAM first).
        Assert.Equal(p.Length - 1, (await engine.GenerateAsync(Greedy(p, 4, salt: "tenant-a"))).Usage.CachedTokens);

        // Saved states: push everything out of the sequences, then C still gets nothing from A's or B's saved state.
        foreach (var filler in new[] { "zebra crossing", "quantum yoga" })
        {
            _ = await engine.GenerateAsync(Greedy(Tokens(engine, filler, 60), 2, salt: "filler"));
        }

        Assert.Equal(0, (await engine.GenerateAsync(Greedy(p, 4, salt: "tenant-c"))).Usage.CachedTokens);
        Assert.True(engine.Stats.PrefixCache.RamEntries >= 2);
        var again = await engine.GenerateAsync(Greedy(p, 4, salt: "tenant-a"));
        Assert.Equal(p.Length - 1, again.Usage.CachedTokens);
    }

    [Fact]
    public async Task A_state_saved_with_the_base_model_is_never_restored_for_an_adapter()
    {
        var options = LoraFiles.Options(1, new LoraAdapterOptions("a", LoraFiles.Get(1))) with { Threads = 1, CacheRamMiB = 16 };
        await using var engine = await InferenceEngine.StartAsync(options);
        var p = Tokens(engine, "the same prompt for two adapters", 120);
        var baseFirst = await engine.GenerateAsync(Greedy(p, 6));
        var withAdapter = await engine.GenerateAsync(Greedy(p, 6, adapter: "a"));
        Assert.Equal(0, withAdapter.Usage.CachedTokens);
        Assert.Equal(1, engine.Stats.PrefixCache.RamEntries); // the base state, saved when the adapter took the sequence

        var baseAgain = await engine.GenerateAsync(Greedy(p, 6));
        Assert.Equal(p.Length - 1, baseAgain.Usage.RestoredTokens);
        Assert.Equal(baseFirst.Choices[0].Tokens, baseAgain.Choices[0].Tokens);
        var adapterAgain = await engine.GenerateAsync(Greedy(p, 6, adapter: "a"));
        Assert.Equal(p.Length - 1, adapterAgain.Usage.RestoredTokens);
        Assert.Equal(withAdapter.Choices[0].Tokens, adapterAgain.Choices[0].Tokens);
    }

    [Fact]
    public async Task A_pinned_prefix_outlives_churn_that_evicts_unpinned_states()
    {
        await using var engine = await InferenceEngine.StartAsync(Options() with { CacheRamMiB = 1 });
        var session = Tokens(engine, "a session a client keeps open", 1200);
        var turn1 = await engine.GenerateAsync(Greedy(session, 4));
        using (var pin = engine.PinPrefix(session))
        {
            Assert.Equal(session.Length, pin.Length);
            for (var i = 0; i < 12; i++)
            {
                _ = await engine.GenerateAsync(Greedy(Tokens(engine, $"{i} other session", 1200), 2));
            }

            Assert.True(engine.Stats.PrefixCache.RamEvictions > 0, "the churn overflowed the RAM tier");
            Assert.Equal(1, engine.Stats.PrefixCache.Pins);
            var turn2 = Concat(session, turn1.Choices[0].Tokens, Tokens(engine, "next", 10));
            var r = await engine.GenerateAsync(Greedy(turn2, 4));
            Assert.Equal(session.Length + 3, r.Usage.RestoredTokens);
        }

        _ = await engine.GenerateAsync(Greedy(Tokens(engine, "after the pin", 40), 2));
        Assert.Equal(0, engine.Stats.PrefixCache.Pins);
    }

    [Fact]
    public async Task Restore_and_recompute_figures_are_reported()
    {
        // Figures for the record (the tiny model; see README for the 2b model): restore time vs prompt evaluation.
        await using var engine = await InferenceEngine.StartAsync(Options() with { CacheRamMiB = 64 });
        var session = Tokens(engine, "a long shared context", 1500);
        var cold = await engine.GenerateAsync(Greedy(session, 2));
        _ = await engine.GenerateAsync(Greedy(Tokens(engine, "evict it", 40), 2));
        var warm = await engine.GenerateAsync(Greedy(Concat(session, Tokens(engine, "x", 4)), 2));
        Assert.True(warm.Usage.RestoredTokens >= session.Length);
        output.WriteLine($"tiny model, {session.Length} tokens: prompt eval {cold.Usage.PromptEvalMs:F1} ms cold; " +
            $"restore {warm.Usage.RestoreMs:F2} ms + eval of the rest {warm.Usage.PromptEvalMs:F1} ms; " +
            $"state {engine.Stats.PrefixCache.RamBytes} bytes");
    }
}
