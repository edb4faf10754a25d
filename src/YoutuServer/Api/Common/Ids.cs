namespace YoutuServer.Api.Common;

/// <summary>Ids and the system fingerprint of the wire formats' responses.</summary>
internal static class Ids
{
    public static readonly string Fingerprint = "fp_youtu_" + Engine.LlamaRuntime.PinnedVersion.Replace(".", "", StringComparison.Ordinal).Replace("-dev", "", StringComparison.Ordinal);

    public static string Chat() => "chatcmpl-" + Random24();

    public static string Completion() => "cmpl-" + Random24();

    /// <summary>24 random characters of [a-zA-Z0-9], for ids of every wire format.</summary>
    public static string Random24() => string.Create(24, 0, static (span, _) =>
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        for (var i = 0; i < span.Length; i++)
        {
            span[i] = alphabet[System.Security.Cryptography.RandomNumberGenerator.GetInt32(alphabet.Length)];
        }
    });
}
