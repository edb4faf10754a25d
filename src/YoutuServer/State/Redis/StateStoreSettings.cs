using System.Globalization;
using StackExchange.Redis;
using YoutuServer.Hosting;

namespace YoutuServer.State.Redis;

/// <summary>
/// Where session state lives (<c>--state-store</c>): <c>memory</c> (the default: in this process) or
/// <c>redis://HOST:PORT[,OPTION=VALUE...]</c> (<c>rediss://</c> for TLS), any Redis-protocol server (Redis, Valkey,
/// Microsoft Garnet). The options after the first comma are StackExchange.Redis configuration options
/// (<c>password=...</c>, <c>user=...</c>, <c>defaultDatabase=2</c>, <c>connectTimeout=...</c>). Whatever they say,
/// <c>abortConnect</c> is false: the server starts while the store is down and reconnects by itself.
/// </summary>
internal sealed class StateStoreSettings
{
    private StateStoreSettings(ConfigurationOptions? redis, string display)
    {
        Redis = redis;
        Display = display;
    }

    /// <summary>The in-process store.</summary>
    public static StateStoreSettings Memory { get; } = new(null, "memory");

    /// <summary>The client configuration, or null for <c>memory</c>.</summary>
    public ConfigurationOptions? Redis { get; }

    public bool IsRedis => Redis is not null;

    /// <summary>The setting without any password (for logs and /health/ready).</summary>
    public string Display { get; }

    /// <exception cref="ConfigurationException">The value is neither <c>memory</c> nor a usable redis:// address.</exception>
    public static StateStoreSettings Parse(string? value)
    {
        var v = value?.Trim();
        if (string.IsNullOrEmpty(v) || v.Equals("memory", StringComparison.OrdinalIgnoreCase))
        {
            return Memory;
        }

        var tls = v.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase);
        if (!tls && !v.StartsWith("redis://", StringComparison.OrdinalIgnoreCase))
        {
            throw new ConfigurationException($"--state-store must be 'memory' or 'redis://HOST:PORT[,options]', not '{Redact(v)}'.");
        }

        var rest = v[(tls ? "rediss://".Length : "redis://".Length)..];
        var comma = rest.IndexOf(',', StringComparison.Ordinal);
        var endpoint = (comma < 0 ? rest : rest[..comma]).TrimEnd('/');
        var options = comma < 0 ? "" : rest[(comma + 1)..];
        string? password = null;
        var at = endpoint.LastIndexOf('@');
        if (at >= 0)
        {
            // redis://[user:]password@host:port, as Redis URLs usually carry credentials.
            var credentials = Uri.UnescapeDataString(endpoint[..at]);
            endpoint = endpoint[(at + 1)..];
            var colon = credentials.IndexOf(':', StringComparison.Ordinal);
            password = colon < 0 ? credentials : credentials[(colon + 1)..];
            var user = colon < 0 ? null : credentials[..colon];
            options = string.Join(',', new[] { options, user is { Length: > 0 } ? "user=" + user : "" }.Where(o => o.Length > 0));
        }

        if (!TrySplitEndpoint(endpoint, out _, out _))
        {
            throw new ConfigurationException($"--state-store: '{Redact(v)}' does not name HOST:PORT (for example redis://valkey:6379).");
        }

        ConfigurationOptions config;
        try
        {
            config = ConfigurationOptions.Parse(options.Length == 0 ? endpoint : endpoint + "," + options);
        }
        catch (ArgumentException e)
        {
            throw new ConfigurationException($"--state-store: {e.Message}");
        }

        if (password is not null)
        {
            config.Password = password;
        }

        config.Ssl |= tls;
        config.AbortOnConnectFail = false;
        // Fail fast (a request then gets 503 at once) rather than hang on a dead store; the client keeps reconnecting.
        if (!options.Contains("connectTimeout", StringComparison.OrdinalIgnoreCase))
        {
            config.ConnectTimeout = 5000;
        }

        if (!options.Contains("asyncTimeout", StringComparison.OrdinalIgnoreCase))
        {
            config.AsyncTimeout = 5000;
        }

        if (!options.Contains("syncTimeout", StringComparison.OrdinalIgnoreCase))
        {
            config.SyncTimeout = 5000;
        }

        config.ReconnectRetryPolicy ??= new ExponentialRetry(250, 5000);
        config.ClientName ??= "youtu-server";
        return new StateStoreSettings(config, (tls ? "rediss://" : "redis://") + endpoint);
    }

    private static bool TrySplitEndpoint(string endpoint, out string host, out int port)
    {
        host = "";
        port = 0;
        var colon = endpoint.LastIndexOf(':');
        if (colon <= 0)
        {
            return false;
        }

        host = endpoint[..colon];
        return int.TryParse(endpoint[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and < 65536;
    }

    private static string Redact(string v)
    {
        var at = v.IndexOf('@', StringComparison.Ordinal);
        var shown = at < 0 ? v : v[..(v.IndexOf("//", StringComparison.Ordinal) + 2)] + "***" + v[at..];
        var pw = shown.IndexOf("password=", StringComparison.OrdinalIgnoreCase);
        return pw < 0 ? shown : shown[..(pw + "password=".Length)] + "***";
    }
}
