using YoutuServer.Engine.Model;
using YoutuServer.Engine.Synthesis;

namespace YoutuServer.Cli;

/// <summary>
/// `youtu-server synth --preset tiny|2b --out FILE [--quant f16|q8_0|q4_k_m] [--seed N]`, or a random LoRA adapter
/// for a base file: `youtu-server synth --lora-for BASE.gguf --out ADAPTER.gguf [--rank R] [--alpha A] [--seed N]`.
/// </summary>
internal static class SynthCommand
{
    public static Task<int> RunAsync(string[] args)
    {
        var cli = new CliArgs(args);
        if (cli.Get("lora-for") is { } baseModel)
        {
            return Task.FromResult(SynthLora(cli, baseModel));
        }

        var preset = cli.Get("preset") ?? "tiny";
        var output = cli.Require("out");
        var quant = (cli.Get("quant") ?? (preset == "tiny" ? "f32" : "f16")).ToLowerInvariant();
        var seed = (ulong)cli.GetInt("seed", 42);
        var threads = cli.GetInt("threads", Environment.ProcessorCount);
        var vocab = cli.Get("vocab");
        cli.RejectUnknown();

        var p = preset switch
        {
            "tiny" => SynthPreset.Tiny,
            "2b" => SynthPreset.TwoB,
            _ => throw new CliException($"--preset must be tiny or 2b, got '{preset}'"),
        };
        var ftype = quant switch
        {
            "f32" or "f16" => -1,
            "q8_0" => Engine.QuantFileType.MostlyQ8_0,
            "q4_k_m" => Engine.QuantFileType.MostlyQ4_K_M,
            _ => throw new CliException($"--quant must be f32, f16, q8_0 or q4_k_m, got '{quant}'"),
        };

        var dir = Path.GetDirectoryName(Path.GetFullPath(output))!;
        Directory.CreateDirectory(dir);
        var raw = ftype < 0 ? output : output + ".f16.tmp";
        var progress = new Progress<double>(f => Console.Error.Write($"\rsynth: writing {f * 100,5:F1}%"));
        SynthResult result;
        try
        {
            result = YoutuSynthesizer.Synthesize(new SynthOptions
            {
                Preset = p,
                OutPath = raw,
                Seed = seed,
                DType = quant == "f32" ? SynthDType.F32 : SynthDType.F16,
                VocabPath = vocab,
            }, progress);
        }
        catch (Exception e) when (e is FileNotFoundException or InvalidDataException)
        {
            // The 2b preset imports llama.cpp's Llama-3 vocabulary: say where it was looked for, not a stack trace.
            throw new CliException($"synth --preset {preset}: {e.Message}");
        }

        Console.Error.WriteLine();
        Console.Error.WriteLine($"synth: {result.ParameterCount:N0} parameters, {result.TensorCount} tensors, {result.FileLength:N0} bytes in {result.Elapsed.TotalSeconds:F1}s");
        if (ftype >= 0)
        {
            Console.Error.WriteLine($"synth: quantizing to {quant} with {threads} threads (llama_model_quantize)...");
            var sw = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                LlamaModel.Quantize(raw, output, ftype, threads);
            }
            finally
            {
                File.Delete(raw);
            }

            Console.Error.WriteLine($"synth: {new FileInfo(output).Length:N0} bytes in {sw.Elapsed.TotalSeconds:F1}s");
        }

        Console.WriteLine(Path.GetFullPath(output));
        return Task.FromResult(0);
    }

    private static int SynthLora(CliArgs cli, string baseModel)
    {
        var output = cli.Require("out");
        var rank = cli.GetInt("rank", 8);
        var seed = (ulong)cli.GetInt("seed", 7);
        var alphaText = cli.Get("alpha");
        cli.RejectUnknown();
        if (rank < 1 || rank > Engine.Gguf.LoraValidator.MaxRank)
        {
            throw new CliException($"--rank must be between 1 and {Engine.Gguf.LoraValidator.MaxRank}, got {rank}");
        }

        float? alpha = null;
        if (alphaText is not null)
        {
            alpha = float.TryParse(alphaText, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var a) && float.IsFinite(a) && a >= 0
                ? a
                : throw new CliException($"--alpha must be a number >= 0, got '{alphaText}'");
        }

        if (!File.Exists(baseModel))
        {
            throw new CliException($"--lora-for: no such file '{baseModel}'");
        }

        var r = LoraSynthesizer.Synthesize(baseModel, output, rank, alpha, seed);
        Console.Error.WriteLine($"synth: LoRA rank {r.Rank}, alpha {r.Alpha}, {r.TensorPairs} tensor pairs, {r.FileLength:N0} bytes");
        Console.WriteLine(r.Path);
        return 0;
    }
}
