using System.Buffers.Binary;
using System.Text.RegularExpressions;
using YoutuServer.Engine.Gguf;

namespace YoutuServer.Engine.Synthesis;

public sealed record LoraSynthResult(string Path, long FileLength, int TensorPairs, int Rank, float Alpha);

/// <summary>
/// Writes a LoRA adapter GGUF with random A/B matrices for a base model file (tiny or 2b shape), in the layout
/// llama_adapter_lora_init reads: general.type "adapter", adapter.type "lora", adapter.lora.alpha, and for each
/// target weight W {in, out} the pair blk.N.&lt;name&gt;.weight.lora_a {in, r} and .lora_b {r, out} (F32).
/// Targets are the weights the pinned deepseek2 graph multiplies through build_lora_mm: the FFN projections and the
/// attention output (its MLA q/kv projections use plain ggml_mul_mat, so LoRA on them would load but do nothing).
/// </summary>
public static partial class LoraSynthesizer
{
    public static IReadOnlyList<string> Targets { get; } = ["ffn_gate", "ffn_up", "ffn_down", "attn_output"];

    // A and B entries of about this size make B·A comparable to the base weights' 0.02 spread, so that a scale-1
    // adapter visibly changes a random model's greedy output.
    private const double Amplitude = 0.5;

    public static LoraSynthResult Synthesize(string baseModelPath, string outPath, int rank = 8, float? alpha = null, ulong seed = 7)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rank, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rank, LoraValidator.MaxRank);
        var baseFile = GgufReader.Read(baseModelPath);
        var arch = baseFile.Find(GgufKeys.Architecture)?.AsString()
            ?? throw new InvalidDataException($"{baseModelPath}: no general.architecture");
        var a = alpha ?? rank;
        var w = new GgufWriter();
        w.AddString(GgufKeys.Architecture, arch);
        w.AddString(LoraValidator.GeneralType, "adapter");
        w.AddString(GgufKeys.Name, $"random LoRA (rank {rank}, seed {seed}) for {Path.GetFileName(baseModelPath)}");
        w.AddString(LoraValidator.AdapterType, "lora");
        w.AddFloat32(LoraValidator.LoraAlpha, a);
        var pairs = 0;
        ulong stream = seed * 1000;
        foreach (var t in baseFile.Tensors)
        {
            var m = TargetRegex().Match(t.Name);
            if (!m.Success || !Targets.Contains(m.Groups[1].Value) || t.Dimensions.Count < 2)
            {
                continue;
            }

            long inDim = t.Dimensions[0], outDim = t.Dimensions[1];
            var sa = ++stream;
            var sb = ++stream;
            w.AddTensor(t.Name + ".lora_a", [inDim, rank], GgmlType.F32, s => WriteRandom(s, inDim * rank, sa));
            w.AddTensor(t.Name + ".lora_b", [rank, outDim], GgmlType.F32, s => WriteRandom(s, rank * outDim, sb));
            pairs++;
        }

        if (pairs == 0)
        {
            throw new InvalidDataException($"{baseModelPath}: no {string.Join("/", Targets)} weights to adapt");
        }

        var full = Path.GetFullPath(outPath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        w.WriteTo(full);
        return new LoraSynthResult(full, new FileInfo(full).Length, pairs, rank, a);
    }

    private static void WriteRandom(Stream destination, long elements, ulong stream)
    {
        var rng = new SplitMix64(stream * 0x9E3779B97F4A7C15UL + 0x10A4);
        var buf = new byte[4 * 4096];
        while (elements > 0)
        {
            var n = (int)Math.Min(elements, 4096);
            for (var i = 0; i < n; i++)
            {
                var v = (float)((rng.NextDouble() * 2 - 1) * Amplitude);
                BinaryPrimitives.WriteSingleLittleEndian(buf.AsSpan(i * 4), v);
            }

            destination.Write(buf, 0, n * 4);
            elements -= n;
        }
    }

    [GeneratedRegex(@"^blk\.\d+\.([a-z_]+)\.weight$")]
    private static partial Regex TargetRegex();
}
