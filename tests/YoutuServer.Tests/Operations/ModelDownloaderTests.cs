using YoutuServer.Operations;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Operations;

public sealed class ModelDownloaderTests : IAsyncLifetime, IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("youtu-pull-").FullName;
    private readonly HttpClient http = new() { Timeout = Timeout.InfiniteTimeSpan };
    private LoopbackFileServer server = null!;

    private string Final => Path.Combine(dir, "models", "model.gguf");
    private string Partial => Final + ModelDownloader.PartialSuffix;

    public async Task InitializeAsync() => server = await LoopbackFileServer.StartAsync();

    public async Task DisposeAsync() => await server.DisposeAsync();

    public void Dispose()
    {
        http.Dispose();
        Directory.Delete(dir, recursive: true);
    }

    private DownloadRequest Request(string? sha = "pinned", long? size = null) => new()
    {
        Url = server.Url,
        DestinationPath = Final,
        ExpectedSha256 = sha == "pinned" ? server.Sha256 : sha,
        ExpectedSize = size,
    };

    private ModelDownloader Downloader(TimeSpan? readTimeout = null) => new(http) { ReadTimeout = readTimeout ?? TestTimeouts.Seconds(30) };

    [Fact]
    public async Task Full_download_is_verified_and_moved_into_place()
    {
        var progress = new List<DownloadProgress>();
        var result = await Downloader().DownloadAsync(Request(size: server.Content.Length), new SyncProgress(progress.Add));

        Assert.True(result.Verified);
        Assert.Equal(server.Sha256, result.Sha256);
        Assert.Equal(server.Content.Length, result.Size);
        Assert.Equal(0, result.ResumedFrom);
        Assert.Equal(server.Content, await File.ReadAllBytesAsync(Final));
        Assert.False(File.Exists(Partial));
        Assert.False(File.Exists(Final + ModelDownloader.ValidatorSuffix));
        Assert.Equal(DownloadPhase.Done, progress[^1].Phase);
        Assert.Contains(progress, p => p.Phase == DownloadPhase.Downloading && p.TotalBytes == server.Content.Length);
        Assert.Null(Assert.Single(server.Requests).Range);
    }

    [Fact]
    public async Task Interrupted_download_keeps_the_partial_and_the_next_run_resumes_with_a_range_request()
    {
        server.Behavior = n => n == 0 ? new ServeBehavior { CutAfter = 1_000_000 } : new ServeBehavior();

        var first = await Assert.ThrowsAsync<DownloadException>(() => Downloader().DownloadAsync(Request()));
        Assert.Equal(DownloadFailure.Interrupted, first.Failure);
        Assert.Contains("run again to resume", first.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Final));
        var kept = new FileInfo(Partial).Length;
        Assert.InRange(kept, 1, 1_000_000);
        Assert.Equal(server.Content.AsSpan(0, (int)kept).ToArray(), await File.ReadAllBytesAsync(Partial));

        var result = await Downloader().DownloadAsync(Request());

        Assert.Equal(kept, result.ResumedFrom);
        Assert.True(result.Verified);
        Assert.Equal(server.Sha256, result.Sha256);
        Assert.Equal(server.Content, await File.ReadAllBytesAsync(Final));
        var second = server.Requests.ToArray()[1];
        Assert.Equal($"bytes={kept}-", second.Range);
        Assert.Equal("\"v1\"", second.IfRange);
        Assert.False(File.Exists(Partial));
    }

    [Fact]
    public async Task A_server_that_ignores_the_range_makes_the_download_restart_from_zero()
    {
        // A stale partial (wrong bytes): a 200 answer to the Range request must replace it, not be appended to it.
        Directory.CreateDirectory(Path.GetDirectoryName(Final)!);
        await File.WriteAllBytesAsync(Partial, new byte[500_000]);
        server.Behavior = _ => new ServeBehavior { HonorRange = false };

        var result = await Downloader().DownloadAsync(Request());

        Assert.Equal(0, result.ResumedFrom);
        Assert.Equal(server.Sha256, result.Sha256);
        Assert.Equal(server.Content, await File.ReadAllBytesAsync(Final));
        Assert.Equal("bytes=500000-", Assert.Single(server.Requests).Range);
    }

    [Fact]
    public async Task A_changed_file_on_the_server_restarts_instead_of_splicing_two_versions()
    {
        server.Behavior = n => n == 0 ? new ServeBehavior { CutAfter = 700_000, ETag = "\"old\"" } : new ServeBehavior { ETag = "\"new\"" };
        await Assert.ThrowsAsync<DownloadException>(() => Downloader().DownloadAsync(Request()));

        var result = await Downloader().DownloadAsync(Request());

        Assert.Equal("\"old\"", server.Requests.ToArray()[1].IfRange);
        Assert.Equal(0, result.ResumedFrom);
        Assert.Equal(server.Content, await File.ReadAllBytesAsync(Final));
    }

    [Fact]
    public async Task Checksum_mismatch_deletes_the_partial_and_never_creates_the_final_file()
    {
        var wrong = new string('a', 64);

        var e = await Assert.ThrowsAsync<DownloadException>(() => Downloader().DownloadAsync(Request(sha: wrong)));

        Assert.Equal(DownloadFailure.ChecksumMismatch, e.Failure);
        Assert.Contains($"sha256 mismatch: expected {wrong}, got {server.Sha256}", e.Message, StringComparison.Ordinal);
        Assert.Contains("deleted the partial download", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Final));
        Assert.False(File.Exists(Partial));
    }

    [Fact]
    public async Task Checksum_mismatch_leaves_an_existing_final_file_untouched()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Final)!);
        await File.WriteAllTextAsync(Final, "the previous, good model");

        await Assert.ThrowsAsync<DownloadException>(() =>
            Downloader().DownloadAsync(Request(sha: new string('b', 64)) with { DiscardPartial = true }));

        Assert.Equal("the previous, good model", await File.ReadAllTextAsync(Final));
    }

    [Fact]
    public async Task Http_500_at_the_start_fails_clearly_and_writes_nothing()
    {
        server.Behavior = _ => new ServeBehavior { Status = 500 };

        var e = await Assert.ThrowsAsync<DownloadException>(() => Downloader().DownloadAsync(Request()));

        Assert.Equal(DownloadFailure.HttpStatus, e.Failure);
        Assert.Contains("HTTP 500", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(File.Exists(Final));
        Assert.False(File.Exists(Partial));
    }

    [Fact]
    public async Task Server_error_mid_way_keeps_the_partial_and_a_later_500_keeps_it_too()
    {
        server.Behavior = n => n == 0 ? new ServeBehavior { CutAfter = 1_500_000, ThrowAtCut = true } : new ServeBehavior { Status = 503 };

        var first = await Assert.ThrowsAsync<DownloadException>(() => Downloader().DownloadAsync(Request()));
        Assert.Equal(DownloadFailure.Interrupted, first.Failure);
        Assert.Contains("broke off", first.Message, StringComparison.Ordinal);
        var kept = new FileInfo(Partial).Length;
        Assert.True(kept > 0);

        var second = await Assert.ThrowsAsync<DownloadException>(() => Downloader().DownloadAsync(Request()));
        Assert.Equal(DownloadFailure.HttpStatus, second.Failure);
        Assert.Contains("HTTP 503", second.Message, StringComparison.Ordinal);
        Assert.Equal(kept, new FileInfo(Partial).Length);
        Assert.False(File.Exists(Final));

        server.Behavior = _ => new ServeBehavior();
        var result = await Downloader().DownloadAsync(Request());
        Assert.Equal(kept, result.ResumedFrom);
        Assert.Equal(server.Content, await File.ReadAllBytesAsync(Final));
    }

    [Fact]
    public async Task Connection_refused_is_reported_as_offline()
    {
        var port = LoopbackFileServer.ClosedPort();
        var request = Request() with { Url = new Uri($"http://127.0.0.1:{port}/model.gguf") };

        var e = await Assert.ThrowsAsync<DownloadException>(() => Downloader().DownloadAsync(request));

        Assert.Equal(DownloadFailure.Offline, e.Failure);
        Assert.StartsWith($"cannot reach 127.0.0.1:{port} (", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(File.Exists(Final));
    }

    [Fact]
    public async Task A_stalled_transfer_times_out_and_keeps_the_partial()
    {
        server.Behavior = _ => new ServeBehavior { CutAfter = 800_000, StallAtCut = true };

        var e = await Assert.ThrowsAsync<DownloadException>(() => Downloader(TimeSpan.FromMilliseconds(700)).DownloadAsync(Request()));

        Assert.Equal(DownloadFailure.Interrupted, e.Failure);
        Assert.Contains("no data from", e.Message, StringComparison.Ordinal);
        Assert.Equal(800_000, new FileInfo(Partial).Length);
    }

    [Fact]
    public async Task A_size_pin_that_differs_from_the_server_fails_before_writing()
    {
        var e = await Assert.ThrowsAsync<DownloadException>(() => Downloader().DownloadAsync(Request(size: server.Content.Length + 1)));

        Assert.Equal(DownloadFailure.SizeMismatch, e.Failure);
        Assert.Contains("models.json pins", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Partial));
    }

    [Fact]
    public async Task Without_a_pinned_hash_the_computed_one_is_returned()
    {
        var result = await Downloader().DownloadAsync(Request(sha: null));

        Assert.False(result.Verified);
        Assert.Equal(server.Sha256, result.Sha256);
        Assert.Equal(server.Content.Length, result.Size);
        Assert.True(File.Exists(Final));
    }

    [Fact]
    public async Task A_partial_that_is_already_complete_is_verified_without_a_request()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Final)!);
        await File.WriteAllBytesAsync(Partial, server.Content);

        var result = await Downloader().DownloadAsync(Request(size: server.Content.Length));

        Assert.True(result.Verified);
        Assert.Empty(server.Requests);
        Assert.Equal(server.Content, await File.ReadAllBytesAsync(Final));
    }

    [Fact]
    public async Task A_complete_partial_without_a_size_pin_is_finished_after_a_416()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Final)!);
        await File.WriteAllBytesAsync(Partial, server.Content);

        var result = await Downloader().DownloadAsync(Request());

        Assert.True(result.Verified);
        Assert.Equal($"bytes={server.Content.Length}-", Assert.Single(server.Requests).Range);
        Assert.Equal(server.Content, await File.ReadAllBytesAsync(Final));
    }

    [Fact]
    public async Task Verifying_an_existing_file_reports_its_hash()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Final)!);
        await File.WriteAllBytesAsync(Final, server.Content);

        Assert.Equal(server.Sha256, await ModelDownloader.ComputeSha256Async(Final));
    }

    /// <summary>Reports synchronously (Progress&lt;T&gt; posts to the thread pool, so its order is not guaranteed).</summary>
    private sealed class SyncProgress(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => report(value);
    }
}
