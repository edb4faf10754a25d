using YoutuServer.Engine.Gguf;
using YoutuServer.Engine.Model;
using YoutuServer.Engine.Tests.Engine;
using YoutuServer.Engine.Tests.Gguf;

namespace YoutuServer.Engine.Tests.Lora;

/// <summary>
/// Hostile and mismatched adapter files go through the real path (LlamaModel.LoadAdapter: managed LoraValidator, then
/// llama_adapter_lora_init): each is refused with a ModelLoadException that says what is wrong, or (harmless random
/// corruption) loads. No other exception and no process abort.
/// </summary>
[Collection("engine")]
public sealed class HostileLoraTests : IDisposable
{
    private readonly ScratchGgufDir files = new("hostile-lora");

    public void Dispose() => files.Dispose();

    private static RawGguf Valid() => RawGguf.From(File.ReadAllBytes(LoraFiles.Get(1)));

    private string Write(string name, byte[] bytes) => files.Write(name, bytes);

    private static ModelLoadException? TryLoad(LlamaModel model, string path)
    {
        try
        {
            model.LoadAdapter(new LoraAdapterOptions("x", path));
            return null;
        }
        catch (ModelLoadException e)
        {
            return e;
        }
    }

    public static TheoryData<string, string> Mismatches => new()
    {
        { "base-model-as-adapter", "general.type" },
        { "other-architecture", "architecture 'llama'" },
        { "not-lora", "only 'lora'" },
        { "other-model-size", "another model size" },
        { "unknown-base-tensor", "no weight of that name" },
        { "missing-lora-b", "missing its lora_b" },
        { "bad-tensor-type", "ggml type" },
        { "alpha-wrong-type", "adapter.lora.alpha" },
        { "attention-3d-weight", "not supported" },
        { "lying-offset", "offset" },
    };

    private static byte[] Build(string name)
    {
        var g = Valid();
        switch (name)
        {
            case "base-model-as-adapter":
                return File.ReadAllBytes(TinyModel.Path);
            case "other-architecture":
                g.SetKv("general.architecture", GgufValue.FromString("llama"));
                break;
            case "not-lora":
                g.SetKv("adapter.type", GgufValue.FromString("ia3"));
                break;
            case "other-model-size":
                // A {in, r} whose "in" is the 2b model's 2048 instead of the tiny model's 64.
                g.Tensors[0] = g.Tensors[0] with { Dims = [2048, g.Tensors[0].Dims[1]] };
                break;
            case "unknown-base-tensor":
                g.Tensors[0] = g.Tensors[0] with { Name = "blk.99.ffn_up.weight.lora_a" };
                g.Tensors[1] = g.Tensors[1] with { Name = "blk.99.ffn_up.weight.lora_b" };
                break;
            case "missing-lora-b":
                g.Tensors[1] = g.Tensors[1] with { Name = "blk.0.unpaired.weight.lora_b" };
                break;
            case "bad-tensor-type":
                g.Tensors[0] = g.Tensors[0] with { Type = 99 };
                break;
            case "alpha-wrong-type":
                g.SetKv("adapter.lora.alpha", GgufValue.FromString("sixteen"));
                break;
            case "attention-3d-weight":
                g.Tensors[0] = g.Tensors[0] with { Name = "blk.0.attn_k_b.weight.lora_a" };
                g.Tensors[1] = g.Tensors[1] with { Name = "blk.0.attn_k_b.weight.lora_b" };
                break;
            case "lying-offset":
                g.Tensors[^1] = g.Tensors[^1] with { Offset = g.Tensors[^1].Offset + (1UL << 40) };
                break;
        }

        return g.Serialize();
    }

    [Theory]
    [MemberData(nameof(Mismatches))]
    public void A_mismatched_or_broken_adapter_is_refused_with_a_clear_message(string name, string expected)
    {
        using var model = LlamaModel.Load(TinyModel.Options());
        var e = TryLoad(model, Write(name, Build(name)));
        Assert.NotNull(e);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Contains("LoRA adapter 'x'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Truncated_and_randomly_corrupted_adapters_never_take_the_process_down()
    {
        var valid = File.ReadAllBytes(LoraFiles.Get(1));
        var f = GgufReader.Read(new MemoryStream(valid));
        using var model = LlamaModel.Load(TinyModel.Options());
        var refused = 0;
        var points = new SortedSet<long> { 0, 3, 4, 8, 16, 24, f.DataOffset - 1, f.DataOffset, valid.Length - 1 };
        foreach (var kv in f.Metadata)
        {
            points.Add(kv.Offset);
            points.Add(kv.Offset + 9);
        }

        foreach (var t in f.Tensors.Take(4))
        {
            points.Add(t.InfoOffset + 5);
        }

        foreach (var cut in points)
        {
            var e = TryLoad(model, Write($"cut-{cut}", valid[..(int)cut]));
            Assert.True(e is not null, $"a file cut at {cut} of {valid.Length} bytes loaded");
            refused++;
        }

        var rng = new Random(16);
        var headerEnd = (int)f.DataOffset;
        for (var seed = 0; seed < 40; seed++)
        {
            var bytes = valid.ToArray();
            for (var k = 0; k < 3; k++)
            {
                bytes[rng.Next(headerEnd)] = (byte)rng.Next(256);
            }

            if (TryLoad(model, Write($"corrupt-{seed}", bytes)) is not null)
            {
                refused++;
            }
        }

        Assert.True(refused >= points.Count);
    }

    [Fact]
    public async Task The_engine_refuses_to_start_with_a_mismatched_adapter_and_names_it()
    {
        var path = Write("wrong-size", Build("other-model-size"));
        var e = await Assert.ThrowsAsync<ModelLoadException>(() =>
            InferenceEngine.StartAsync(LoraFiles.Options(1, new LoraAdapterOptions("sql-v2", path))));
        Assert.Contains("LoRA adapter 'sql-v2'", e.Message, StringComparison.Ordinal);
        Assert.Contains("another model size", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_synthesized_adapter_validates_against_its_base_only()
    {
        var ok = LoraValidator.Validate(LoraFiles.Get(1, rank: 4), GgufReader.Read(TinyModel.Path));
        Assert.True(ok.IsValid, ok.Message);
        Assert.Equal(4, ok.Rank);
        Assert.Equal(4 * 2, ok.TensorPairs); // ffn_gate, ffn_up, ffn_down, attn_output in each of 2 layers
    }
}
