using System.Text.Json.Nodes;
using YoutuServer.Cli;
using YoutuServer.Operations;

namespace YoutuServer.Tests.Operations;

/// <summary>`youtu-server pull` end to end: catalog lookup, download from a loopback server, messages and exit codes.</summary>
public sealed class PullCommandTests : IAsyncLifetime, IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("youtu-pullcli-").FullName;
    private readonly SocketsHttpHandler handler = new();
    private LoopbackFileServer server = null!;

    private string ModelsDir => Path.Combine(dir, "models");
    private string CatalogPath => Path.Combine(dir, "models.json");
    private string Final => Path.Combine(ModelsDir, "test-model.gguf");

    public async Task InitializeAsync() => server = await LoopbackFileServer.StartAsync(size: 2 * 1024 * 1024 + 7);

    public async Task DisposeAsync() => await server.DisposeAsync();

    public void Dispose()
    {
        handler.Dispose();
        Directory.Delete(dir, recursive: true);
    }

    private void WriteCatalog(string? sha, string? url = null)
    {
        var source = new JsonObject { ["repo"] = "example/test-GGUF", ["file"] = "test-model.gguf", ["url"] = url ?? server.Url.ToString() };
        if (sha is not null)
        {
            source["sha256"] = sha;
            source["size"] = server.Content.Length;
        }

        var doc = new JsonObject
        {
            ["default"] = "test-model",
            ["models"] = new JsonArray(new JsonObject
            {
                ["id"] = "test-model",
                ["aliases"] = new JsonArray("Test-Model-Q8_0"),
                ["source"] = source,
                ["path"] = "models/test-model.gguf",
                ["context_length"] = 4096,
            }),
        };
        File.WriteAllText(CatalogPath, doc.ToJsonString());
    }

    private async Task<(int Code, string Out, string Err)> Pull(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await PullCommand.RunAsync(args, stdout, stderr, interactive: false, handler, CancellationToken.None, TimeSpan.FromSeconds(10));
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Pull_by_alias_downloads_verifies_and_reports()
    {
        WriteCatalog(server.Sha256);

        var (code, output, err) = await Pull("Test-Model-Q8_0", "--models-file", CatalogPath, "--models-dir", ModelsDir);

        Assert.Equal(0, code);
        Assert.Contains($"pulled test-model -> {Final}", output, StringComparison.Ordinal);
        Assert.Contains("sha256 verified", output, StringComparison.Ordinal);
        Assert.Equal(server.Content, await File.ReadAllBytesAsync(Final));
        // stderr is not a terminal here: plain progress lines, no carriage-return redraws.
        Assert.Contains("pulling", err, StringComparison.Ordinal);
        Assert.DoesNotContain('\r', err);
    }

    [Fact]
    public async Task Without_an_id_the_catalog_default_is_pulled_next_to_models_json()
    {
        WriteCatalog(server.Sha256);

        var (code, _, _) = await Pull("--models-file", CatalogPath);

        Assert.Equal(0, code);
        Assert.True(File.Exists(Final));
    }

    [Fact]
    public async Task Unpinned_model_prints_the_computed_sha256_and_size_for_pinning()
    {
        WriteCatalog(sha: null);

        var (code, output, _) = await Pull("test-model", "--models-file", CatalogPath, "--models-dir", ModelsDir);

        Assert.Equal(0, code);
        Assert.Contains($"sha256 {server.Sha256}", output, StringComparison.Ordinal);
        Assert.Contains($"size {server.Content.Length}", output, StringComparison.Ordinal);
        Assert.Contains("models.json pins no sha256", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_present_model_is_verified_not_downloaded_again()
    {
        WriteCatalog(server.Sha256);
        Assert.Equal(0, (await Pull("test-model", "--models-file", CatalogPath, "--models-dir", ModelsDir)).Code);

        var (code, output, _) = await Pull("test-model", "--models-file", CatalogPath, "--models-dir", ModelsDir);

        Assert.Equal(0, code);
        Assert.Contains("already present", output, StringComparison.Ordinal);
        Assert.Contains("sha256 verified", output, StringComparison.Ordinal);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task A_damaged_present_model_is_reported_and_force_replaces_it()
    {
        WriteCatalog(server.Sha256);
        Directory.CreateDirectory(ModelsDir);
        await File.WriteAllTextAsync(Final, "damaged");

        var (code, _, err) = await Pull("test-model", "--models-file", CatalogPath, "--models-dir", ModelsDir);
        Assert.Equal(1, code);
        Assert.Contains("--force", err, StringComparison.Ordinal);

        (code, _, _) = await Pull("test-model", "--force", "--models-file", CatalogPath, "--models-dir", ModelsDir);
        Assert.Equal(0, code);
        Assert.Equal(server.Content, await File.ReadAllBytesAsync(Final));
    }

    [Fact]
    public async Task Checksum_mismatch_exits_non_zero_with_one_clear_line()
    {
        WriteCatalog(new string('c', 64));

        var (code, output, err) = await Pull("test-model", "--models-file", CatalogPath, "--models-dir", ModelsDir);

        Assert.Equal(1, code);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("youtu-server pull:", StringComparison.Ordinal));
        Assert.Contains("sha256 mismatch", line, StringComparison.Ordinal);
        Assert.Contains("deleted the partial download", line, StringComparison.Ordinal);
        Assert.DoesNotContain("pulled", output, StringComparison.Ordinal);
        Assert.False(File.Exists(Final));
        Assert.False(File.Exists(Final + ModelDownloader.PartialSuffix));
    }

    [Fact]
    public async Task Offline_exits_non_zero_and_says_so()
    {
        WriteCatalog(server.Sha256, url: $"http://127.0.0.1:{LoopbackFileServer.ClosedPort()}/test-model.gguf");

        var (code, _, err) = await Pull("test-model", "--models-file", CatalogPath, "--models-dir", ModelsDir);

        Assert.Equal(1, code);
        Assert.Contains("youtu-server pull: cannot reach 127.0.0.1:", err, StringComparison.Ordinal);
        Assert.False(File.Exists(Final));
    }

    [Fact]
    public async Task Url_override_downloads_from_the_mirror_and_still_checks_the_pin()
    {
        WriteCatalog(server.Sha256, url: $"http://127.0.0.1:{LoopbackFileServer.ClosedPort()}/unreachable.gguf");

        var (code, _, err) = await Pull("test-model", "--url", server.Url.ToString(), "--models-file", CatalogPath, "--models-dir", ModelsDir);

        Assert.Equal(0, code);
        Assert.Contains(server.Url.ToString(), err, StringComparison.Ordinal);
        Assert.Equal(server.Content, await File.ReadAllBytesAsync(Final));
    }

    [Fact]
    public async Task Interrupted_pull_resumes_on_the_next_run()
    {
        WriteCatalog(server.Sha256);
        server.Behavior = n => n == 0 ? new ServeBehavior { CutAfter = 600_000 } : new ServeBehavior();

        var (code, _, err) = await Pull("test-model", "--models-file", CatalogPath, "--models-dir", ModelsDir);
        Assert.Equal(1, code);
        Assert.Contains("run again to resume", err, StringComparison.Ordinal);

        (code, var output, _) = await Pull("test-model", "--models-file", CatalogPath, "--models-dir", ModelsDir);
        Assert.Equal(0, code);
        Assert.Contains("resumed at", output, StringComparison.Ordinal);
        Assert.Equal(server.Content, await File.ReadAllBytesAsync(Final));
    }

    [Fact]
    public async Task Concurrent_pulls_of_one_model_download_it_once()
    {
        WriteCatalog(server.Sha256);

        var results = await Task.WhenAll(
            Pull("test-model", "--models-file", CatalogPath, "--models-dir", ModelsDir),
            Pull("test-model", "--models-file", CatalogPath, "--models-dir", ModelsDir));

        Assert.All(results, r => Assert.Equal(0, r.Code));
        Assert.Single(server.Requests);
        Assert.Contains(results, r => r.Out.Contains("already present", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Unknown_id_and_unknown_option_are_usage_errors()
    {
        WriteCatalog(server.Sha256);

        var unknown = await Assert.ThrowsAsync<CliException>(() => Pull("nope", "--models-file", CatalogPath));
        Assert.Contains("no model 'nope'", unknown.Message, StringComparison.Ordinal);
        Assert.Contains("known: test-model", unknown.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<CliException>(() => Pull("test-model", "--models-file", CatalogPath, "--bogus", "1"));
    }

    [Fact]
    public async Task Invalid_catalog_exits_2_and_names_the_problem()
    {
        await File.WriteAllTextAsync(CatalogPath, """{ "models": [ { "id": "x", "path": "x.gguf", "context_length": -5 } ] }""");

        var (code, _, err) = await Pull("x", "--models-file", CatalogPath);

        Assert.Equal(2, code);
        Assert.Contains("model 'x': field 'context_length' must be positive", err, StringComparison.Ordinal);
    }
}
