using System.Text;
using YoutuServer.Engine.Gguf;
using YoutuServer.Engine.Synthesis;

namespace YoutuServer.Engine.Tests.Gguf;

public sealed class ModelValidatorTests
{
    private static readonly ModelValidator Validator = ModelValidator.Default;

    public static TheoryData<string> MutationNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in BrokenGgufCorpus.Mutations)
        {
            data.Add(c.Name);
        }

        return data;
    }

    public static TheoryData<string> ValidNames()
    {
        var data = new TheoryData<string>();
        foreach (var (name, _) in BrokenGgufCorpus.ValidVariants())
        {
            data.Add(name);
        }

        return data;
    }

    private static ValidationResult Check(byte[] bytes, string name) => Validator.Validate(new MemoryStream(bytes), name);

    [Theory]
    [MemberData(nameof(ValidNames))]
    public void Valid_variants_pass(string name)
    {
        var (_, bytes) = BrokenGgufCorpus.ValidVariants().Single(v => v.Name == name);
        var r = Check(bytes, name);
        Assert.True(r.IsValid, r.Message);
        Assert.Equal(ValidationCode.Ok, r.Code);
        Assert.NotNull(r.Summary);
    }

    [Theory]
    [MemberData(nameof(MutationNames))]
    public void Hostile_variants_are_rejected_with_a_clear_message(string name)
    {
        var c = BrokenGgufCorpus.Mutations.Single(m => m.Name == name);
        var r = Check(c.Bytes, name);
        Assert.False(r.IsValid, $"{name}: accepted");
        Assert.DoesNotContain("unexpectedly", r.Message, StringComparison.Ordinal);
        if (c.Fragment is not null)
        {
            Assert.Contains(c.Fragment, r.Problems[0], StringComparison.Ordinal);
        }

        if (c.Code is { } code)
        {
            Assert.Equal(code, r.Code);
        }
    }

    [Fact]
    public void Truncation_anywhere_before_the_end_of_the_data_is_reported_as_truncated()
    {
        var failures = new StringBuilder();
        var count = 0;
        foreach (var c in BrokenGgufCorpus.Truncations())
        {
            count++;
            var r = Check(c.Bytes, c.Name);
            if (r.IsValid || r.Code != ValidationCode.Truncated || !r.Problems[0].Contains("truncated", StringComparison.Ordinal))
            {
                failures.AppendLine($"{c.Name}: {r.Code} {r.Message}");
            }
        }

        Assert.True(count > 300, $"only {count} truncation points");
        Assert.True(failures.Length == 0, failures.ToString());
    }

    [Fact]
    public void Every_required_key_and_tensor_is_covered_by_the_corpus()
    {
        var names = BrokenGgufCorpus.Mutations.Select(m => m.Name).ToHashSet();
        foreach (var key in BrokenGgufCorpus.RequiredKeys)
        {
            Assert.Contains($"missing {key}", names);
        }

        var hp = YoutuSynthesizer.HyperParameters(SynthPreset.Tiny);
        foreach (var t in hp.ExpectedTensors())
        {
            Assert.Contains($"{t.Name} missing", names);
            Assert.Contains($"{t.Name} last dim +1", names);
        }
    }

    [Fact]
    public void Random_corruption_never_throws()
    {
        var tiny = BrokenGgufCorpus.TinyModel;
        var headerEnd = (int)GgufReader.Read(new MemoryStream(tiny)).DataOffset;
        var rng = new Random(12345);
        for (var i = 0; i < 1500; i++)
        {
            var bytes = tiny.ToArray();
            var flips = rng.Next(1, 6);
            for (var k = 0; k < flips; k++)
            {
                // Mostly the metadata, where a flip changes meaning; sometimes anywhere.
                var at = rng.Next(4) == 0 ? rng.Next(bytes.Length) : rng.Next(headerEnd);
                bytes[at] = (byte)rng.Next(256);
            }

            var r = Check(bytes, "fuzz");
            Assert.DoesNotContain("unexpectedly", r.Message, StringComparison.Ordinal);
        }

        for (var i = 0; i < 200; i++)
        {
            var junk = new byte[rng.Next(0, 4096)];
            rng.NextBytes(junk);
            if (junk.Length >= 4 && rng.Next(2) == 0)
            {
                "GGUF\u0003\0\0\0"u8.ToArray().AsSpan(0, Math.Min(8, junk.Length)).CopyTo(junk);
            }

            var r = Check(junk, "junk");
            Assert.False(r.IsValid);
            Assert.DoesNotContain("unexpectedly", r.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Summary_describes_the_tiny_model()
    {
        var r = Check(BrokenGgufCorpus.TinyModel, "tiny");
        Assert.True(r.IsValid, r.Message);
        var s = r.Summary!;
        var plan = YoutuSynthesizer.Plan(new SynthOptions { Preset = SynthPreset.Tiny });
        Assert.Equal(plan.ParameterCount, s.ParameterCount);
        Assert.Equal(plan.HyperParameters, s.HyperParameters);
        Assert.Equal("deepseek2", s.Architecture);
        Assert.Equal("all F32", s.FileType);
        Assert.True(s.TiedEmbeddings);
        Assert.True(s.HasChatTemplate);
        Assert.Equal("youtu", s.TokenizerPre);
        Assert.False(s.AddBosToken);
        Assert.Equal(plan.Vocabulary.BosTokenId, s.BosTokenId);
        Assert.Equal(plan.Vocabulary.EosTokenId, s.EosTokenId);
        Assert.Equal(12, s.MarkerTokenIds.Count);
        Assert.Equal(28, s.TensorCount);
        Assert.Equal(34, s.KeyValueCount);
        Assert.Empty(r.Warnings);
        Assert.Contains("deepseek2 model", r.Message, StringComparison.Ordinal);
        Assert.Contains("n_layer=2", s.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_token_types_and_pre_tokenizer_only_warn()
    {
        var raw = RawGguf.From(BrokenGgufCorpus.TinyModel);
        raw.RemoveKv(GgufKeys.TokenType);
        raw.RemoveKv(GgufKeys.TokenizerPre);
        var r = Check(raw.Serialize(), "warn");
        Assert.True(r.IsValid, r.Message);
        Assert.Equal(2, r.Warnings.Count);
    }

    [Fact]
    public void Validates_files_on_disk_and_reports_missing_ones()
    {
        Assert.Equal(ValidationCode.MissingFile, Validator.Validate("/nonexistent/model.gguf").Code);
        Assert.Contains("model file not found", Validator.Validate("/nonexistent/model.gguf").Message, StringComparison.Ordinal);
        Assert.Equal(ValidationCode.MissingFile, Validator.Validate(Path.GetTempPath()).Code);
        Assert.Equal(ValidationCode.MissingFile, Validator.Validate("").Code);

        var path = Path.Combine(Path.GetTempPath(), $"validator-{Guid.NewGuid():N}.gguf");
        try
        {
            File.WriteAllBytes(path, BrokenGgufCorpus.TinyModel);
            var ok = Validator.Validate(path);
            Assert.True(ok.IsValid, ok.Message);
            Assert.Equal(path, ok.Path);

            File.WriteAllBytes(path, BrokenGgufCorpus.TinyModel.AsSpan(0, 1000).ToArray());
            var bad = Validator.Validate(path);
            Assert.Equal(ValidationCode.Truncated, bad.Code);
            Assert.Contains(path, bad.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void The_reader_error_names_the_byte_offset()
    {
        var r = Check(BrokenGgufCorpus.TinyModel.AsSpan(0, 30).ToArray(), "cut");
        Assert.Matches(@"at byte offset \d+", r.Problems[0]);
    }
}
