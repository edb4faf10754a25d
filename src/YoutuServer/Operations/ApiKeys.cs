using System.Security.Cryptography;
using System.Text;
using YoutuServer.Http;
using YoutuServer.Hosting;

namespace YoutuServer.Operations;

/// <summary>
/// The accepted API keys, from three places, all merged: <c>--api-key KEY</c> (repeatable) or
/// <c>Youtu:ApiKeys:N</c> (<c>YOUTU__APIKEYS__0</c>, ...); the file <c>Youtu:ApiKeysFile</c> (one key per line,
/// <c>#</c> comments, re-read when it changes); and <c>YOUTU_API_KEYS</c>, a comma-separated list. None = open server.
/// </summary>
/// <remarks>
/// Only SHA-256 hashes are kept. A presented key is hashed and compared with every stored hash by
/// <see cref="CryptographicOperations.FixedTimeEquals"/>, so neither the key's length nor which key matched shows in
/// the timing. Logs and rate-limit partitions name a key by the first 32 hex digits (128 bits) of its hash, never by the key.
/// </remarks>
internal sealed class ApiKeyStore
{
    public const string EnvironmentList = "YOUTU_API_KEYS";
    private static readonly TimeSpan FileCheckEvery = TimeSpan.FromSeconds(5);

    private readonly byte[][] fixedHashes;
    private readonly string? file;
    private readonly Lock fileLock = new();
    private byte[][] fileHashes = [];
    private DateTime fileStamp;
    private long nextFileCheck;

    public ApiKeyStore(IEnumerable<string> keys, string? file)
    {
        fixedHashes = [.. keys.Select(k => k.Trim()).Where(k => k.Length > 0).Distinct(StringComparer.Ordinal).Select(Hash)];
        if (!string.IsNullOrWhiteSpace(file))
        {
            this.file = Path.GetFullPath(file);
            if (!File.Exists(this.file))
            {
                throw new ConfigurationException($"API keys file '{this.file}' not found (--api-keys-file / Youtu:ApiKeysFile).");
            }

            ReloadFile();
            if (fileHashes.Length == 0 && fixedHashes.Length == 0)
            {
                throw new ConfigurationException($"API keys file '{this.file}' holds no key: refusing to start an open server by accident.");
            }
        }
    }

    public static ApiKeyStore FromConfiguration(ServerOptions options, IConfiguration configuration)
    {
        var keys = new List<string>(options.ApiKeys);
        if (configuration[EnvironmentList] is { Length: > 0 } list)
        {
            keys.AddRange(list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }

        return new ApiKeyStore(keys, options.ApiKeysFile);
    }

    /// <summary>False when no key is configured: every route is open.</summary>
    public bool Enabled => fixedHashes.Length > 0 || file is not null;

    public int Count => fixedHashes.Length + Volatile.Read(ref fileHashes).Length;

    /// <summary>Checks a presented key in constant time; on success gives the key's short id for logs and limits.</summary>
    public bool TryValidate(string? presented, out string keyId)
    {
        keyId = "";
        if (string.IsNullOrEmpty(presented))
        {
            return false;
        }

        RefreshFile();
        var hash = Hash(presented);
        var match = false;
        foreach (var stored in fixedHashes)
        {
            match |= CryptographicOperations.FixedTimeEquals(hash, stored);
        }

        foreach (var stored in Volatile.Read(ref fileHashes))
        {
            match |= CryptographicOperations.FixedTimeEquals(hash, stored);
        }

        if (match)
        {
            keyId = KeyId(hash);
        }

        return match;
    }

    /// <summary>"key:" + the first 32 hex digits of SHA-256(key) (`printf %s KEY | sha256sum | cut -c1-32`): 128 bits, so two keys never share a tenant scope.</summary>
    public static string KeyId(byte[] hash) => "key:" + Convert.ToHexStringLower(hash.AsSpan(0, 16));

    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    private void RefreshFile()
    {
        if (file is null || Environment.TickCount64 < Volatile.Read(ref nextFileCheck))
        {
            return;
        }

        lock (fileLock)
        {
            Volatile.Write(ref nextFileCheck, Environment.TickCount64 + (long)FileCheckEvery.TotalMilliseconds);
            try
            {
                if (File.GetLastWriteTimeUtc(file) != fileStamp)
                {
                    ReloadFile();
                }
            }
            catch (IOException)
            {
                // Keep the keys we have while the file is being replaced (Kubernetes swaps secret files by symlink).
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    private void ReloadFile()
    {
        fileStamp = File.GetLastWriteTimeUtc(file!);
        var keys = File.ReadAllLines(file!)
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Distinct(StringComparer.Ordinal);
        Volatile.Write(ref fileHashes, [.. keys.Select(Hash)]);
    }
}

/// <summary>Refuses API requests without a valid key (401, OpenAI-shaped); health probes are always open.</summary>
internal sealed class ApiKeyMiddleware(RequestDelegate next, ApiKeyStore keys, ServerOptions options)
{
    public Task InvokeAsync(HttpContext http)
    {
        if (!keys.Enabled || !Routes.RequiresKey(http.Request, options.MetricsRequireKey))
        {
            return next(http);
        }

        var presented = PresentedKey(http.Request);
        if (keys.TryValidate(presented, out var keyId))
        {
            http.Features.Set<State.ITenantFeature>(new State.TenantFeature(State.TenantId.FromKeyId(keyId)));
            return next(http);
        }

        ServerMetrics.Rejected("unauthorized");
        http.Response.Headers.WWWAuthenticate = "Bearer";
        return ErrorWriter.WriteAsync(http, presented is null
            ? new ApiException(401, "You didn't provide an API key. Send it in an 'Authorization: Bearer KEY' or an 'x-api-key: KEY' header.", "invalid_request_error", null, "invalid_api_key")
            : new ApiException(401, "Incorrect API key provided. Check the key the server was started with (--api-key, Youtu:ApiKeysFile, YOUTU_API_KEYS).", "invalid_request_error", null, "invalid_api_key"));
    }

    /// <summary>`Authorization: Bearer KEY` (scheme case-insensitive) or `x-api-key: KEY`; null when neither is sent.</summary>
    internal static string? PresentedKey(HttpRequest request)
    {
        var auth = request.Headers.Authorization.ToString();
        if (auth.Length > 0)
        {
            const string scheme = "Bearer ";
            return auth.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? auth[scheme.Length..].Trim() : "";
        }

        var header = request.Headers["x-api-key"].ToString();
        return header.Length > 0 ? header.Trim() : null;
    }
}

/// <summary>The tenant of a request for the state services: its API key's identity (anonymous when keys are off).</summary>
internal static class TenantHttpExtensions
{
    public static State.TenantId Tenant(this HttpContext http) =>
        http.Features.Get<State.ITenantFeature>()?.Tenant ?? State.TenantId.Anonymous;
}

/// <summary>Which requests are API traffic (keys, limits, drain accounting) and which are probes or pages.</summary>
internal static class Routes
{
    public static bool IsHealth(PathString path) =>
        path.Equals("/health", StringComparison.OrdinalIgnoreCase) ||
        path.Equals("/health/live", StringComparison.OrdinalIgnoreCase) ||
        path.Equals("/health/ready", StringComparison.OrdinalIgnoreCase);

    public static bool IsMetrics(PathString path) => path.Equals("/metrics", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// OpenAI routes (/v1/...) and anything that is not a page read: the tokenizer utilities, unknown POSTs.
    /// Health, /metrics, CORS preflights and GETs of the web UI and API docs are not API traffic.
    /// </summary>
    public static bool IsApi(HttpRequest request)
    {
        var path = request.Path;
        if (IsHealth(path) || IsMetrics(path) || HttpMethods.IsOptions(request.Method))
        {
            return false;
        }

        return path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase) ||
            !(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method));
    }

    public static bool RequiresKey(HttpRequest request, bool metricsRequireKey) =>
        IsMetrics(request.Path) ? metricsRequireKey && !HttpMethods.IsOptions(request.Method) : IsApi(request);
}
