using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using Microsoft.Extensions.Logging;

namespace YoutuServer.Engine.Caching;

/// <summary>
/// Saved sequences as files in one directory, found again after a restart. A file is written to a temporary name and
/// renamed (never seen half-written), starts with a versioned header naming the KV layout it belongs to, and carries
/// checksums of the header and of the state. A file that is truncated, corrupt, of an old format or of another layout
/// (model file, cell types, context parameters) is skipped with a warning and removed: it never crashes the server and
/// never reaches llama.cpp. A full disk stops writing with a warning (reads go on).
/// </summary>
/// <remarks>
/// Layout (little-endian): magic "YTKVSTAT", u32 version, u16 fingerprint length + UTF-8 fingerprint, u128 scope,
/// i32 token count + i32 tokens, i64 state length, u64 XxHash3 of everything before it; then the state bytes and
/// u64 XxHash3 of the state.
/// </remarks>
internal sealed partial class DiskTier
{
    public const string Extension = ".ytkv";
    public const int FormatVersion = 1;
    private static readonly byte[] Magic = "YTKVSTAT"u8.ToArray();
    /// <summary>Free space left on the volume below which nothing more is written.</summary>
    private const long ReserveBytes = 256L << 20;

    private readonly string fingerprint;
    private readonly ILogger logger;
    private bool writingStopped;

    public DiskTier(string directory, long limitBytes, string fingerprint, ILogger logger)
    {
        Directory = Path.GetFullPath(directory);
        LimitBytes = limitBytes;
        this.fingerprint = fingerprint;
        this.logger = logger;
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }
    public long LimitBytes { get; }
    /// <summary>Files removed because they were unreadable, corrupt, foreign or of an old format.</summary>
    public long Rejected { get; private set; }
    public bool WritingStopped => writingStopped;

    /// <summary>Reads every file's header (not its state) and returns the valid ones; removes the rest and stale temporary files.</summary>
    public List<(UInt128 Scope, int[] Tokens, long StateBytes, string Path, long FileBytes, DateTime WrittenAt)> Scan()
    {
        var found = new List<(UInt128, int[], long, string, long, DateTime)>();
        string[] paths;
        try
        {
            paths = System.IO.Directory.GetFiles(Directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            StopWriting("the directory cannot be listed: " + e.Message);
            return found;
        }

        foreach (var path in paths)
        {
            var name = Path.GetFileName(path);
            if (name.EndsWith(".tmp", StringComparison.Ordinal) && name.StartsWith('.'))
            {
                TryDelete(path); // a write interrupted by a crash
                continue;
            }

            if (!name.EndsWith(Extension, StringComparison.Ordinal))
            {
                continue; // not ours: left alone
            }

            try
            {
                using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
                var header = ReadHeader(f, out var error);
                if (header is null)
                {
                    Reject(path, error!);
                    continue;
                }

                var (scope, tokens, stateBytes, headerLength) = header.Value;
                if (f.Length != headerLength + stateBytes + sizeof(ulong))
                {
                    Reject(path, $"its length {f.Length} does not match the header ({headerLength + stateBytes + sizeof(ulong)}): truncated");
                    continue;
                }

                found.Add((scope, tokens, stateBytes, path, f.Length, File.GetLastWriteTimeUtc(path)));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Reject(path, e.Message);
            }
        }

        return found;
    }

    /// <summary>Writes an entry's file (temp + rename). False when it was not written (disk full, I/O error, writing stopped).</summary>
    public bool TryWrite(CacheEntry entry, byte[] state, out string path, out long fileBytes)
    {
        path = Path.Combine(Directory, FileName(entry));
        fileBytes = 0;
        if (writingStopped)
        {
            return false;
        }

        var header = BuildHeader(entry.Scope, entry.Tokens, state.LongLength);
        var total = header.Length + state.LongLength + sizeof(ulong);
        try
        {
            var free = new DriveInfo(Directory).AvailableFreeSpace;
            if (free - total < ReserveBytes)
            {
                StopWriting($"only {free >> 20} MiB are free on the volume");
                return false;
            }
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            // Free space unknown (unusual mount): the write itself will tell.
        }

        var temp = Path.Combine(Directory, "." + Path.GetFileName(path) + "." + Environment.ProcessId + ".tmp");
        try
        {
            using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                f.Write(header);
                f.Write(state);
                Span<byte> sum = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(sum, XxHash3.HashToUInt64(state));
                f.Write(sum);
                f.Flush(flushToDisk: false);
            }

            File.Move(temp, path, overwrite: true);
            fileBytes = total;
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            var disk = e is IOException io && (io.HResult & 0xFFFF) is 28 or 112; // ENOSPC, ERROR_DISK_FULL
            if (disk)
            {
                StopWriting(e.Message);
            }
            else
            {
                LogWriteFailed(path, e.Message);
            }

            return false;
        }
    }

    /// <summary>The entry's state, checked against its header and checksums; null (file removed, warning logged) when unusable.</summary>
    public byte[]? TryRead(CacheEntry entry)
    {
        var path = entry.FilePath!;
        try
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            var header = ReadHeader(f, out var error);
            if (header is null)
            {
                Reject(path, error!);
                return null;
            }

            var (scope, tokens, stateBytes, headerLength) = header.Value;
            if (scope != entry.Scope || !tokens.AsSpan().SequenceEqual(entry.Tokens) || stateBytes != entry.StateBytes)
            {
                Reject(path, "it changed since it was indexed");
                return null;
            }

            if (f.Length != headerLength + stateBytes + sizeof(ulong))
            {
                Reject(path, "truncated");
                return null;
            }

            var state = new byte[stateBytes];
            f.ReadExactly(state);
            Span<byte> sum = stackalloc byte[8];
            f.ReadExactly(sum);
            if (BinaryPrimitives.ReadUInt64LittleEndian(sum) != XxHash3.HashToUInt64(state))
            {
                Reject(path, "the state's checksum does not match: corrupt");
                return null;
            }

            return state;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or EndOfStreamException)
        {
            Reject(path, e.Message);
            return null;
        }
    }

    public void Delete(CacheEntry entry)
    {
        if (entry.FilePath is { } p)
        {
            TryDelete(p);
        }
    }

    private static string FileName(CacheEntry entry)
    {
        var h = new XxHash128();
        Span<byte> buf = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128LittleEndian(buf, entry.Scope);
        h.Append(buf);
        foreach (var t in entry.Tokens)
        {
            BinaryPrimitives.WriteInt32LittleEndian(buf, t);
            h.Append(buf[..4]);
        }

        return Convert.ToHexStringLower(h.GetCurrentHash()) + Extension;
    }

    private byte[] BuildHeader(UInt128 scope, int[] tokens, long stateBytes)
    {
        var fp = Encoding.UTF8.GetBytes(fingerprint);
        var length = Magic.Length + 4 + 2 + fp.Length + 16 + 4 + tokens.Length * 4 + 8 + 8;
        var b = new byte[length];
        var s = b.AsSpan();
        Magic.CopyTo(s);
        var o = Magic.Length;
        BinaryPrimitives.WriteInt32LittleEndian(s[o..], FormatVersion); o += 4;
        BinaryPrimitives.WriteUInt16LittleEndian(s[o..], (ushort)fp.Length); o += 2;
        fp.CopyTo(s[o..]); o += fp.Length;
        BinaryPrimitives.WriteUInt128LittleEndian(s[o..], scope); o += 16;
        BinaryPrimitives.WriteInt32LittleEndian(s[o..], tokens.Length); o += 4;
        foreach (var t in tokens)
        {
            BinaryPrimitives.WriteInt32LittleEndian(s[o..], t); o += 4;
        }

        BinaryPrimitives.WriteInt64LittleEndian(s[o..], stateBytes); o += 8;
        BinaryPrimitives.WriteUInt64LittleEndian(s[o..], XxHash3.HashToUInt64(s[..o]));
        return b;
    }

    /// <summary>Reads and checks a header; null with a reason when the file is not a valid file of this layout.</summary>
    private (UInt128 Scope, int[] Tokens, long StateBytes, long HeaderLength)? ReadHeader(FileStream f, out string? error)
    {
        error = null;
        var fixedPart = new byte[Magic.Length + 4 + 2];
        if (f.Length < fixedPart.Length || f.ReadAtLeast(fixedPart, fixedPart.Length, throwOnEndOfStream: false) < fixedPart.Length)
        {
            error = "too short to be a cache file";
            return null;
        }

        if (!fixedPart.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            error = "it is not a YoutuServer cache file (bad magic)";
            return null;
        }

        var version = BinaryPrimitives.ReadInt32LittleEndian(fixedPart.AsSpan(Magic.Length));
        if (version != FormatVersion)
        {
            error = $"it has format version {version}, this server reads {FormatVersion}";
            return null;
        }

        var fpLength = BinaryPrimitives.ReadUInt16LittleEndian(fixedPart.AsSpan(Magic.Length + 4));
        var rest = new byte[fpLength + 16 + 4];
        if (f.ReadAtLeast(rest, rest.Length, throwOnEndOfStream: false) < rest.Length)
        {
            error = "truncated header";
            return null;
        }

        var fp = Encoding.UTF8.GetString(rest, 0, fpLength);
        if (!string.Equals(fp, fingerprint, StringComparison.Ordinal))
        {
            error = "it was written for another model file or KV layout";
            return null;
        }

        var scope = BinaryPrimitives.ReadUInt128LittleEndian(rest.AsSpan(fpLength));
        var count = BinaryPrimitives.ReadInt32LittleEndian(rest.AsSpan(fpLength + 16));
        if (count <= 0 || (long)count * 4 > f.Length)
        {
            error = "its token count is out of range";
            return null;
        }

        var tail = new byte[count * 4 + 8 + 8];
        if (f.ReadAtLeast(tail, tail.Length, throwOnEndOfStream: false) < tail.Length)
        {
            error = "truncated header";
            return null;
        }

        var all = new byte[fixedPart.Length + rest.Length + tail.Length - 8];
        fixedPart.CopyTo(all, 0);
        rest.CopyTo(all, fixedPart.Length);
        Array.Copy(tail, 0, all, fixedPart.Length + rest.Length, tail.Length - 8);
        if (BinaryPrimitives.ReadUInt64LittleEndian(tail.AsSpan(tail.Length - 8)) != XxHash3.HashToUInt64(all))
        {
            error = "the header's checksum does not match: corrupt";
            return null;
        }

        var tokens = new int[count];
        for (var i = 0; i < count; i++)
        {
            tokens[i] = BinaryPrimitives.ReadInt32LittleEndian(tail.AsSpan(i * 4));
        }

        var stateBytes = BinaryPrimitives.ReadInt64LittleEndian(tail.AsSpan(count * 4));
        if (stateBytes <= 0)
        {
            error = "its state length is out of range";
            return null;
        }

        return (scope, tokens, stateBytes, all.Length + 8);
    }

    private void Reject(string path, string reason)
    {
        Rejected++;
        LogRejected(path, reason);
        TryDelete(path);
    }

    private void StopWriting(string reason)
    {
        if (!writingStopped)
        {
            writingStopped = true;
            LogWritingStopped(Directory, reason);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left behind; the next scan tries again.
        }
    }

    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning, Message = "prefix cache: skipped and removed {Path}: {Reason}")]
    private partial void LogRejected(string path, string reason);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "prefix cache: stopped writing to {Directory} ({Reason}); saved states stay in RAM only, files already there are still read")]
    private partial void LogWritingStopped(string directory, string reason);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "prefix cache: could not write {Path}: {Reason}")]
    private partial void LogWriteFailed(string path, string reason);
}
