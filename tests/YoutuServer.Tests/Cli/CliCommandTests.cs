using YoutuServer.Cli;

namespace YoutuServer.Tests.Cli;

public sealed class CliCommandTests
{
    private static string TempFile(string name) => Path.Combine(Path.GetTempPath(), "youtu-tests", $"{Environment.ProcessId}-{name}");

    [Fact]
    public async Task Synth_then_generate_runs_the_tiny_model()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(TempFile("x"))!);
        var model = TempFile("cli-tiny.gguf");
        Assert.Equal(0, await SynthCommand.RunAsync(["--preset", "tiny", "--out", model, "--seed", "7"]));
        Assert.True(new FileInfo(model).Length is > 0 and < 2 * 1024 * 1024);
        Assert.Equal(0, await GenerateCommand.RunAsync(["--model", model, "--prompt", "Hello", "--max-tokens", "5", "--seed", "1", "--ignore-eos"]));
    }

    [Fact]
    public async Task Generate_exits_non_zero_when_the_model_cannot_be_loaded()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(TempFile("x"))!);
        var broken = TempFile("broken.gguf");
        await File.WriteAllBytesAsync(broken, "GGUF\u0003\0\0\0garbage"u8.ToArray());
        Assert.Equal(1, await GenerateCommand.RunAsync(["--model", broken, "--prompt", "x"]));
        Assert.Equal(1, await GenerateCommand.RunAsync(["--model", TempFile("missing.gguf"), "--prompt", "x"]));
    }

    [Fact]
    public async Task Unknown_options_are_refused()
    {
        await Assert.ThrowsAsync<CliException>(() => SynthCommand.RunAsync(["--preset", "tiny", "--out", TempFile("y.gguf"), "--frobnicate", "1"]));
        Assert.Throws<CliException>(() => YoutuServer.Cli.ServerApp.ParseServeArgs(["--prot", "80"]));
        var ok = YoutuServer.Cli.ServerApp.ParseServeArgs(["--port", "9000", "--api-key", "a", "--api-key", "b", "--thinking", "off"]);
        Assert.Equal("9000", ok["Youtu:Port"]);
        Assert.Equal("a", ok["Youtu:ApiKeys:0"]);
        Assert.Equal("b", ok["Youtu:ApiKeys:1"]);
        Assert.Equal("false", ok["Youtu:Thinking"]);
    }

    [Fact]
    public async Task Synth_lora_for_writes_an_adapter_the_validator_accepts_for_its_base_only()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(TempFile("x"))!);
        var model = TempFile("cli-lora-base.gguf");
        var adapter = TempFile("cli-lora.gguf");
        Assert.Equal(0, await SynthCommand.RunAsync(["--preset", "tiny", "--out", model, "--seed", "7"]));
        Assert.Equal(0, await SynthCommand.RunAsync(["--lora-for", model, "--out", adapter, "--rank", "4", "--alpha", "8"]));
        var result = YoutuServer.Engine.Gguf.LoraValidator.Validate(adapter, YoutuServer.Engine.Gguf.GgufReader.Read(model));
        Assert.True(result.IsValid, result.Message);
        Assert.Equal(4, result.Rank);
        Assert.Equal(8f, result.Alpha);
        await Assert.ThrowsAsync<CliException>(() => SynthCommand.RunAsync(["--lora-for", model, "--out", adapter, "--rank", "0"]));
        await Assert.ThrowsAsync<CliException>(() => SynthCommand.RunAsync(["--lora-for", TempFile("none.gguf"), "--out", adapter]));
    }

    [Fact]
    public void Lora_options_are_repeatable_and_parse_id_path_and_scale()
    {
        var args = YoutuServer.Cli.ServerApp.ParseServeArgs(["--lora", "sql=/m/sql.gguf", "--lora", "chat=/m/chat.gguf:0.5"]);
        Assert.Equal("sql=/m/sql.gguf", args["Youtu:Lora:0"]);
        Assert.Equal("chat=/m/chat.gguf:0.5", args["Youtu:Lora:1"]);

        var sql = YoutuServer.Hosting.EngineHost.ParseLora("sql=/m/sql.gguf");
        Assert.Equal(("sql", "/m/sql.gguf", 1f), (sql.Id, sql.Path, sql.Scale));
        var chat = YoutuServer.Hosting.EngineHost.ParseLora("chat=/m/chat.gguf:0.5");
        Assert.Equal(("chat", "/m/chat.gguf", 0.5f), (chat.Id, chat.Path, chat.Scale));
        Assert.Equal("/m/a:b.gguf", YoutuServer.Hosting.EngineHost.ParseLora("x=/m/a:b.gguf").Path); // not a number: part of the path
        Assert.Throws<InvalidDataException>(() => YoutuServer.Hosting.EngineHost.ParseLora("nopath"));
        Assert.Throws<InvalidDataException>(() => YoutuServer.Hosting.EngineHost.ParseLora("x=/m/a.gguf:-1"));
    }

    [Fact]
    public async Task Synth_2b_without_its_vocabulary_is_a_clear_error_not_a_crash()
    {
        var e = await Assert.ThrowsAsync<CliException>(() => SynthCommand.RunAsync(
            ["--preset", "2b", "--out", TempFile("no-vocab.gguf"), "--vocab", TempFile("missing-vocab.gguf")]));
        Assert.Contains("vocabulary", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_output_ships_the_llama3_vocabulary()
    {
        // synth --preset 2b looks for it in llama/ beside the executable: the published output must carry it.
        Assert.True(File.Exists(Path.Combine(AppContext.BaseDirectory, "llama", YoutuServer.Engine.Synthesis.Llama3Vocabulary.FileName)));
    }

    [Fact]
    public async Task Bench_engine_lists_ctx_size_and_refuses_a_context_too_small_for_the_run()
    {
        var stdout = Console.Out;
        var sw = new StringWriter();
        Console.SetOut(sw);
        try
        {
            Assert.Equal(0, await EngineBench.RunAsync(["--help"]));
        }
        finally
        {
            Console.SetOut(stdout);
        }

        Assert.Contains("--ctx-size", sw.ToString(), StringComparison.Ordinal);
        var e = await Assert.ThrowsAsync<CliException>(() => EngineBench.RunAsync(
            ["--model", TempFile("unused.gguf"), "--parallel", "32", "--prompt", "64", "--tokens", "128", "--ctx-size", "4096"]));
        Assert.Contains("6176", e.Message, StringComparison.Ordinal); // 32 x (64 + 128 + 1)
    }
}
