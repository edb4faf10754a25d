using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace YoutuServer.Operations;

/// <summary>What to download and how to check it.</summary>
internal sealed record DownloadRequest
{
    public required Uri Url { get; init; }
    /// <summary>The final file; the download goes to <c>&lt;final&gt;.partial</c> first.</summary>
    public required string DestinationPath { get; init; }
    /// <summary>Lowercase or uppercase hex; null = unknown (the computed hash is reported so it can be pinned).</summary>
    public string? ExpectedSha256 { get; init; }
    public long? ExpectedSize { get; init; }
    /// <summary>Discard a partial download instead of resuming it.</summary>
    public bool DiscardPartial { get; init; }
}

internal enum DownloadPhase
{
    /// <summary>Re-reading the bytes of an earlier attempt to continue the hash.</summary>
    CheckingPartial,
    Downloading,
    /// <summary>Hashing a file that is already in place.</summary>
    Verifying,
    Done,
}

/// <summary>One progress sample. <see cref="ResumedFrom"/> bytes came from an earlier attempt (not counted in speed).</summary>
internal readonly record struct DownloadProgress(DownloadPhase Phase, long BytesDone, long? TotalBytes, long ResumedFrom);

internal sealed record DownloadResult(string Path, long Size, string Sha256, bool Verified, long ResumedFrom);

internal enum DownloadFailure
{
    /// <summary>DNS failure, connection refused, unreachable network: nothing was transferred.</summary>
    Offline,
    /// <summary>The server answered with an error status.</summary>
    HttpStatus,
    /// <summary>The transfer broke off (reset, server error mid-way, stall); the partial file is kept.</summary>
    Interrupted,
    /// <summary>The bytes are not the pinned file; the partial file is deleted.</summary>
    ChecksumMismatch,
    SizeMismatch,
}

internal sealed class DownloadException : Exception
{
    public DownloadException(DownloadFailure failure, string message, Exception? inner = null) : base(message, inner) => Failure = failure;
    public DownloadException() : this(DownloadFailure.Interrupted, "download failed") { }
    public DownloadException(string message) : this(DownloadFailure.Interrupted, message) { }
    public DownloadException(string message, Exception inner) : this(DownloadFailure.Interrupted, message, inner) { }

    public DownloadFailure Failure { get; }
}

/// <summary>
/// Downloads one large file over HTTP(S) the way an operator expects: into <c>&lt;final&gt;.partial</c>, resuming an
/// earlier attempt with a Range request, hashing while writing, and moving into place only once the size and the
/// sha256 are right. The final path therefore only ever holds a complete, verified file (or the previous one).
/// </summary>
internal sealed class ModelDownloader
{
    public const string PartialSuffix = ".partial";
    /// <summary>Holds the ETag / Last-Modified of the partial's source, sent as If-Range so a changed file restarts.</summary>
    public const string ValidatorSuffix = ".partial.etag";
    private const int BufferSize = 1 << 20;

    private readonly HttpClient http;
    private readonly TimeProvider time;

    public ModelDownloader(HttpClient http, TimeProvider? time = null)
    {
        this.http = http;
        this.time = time ?? TimeProvider.System;
    }

    /// <summary>A body read that delivers nothing for this long counts as a broken connection.</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>How often progress is reported while bytes flow.</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    public async Task<DownloadResult> DownloadAsync(DownloadRequest request, IProgress<DownloadProgress>? progress = null, CancellationToken ct = default)
    {
        var final = Path.GetFullPath(request.DestinationPath);
        var partial = final + PartialSuffix;
        var validatorFile = final + ValidatorSuffix;
        Directory.CreateDirectory(Path.GetDirectoryName(final)!);

        if (request.DiscardPartial)
        {
            DeletePartial(partial, validatorFile);
        }

        var have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        if (request.ExpectedSize is { } pinned && have > pinned)
        {
            // Longer than the pinned file: cannot be a prefix of it.
            DeletePartial(partial, validatorFile);
            have = 0;
        }

        // A previous run may have got every byte and died before verifying; no request needed then.
        if (have > 0 && have == request.ExpectedSize)
        {
            return Finish(request, partial, validatorFile, final, await HashFileAsync(partial, progress, DownloadPhase.CheckingPartial, ct).ConfigureAwait(false), have, have, progress);
        }

        for (var attempt = 0; ; attempt++)
        {
            using var message = new HttpRequestMessage(HttpMethod.Get, request.Url);
            // Transparent compression would make Range offsets refer to the compressed stream.
            message.Headers.AcceptEncoding.Clear();
            if (have > 0)
            {
                message.Headers.Range = new RangeHeaderValue(have, null);
                if (ReadValidator(validatorFile) is { } validator)
                {
                    message.Headers.IfRange = validator;
                }
            }

            using var response = await SendAsync(message, partial, have, ct).ConfigureAwait(false);
            long? total;
            var resumed = 0L;
            if (have > 0 && response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            {
                var length = response.Content.Headers.ContentRange?.Length;
                if (length == have)
                {
                    // The partial already holds the whole file.
                    return Finish(request, partial, validatorFile, final, await HashFileAsync(partial, progress, DownloadPhase.CheckingPartial, ct).ConfigureAwait(false), have, have, progress);
                }

                if (attempt > 0)
                {
                    throw new DownloadException(DownloadFailure.HttpStatus, $"{Host(request.Url)} refused the range request twice (HTTP 416)");
                }

                DeletePartial(partial, validatorFile);
                have = 0;
                continue;
            }

            if (!response.IsSuccessStatusCode)
            {
                throw new DownloadException(DownloadFailure.HttpStatus,
                    $"{Host(request.Url)} answered HTTP {(int)response.StatusCode} {response.ReasonPhrase} for {request.Url}{KeptNote(partial, have)}");
            }

            if (response.StatusCode == HttpStatusCode.PartialContent && have > 0)
            {
                var range = response.Content.Headers.ContentRange;
                if (range?.From != have)
                {
                    if (attempt > 0)
                    {
                        throw new DownloadException(DownloadFailure.HttpStatus, $"{Host(request.Url)} sent a range starting at {range?.From} instead of {have}");
                    }

                    // A range we did not ask for: start over rather than splice bytes at the wrong offset.
                    DeletePartial(partial, validatorFile);
                    have = 0;
                    continue;
                }

                total = range.Length;
                resumed = have;
            }
            else
            {
                // 200: a fresh download, or the server ignored the range (or If-Range says the file changed): restart.
                total = response.Content.Headers.ContentLength;
                have = 0;
            }

            if (total is { } t && request.ExpectedSize is { } expected && t != expected)
            {
                throw new DownloadException(DownloadFailure.SizeMismatch,
                    $"{Host(request.Url)} serves {t:N0} bytes but models.json pins {expected:N0}; wrong URL or outdated pin{KeptNote(partial, have)}");
            }

            WriteValidator(validatorFile, response);
            var (hash, size) = await ReceiveAsync(response, partial, resumed, total, progress, request.Url, ct).ConfigureAwait(false);
            return Finish(request, partial, validatorFile, final, hash, size, resumed, progress);
        }
    }

    /// <summary>The sha256 (lowercase hex) of a file, with progress; for checking a model that is already in place.</summary>
    public static async Task<string> ComputeSha256Async(string path, IProgress<DownloadProgress>? progress = null, CancellationToken ct = default)
    {
        using var hash = await HashFileAsync(path, progress, DownloadPhase.Verifying, ct).ConfigureAwait(false);
        return Convert.ToHexStringLower(hash.GetCurrentHash());
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage message, string partial, long have, CancellationToken ct)
    {
        // Bounded wait for the response headers; the body has its own idle timeout (ReadTimeout per read).
        using var headers = CancellationTokenSource.CreateLinkedTokenSource(ct);
        headers.CancelAfter(ReadTimeout);
        try
        {
            return await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, headers.Token).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.NameResolutionError or HttpRequestError.ConnectionError
                                              or HttpRequestError.ProxyTunnelError or HttpRequestError.SecureConnectionError)
        {
            var why = e.HttpRequestError switch
            {
                HttpRequestError.NameResolutionError => "name resolution failed",
                HttpRequestError.SecureConnectionError => "TLS handshake failed",
                HttpRequestError.ProxyTunnelError => "proxy tunnel failed",
                _ => e.InnerException?.Message ?? "connection failed",
            };
            throw new DownloadException(DownloadFailure.Offline,
                $"cannot reach {Host(message.RequestUri!)} ({why}); offline, behind a proxy, or a wrong URL?{KeptNote(partial, have)}", e);
        }
        catch (HttpRequestException e)
        {
            throw new DownloadException(DownloadFailure.Interrupted, $"request to {Host(message.RequestUri!)} failed: {e.Message}{KeptNote(partial, have)}", e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new DownloadException(DownloadFailure.Offline,
                $"no answer from {Host(message.RequestUri!)} within {ReadTimeout.TotalSeconds:0} s{KeptNote(partial, have)}", e);
        }
    }

    private async Task<(IncrementalHash Hash, long Size)> ReceiveAsync(
        HttpResponseMessage response, string partial, long resumed, long? total, IProgress<DownloadProgress>? progress, Uri url, CancellationToken ct)
    {
        // Continue the hash over the bytes we already have, so the whole file is verified without reading it twice.
        var hash = resumed > 0
            ? await HashFileAsync(partial, progress, DownloadPhase.CheckingPartial, ct, limit: resumed).ConfigureAwait(false)
            : IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var done = resumed;
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            await using var file = new FileStream(partial, resumed > 0 ? FileMode.OpenOrCreate : FileMode.Create, FileAccess.Write, FileShare.Read, 1, FileOptions.Asynchronous);
            file.SetLength(resumed);
            file.Position = resumed;
            await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var lastReport = time.GetTimestamp();
            progress?.Report(new DownloadProgress(DownloadPhase.Downloading, done, total, resumed));
            while (true)
            {
                idle.CancelAfter(ReadTimeout);
                int n;
                try
                {
                    n = await body.ReadAsync(buffer.AsMemory(0, BufferSize), idle.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
                {
                    await file.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                    throw new DownloadException(DownloadFailure.Interrupted,
                        $"no data from {Host(url)} for {ReadTimeout.TotalSeconds:0} s after {Human(done)}{KeptNote(partial, done)}", e);
                }
                catch (Exception e) when (e is IOException or HttpRequestException)
                {
                    // Everything written so far is a correct prefix: keep it for the next run.
                    await file.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                    throw new DownloadException(DownloadFailure.Interrupted,
                        $"connection to {Host(url)} broke off after {Human(done)}{(total is { } tt ? " of " + Human(tt) : "")}{KeptNote(partial, done)}", e);
                }

                if (n == 0)
                {
                    break;
                }

                await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                hash.AppendData(buffer, 0, n);
                done += n;
                if (time.GetElapsedTime(lastReport) >= ProgressInterval)
                {
                    lastReport = time.GetTimestamp();
                    progress?.Report(new DownloadProgress(DownloadPhase.Downloading, done, total, resumed));
                }
            }

            // fsync before the rename, so a crash cannot leave a renamed but half-written file.
            file.Flush(flushToDisk: true);
        }
        catch
        {
            hash.Dispose();
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        progress?.Report(new DownloadProgress(DownloadPhase.Downloading, done, total, resumed));
        if (total is { } expectedTotal && done != expectedTotal)
        {
            hash.Dispose();
            throw new DownloadException(DownloadFailure.Interrupted,
                $"{Host(url)} ended the transfer after {Human(done)} of {Human(expectedTotal)}{KeptNote(partial, done)}");
        }

        return (hash, done);
    }

    private static DownloadResult Finish(
        DownloadRequest request, string partial, string validatorFile, string final, IncrementalHash hash, long size, long resumed, IProgress<DownloadProgress>? progress)
    {
        string sha;
        using (hash)
        {
            sha = Convert.ToHexStringLower(hash.GetCurrentHash());
        }

        if (request.ExpectedSize is { } expectedSize && size != expectedSize)
        {
            DeletePartial(partial, validatorFile);
            throw new DownloadException(DownloadFailure.SizeMismatch,
                $"size mismatch: got {size:N0} bytes, models.json pins {expectedSize:N0}; deleted the partial download {partial}");
        }

        var verified = false;
        if (request.ExpectedSha256 is { Length: > 0 } expected)
        {
            if (!string.Equals(expected, sha, StringComparison.OrdinalIgnoreCase))
            {
                // A wrong file cannot be fixed by resuming: throw the bytes away so the next run starts clean.
                DeletePartial(partial, validatorFile);
                throw new DownloadException(DownloadFailure.ChecksumMismatch,
                    $"sha256 mismatch: expected {expected.ToLowerInvariant()}, got {sha}; deleted the partial download {partial}");
            }

            verified = true;
        }

        // rename(2) within one folder: readers see the old file or the complete new one, never a mix.
        File.Move(partial, final, overwrite: true);
        TryDelete(validatorFile);
        progress?.Report(new DownloadProgress(DownloadPhase.Done, size, size, resumed));
        return new DownloadResult(final, size, sha, verified, resumed);
    }

    private static async Task<IncrementalHash> HashFileAsync(
        string path, IProgress<DownloadProgress>? progress, DownloadPhase phase, CancellationToken ct, long limit = long.MaxValue)
    {
        var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
            var total = Math.Min(file.Length, limit);
            long done = 0;
            var reportEvery = 64L * BufferSize;
            while (done < total)
            {
                var n = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(BufferSize, total - done)), ct).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                hash.AppendData(buffer, 0, n);
                done += n;
                if (done % reportEvery < n || done == total)
                {
                    progress?.Report(new DownloadProgress(phase, done, total, 0));
                }
            }

            return hash;
        }
        catch
        {
            hash.Dispose();
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static RangeConditionHeaderValue? ReadValidator(string file)
    {
        if (!File.Exists(file))
        {
            return null;
        }

        var text = File.ReadAllText(file).Trim();
        if (EntityTagHeaderValue.TryParse(text, out var etag) && !etag.IsWeak)
        {
            return new RangeConditionHeaderValue(etag);
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date)
            ? new RangeConditionHeaderValue(date)
            : null;
    }

    private static void WriteValidator(string file, HttpResponseMessage response)
    {
        // Only strong validators are allowed in If-Range (RFC 9110 §13.1.5).
        var value = response.Headers.ETag is { IsWeak: false } etag ? etag.ToString()
            : response.Content.Headers.LastModified is { } modified ? modified.ToString("r", CultureInfo.InvariantCulture)
            : null;
        if (value is null)
        {
            TryDelete(file);
        }
        else
        {
            File.WriteAllText(file, value);
        }
    }

    private static void DeletePartial(string partial, string validatorFile)
    {
        TryDelete(partial);
        TryDelete(validatorFile);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort; a leftover only costs disk space.
        }
    }

    private static string KeptNote(string partial, long bytes) =>
        bytes > 0 ? $"; kept {Human(bytes)} in {partial}, run again to resume" : "";

    private static string Host(Uri url) => url.IsDefaultPort ? url.Host : $"{url.Host}:{url.Port}";

    private static string Human(long bytes) => DownloadProgressPrinter.FormatBytes(bytes);
}
