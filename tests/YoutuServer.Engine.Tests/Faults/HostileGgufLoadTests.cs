using YoutuServer.Engine.Gguf;
using YoutuServer.Engine.Model;
using YoutuServer.Engine.Tests.Gguf;

namespace YoutuServer.Engine.Tests.Faults;

/// <summary>
/// Hostile model files go through the real loading path, LlamaModel.Load (managed validation first, then
/// llama.cpp): truncations at every section, lying offsets, enormous counts, wrong types, and seeded random
/// corruption. Each is refused with a ModelLoadException whose message says what is wrong, or (for harmless
/// random corruption) loads; nothing else may happen — no other exception type and no process abort (llama.cpp
/// aborts the process on several malformed files, which is why Load validates first).
/// </summary>
[Collection("engine")]
public sealed class HostileGgufLoadTests : IDisposable
{
    private readonly ScratchGgufDir files = new("hostile");

    public void Dispose() => files.Dispose();

    private string Write(string name, byte[] bytes) => files.Write(name, bytes);

    private static EngineOptions Options(string path) => new() { ModelPath = path, Threads = 1 };

    /// <summary>Loads; returns the ModelLoadException or null when it loaded. Any other exception fails the test.</summary>
    private static ModelLoadException? TryLoad(string path)
    {
        try
        {
            using var model = LlamaModel.Load(Options(path));
            return null;
        }
        catch (ModelLoadException e)
        {
            return e;
        }
    }

    [Fact]
    public void Every_truncation_is_refused_at_load_with_a_truncation_message()
    {
        var failures = new List<string>();
        var count = 0;
        foreach (var c in BrokenGgufCorpus.Truncations())
        {
            count++;
            var path = Write(c.Name, c.Bytes);
            var e = TryLoad(path);
            if (e is null)
            {
                failures.Add($"{c.Name}: loaded");
            }
            else if (!e.Message.Contains("truncated", StringComparison.OrdinalIgnoreCase))
            {
                failures.Add($"{c.Name}: unclear message '{e.Message}'");
            }

            File.Delete(path);
        }

        Assert.True(count > 100, $"only {count} truncations");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    [Fact]
    public void Every_hostile_mutation_is_refused_at_load_with_its_reason()
    {
        var failures = new List<string>();
        foreach (var c in BrokenGgufCorpus.Mutations)
        {
            var path = Write(c.Name, c.Bytes);
            var e = TryLoad(path);
            if (e is null)
            {
                failures.Add($"{c.Name}: loaded");
            }
            else if (string.IsNullOrWhiteSpace(e.Message) || e.Message.Contains("unexpectedly", StringComparison.Ordinal))
            {
                failures.Add($"{c.Name}: unclear message '{e.Message}'");
            }
            else if (c.Fragment is not null && !e.Message.Contains(c.Fragment, StringComparison.Ordinal))
            {
                failures.Add($"{c.Name}: message '{e.Message}' lacks '{c.Fragment}'");
            }

            File.Delete(path);
        }

        Assert.True(BrokenGgufCorpus.Mutations.Count > 100);
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    [Fact]
    public void Lying_tensor_offsets_and_counts_are_refused_before_llama_cpp_reads_them()
    {
        var tiny = BrokenGgufCorpus.TinyModel;
        var rng = new Random(2024);
        var baseRaw = RawGguf.From(tiny);
        var cases = 0;
        for (var i = 0; i < 60; i++)
        {
            var r = baseRaw.Clone();
            var t = rng.Next(r.Tensors.Count);
            var offset = rng.Next(4) switch
            {
                0 => (ulong)r.Data.Length + (ulong)rng.Next(1, 1 << 20) * 32,      // past the end
                1 => r.Tensors[rng.Next(r.Tensors.Count)].Offset,                   // overlapping another tensor
                2 => r.Tensors[t].Offset + (ulong)rng.Next(1, 31),                 // misaligned
                _ => ulong.MaxValue - (ulong)rng.Next(0, 1 << 16) * 32,             // wraps around
            };
            if (offset == r.Tensors[t].Offset)
            {
                continue;
            }

            r.Tensors[t] = r.Tensors[t] with { Offset = offset };
            var e = TryLoad(Write($"offset-{i}", r.Serialize()));
            Assert.NotNull(e);
            Assert.Contains("tensor", e.Message, StringComparison.OrdinalIgnoreCase);
            cases++;
        }

        foreach (var count in new ulong[] { 2, 100, 1UL << 20, 1UL << 32, 1UL << 62, ulong.MaxValue })
        {
            var r = baseRaw.Clone();
            r.TensorCountOverride = count;
            Assert.NotNull(TryLoad(Write($"tensors-{count}", r.Serialize())));
            r = baseRaw.Clone();
            r.KvCountOverride = count;
            Assert.NotNull(TryLoad(Write($"kvs-{count}", r.Serialize())));
            cases += 2;
        }

        Assert.True(cases > 50);
    }

    [Fact]
    public void Random_corruption_is_refused_or_loads_but_never_crashes()
    {
        var tiny = BrokenGgufCorpus.TinyModel;
        var headerEnd = (int)GgufReader.Read(new MemoryStream(tiny)).DataOffset;
        var rng = new Random(777);
        int refused = 0, loaded = 0;
        for (var i = 0; i < 300; i++)
        {
            var bytes = tiny.ToArray();
            var flips = rng.Next(1, 5);
            for (var k = 0; k < flips; k++)
            {
                bytes[rng.Next(headerEnd)] = (byte)rng.Next(256);
            }

            var path = Write($"random-{i}", bytes);
            var e = TryLoad(path);
            if (e is null)
            {
                loaded++;
            }
            else
            {
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
                refused++;
            }

            File.Delete(path);
        }

        Assert.True(refused > 100, $"{refused} refused, {loaded} loaded");
    }
}
