namespace YoutuServer.State;

/// <summary>
/// Whose state an entry is: the API key identity that made it (<c>key:</c> + 32 hex digits of its SHA-256), or <see cref="Anonymous"/> when the
/// server runs without keys. Every state service scopes reads, writes and bounds by it: one tenant never sees, nor
/// evicts beyond its share, another's entries.
/// </summary>
internal readonly record struct TenantId
{
    private readonly string? value;

    public TenantId(string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(value);
        this.value = value;
    }

    /// <summary>Requests without an API key (keys off).</summary>
    public static TenantId Anonymous { get; } = new("anonymous");

    public string Value => value ?? Anonymous.Value;

    /// <summary>The tenant of an API key id (null when keys are off).</summary>
    public static TenantId FromKeyId(string? keyId) => string.IsNullOrEmpty(keyId) ? Anonymous : new TenantId(keyId);

    public override string ToString() => Value;
}

/// <summary>The tenant of the current request, set by the API key middleware (absent: <see cref="TenantId.Anonymous"/>).</summary>
internal interface ITenantFeature
{
    TenantId Tenant { get; }
}

internal sealed class TenantFeature(TenantId tenant) : ITenantFeature
{
    public TenantId Tenant { get; } = tenant;
}
