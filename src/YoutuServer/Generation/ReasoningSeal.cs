using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace YoutuServer.Generation;

/// <summary>
/// Seals reasoning text for clients that keep no server state (Responses' <c>encrypted_content</c>, Anthropic's
/// thinking <c>signature</c>) and opens it when they send it back, so the exact reasoning returns to the prompt.
/// AES-256-GCM: a random 96-bit nonce per seal, the 128-bit tag authenticates the text and a purpose label, so
/// nothing a client alters or invents opens. The key comes from a configured secret (<c>--reasoning-key</c>, shared
/// by replicas) or is random per process. Format: base64url(version 1 | nonce | tag | ciphertext).
/// </summary>
internal sealed class ReasoningSeal
{
    private const byte Version = 1;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private static readonly byte[] Purpose = "youtu-server reasoning v1"u8.ToArray();
    private readonly byte[] key;

    public ReasoningSeal(string? secret)
    {
        key = string.IsNullOrEmpty(secret)
            ? RandomNumberGenerator.GetBytes(32)
            : HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret), 32, salt: Purpose, info: "aes-256-gcm"u8.ToArray());
    }

    /// <summary>The sealed form of <paramref name="reasoning"/> (URL-safe base64, no padding).</summary>
    public string Seal(string reasoning)
    {
        ArgumentNullException.ThrowIfNull(reasoning);
        var plain = Encoding.UTF8.GetBytes(reasoning);
        var blob = new byte[1 + NonceSize + TagSize + plain.Length];
        blob[0] = Version;
        var nonce = blob.AsSpan(1, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plain, blob.AsSpan(1 + NonceSize + TagSize), blob.AsSpan(1 + NonceSize, TagSize), Purpose);
        return Base64Url.EncodeToString(blob);
    }

    /// <summary>Opens a sealed text; false (never an exception) when it is malformed, altered or sealed with another key.</summary>
    public bool TryOpen(string? sealedText, out string reasoning)
    {
        reasoning = "";
        if (string.IsNullOrEmpty(sealedText) || sealedText.Length > 16 * 1024 * 1024)
        {
            return false;
        }

        byte[] blob;
        try
        {
            blob = Base64Url.DecodeFromChars(sealedText);
        }
        catch (FormatException)
        {
            return false;
        }

        if (blob.Length < 1 + NonceSize + TagSize || blob[0] != Version)
        {
            return false;
        }

        var plain = new byte[blob.Length - 1 - NonceSize - TagSize];
        try
        {
            using var aes = new AesGcm(key, TagSize);
            aes.Decrypt(blob.AsSpan(1, NonceSize), blob.AsSpan(1 + NonceSize + TagSize), blob.AsSpan(1 + NonceSize, TagSize), plain, Purpose);
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }

        try
        {
            reasoning = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(plain);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }
}
