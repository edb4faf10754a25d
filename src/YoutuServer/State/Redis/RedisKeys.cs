using System.Text;

namespace YoutuServer.State.Redis;

/// <summary>
/// Key layout: <c>youtu:KIND:{TENANT|MODEL}:=ID</c> for an entry, with <c>#index</c> (a sorted set of ids by last
/// use) and <c>#sizes</c> (a hash of ids to sizes plus <c>#total</c>) beside them. TENANT is the API key id
/// (<c>key:1a2b3c4d</c>, never the key) or <c>-</c> when keys are off; MODEL the served model id. The braces are a
/// Redis Cluster hash tag: one tenant's entries of one model share a slot, so a script may touch them together.
/// </summary>
internal static class RedisKeys
{
    public const string Root = "youtu";

    /// <summary>Before every entry id, so no id a client sends can name the index or the sizes.</summary>
    public const string EntryMark = "=";

    /// <summary>The common prefix of one kind, tenant and model's keys (ends with ':').</summary>
    public static string Scope(string kind, string? tenant, string model)
    {
        ArgumentException.ThrowIfNullOrEmpty(kind);
        ArgumentNullException.ThrowIfNull(model);
        var sb = new StringBuilder(Root.Length + kind.Length + 48);
        sb.Append(Root).Append(':').Append(kind).Append(":{");
        Append(sb, string.IsNullOrEmpty(tenant) ? "-" : tenant);
        sb.Append('|');
        Append(sb, model);
        return sb.Append("}:").ToString();
    }

    /// <summary>Braces, bars and control characters would break the hash tag or the layout: each becomes '_'.</summary>
    private static void Append(StringBuilder sb, string part)
    {
        foreach (var c in part)
        {
            sb.Append(c is '{' or '}' or '|' || char.IsControl(c) || char.IsWhiteSpace(c) ? '_' : c);
        }
    }
}
