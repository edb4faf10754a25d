using System.Buffers.Binary;
using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using YoutuServer.Hosting;

namespace YoutuServer.Generation;

/// <summary>What a seal is handed out as: a seal of one kind never opens as the other.</summary>
internal enum SealKind : byte
{
    /// <summary>A Responses reasoning item's <c>encrypted_content</c>.</summary>
    ResponsesEncryptedContent = 1,

    /// <summary>An Anthropic thinking block's <c>signature</c> (and <c>redacted_thinking</c> data).</summary>
    AnthropicSignature = 2,

    /// <summary>A Responses <c>compaction</c> item's <c>encrypted_content</c> (a conversation summary).</summary>
    ResponsesCompaction = 3,
}

/// <summary>
/// Seals reasoning for clients that keep no server state (Responses' <c>encrypted_content</c>, Anthropic's thinking
/// <c>signature</c>) and opens it when they send it back, so the exact reasoning returns to the prompt.
/// </summary>
/// <remarks>
/// <para>AES-256-GCM: a random 96-bit nonce per seal; the 128-bit tag authenticates the text and the associated data,
/// which binds the seal to its <see cref="SealKind"/>, the tenant (API key id; none when keys are off) and the served
/// model. So a seal from another key, another tenant, another model or the other API does not open, and nothing a
/// client alters or invents opens. Format: base64url(version 2 | nonce | tag | ciphertext).</para>
/// <para>The key (<c>--reasoning-key</c>, the same on every replica): either exactly 32 bytes written as 64 hex
/// digits or as <c>base64:...</c>, used as they are; or a passphrase of at least 16 characters, stretched with
/// PBKDF2-HMAC-SHA256, 600,000 iterations (OWASP's 2023 figure for that hash), salt
/// <c>"youtu-server/reasoning-key/v2"</c>. The salt is fixed on purpose: every replica must derive the same key
/// from the same secret with nothing shared but the secret, so a per-deployment random salt would have to be
/// distributed like the key itself. A fixed, application-specific salt still rules out tables precomputed for
/// generic PBKDF2 use; the iteration count is what slows a guess. HKDF alone is not used for passphrases because it
/// has no work factor (it suits keys that are already uniformly random). The strongest choice is a random key:
/// <c>openssl rand -hex 32</c>. Without any key, a random one per process (seals then open only in that process).</para>
/// </remarks>
internal sealed class ReasoningSeal
{
    public const int MinPassphraseLength = 16;
    public const int Pbkdf2Iterations = 600_000;
    private const byte Version = 2;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private const int MaxSealedChars = 16 * 1024 * 1024;
    private static readonly byte[] Purpose = "youtu-server reasoning v2"u8.ToArray();
    private static readonly byte[] Salt = "youtu-server/reasoning-key/v2"u8.ToArray();
    private readonly byte[] key;

    /// <summary>A seal with <paramref name="secret"/> (see the remarks for its forms), or a random key when none.</summary>
    /// <exception cref="ConfigurationException">The secret is neither a 32-byte key nor a long enough passphrase.</exception>
    public ReasoningSeal(string? secret)
    {
        if (string.IsNullOrEmpty(secret))
        {
            key = RandomNumberGenerator.GetBytes(32);
            IsEphemeral = true;
        }
        else
        {
            key = DeriveKey(secret);
        }
    }

    /// <summary>True when the key is random to this process: no other replica, and no restart, opens its seals.</summary>
    public bool IsEphemeral { get; }

    /// <summary>The 32-byte AES key a configured secret stands for (see the remarks).</summary>
    public static byte[] DeriveKey(string secret)
    {
        ArgumentNullException.ThrowIfNull(secret);
        var s = secret.Trim();
        if (s.StartsWith("base64:", StringComparison.Ordinal))
        {
            byte[] raw;
            try
            {
                raw = Convert.FromBase64String(s["base64:".Length..]);
            }
            catch (FormatException)
            {
                throw new ConfigurationException("--reasoning-key base64:... is not valid base64.");
            }

            return raw.Length == 32
                ? raw
                : throw new ConfigurationException($"--reasoning-key base64:... must decode to exactly 32 bytes, not {raw.Length}.");
        }

        if (s.Length == 64 && s.All(char.IsAsciiHexDigit))
        {
            return Convert.FromHexString(s);
        }

        if (s.Length < MinPassphraseLength)
        {
            throw new ConfigurationException(string.Create(CultureInfo.InvariantCulture,
                $"--reasoning-key must be a 32-byte key (64 hex digits, or base64:...) or a passphrase of at least {MinPassphraseLength} characters; generate a key with 'openssl rand -hex 32'."));
        }

        return Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(s), Salt, Pbkdf2Iterations, HashAlgorithmName.SHA256, 32);
    }

    /// <summary>The seal for one kind, tenant and model: what it seals opens only under the same three.</summary>
    public SealScope For(SealKind kind, string? tenant, string model) => new(this, AssociatedData(kind, tenant, model));

    internal string Seal(string reasoning, byte[] associatedData)
    {
        ArgumentNullException.ThrowIfNull(reasoning);
        var plain = Encoding.UTF8.GetBytes(reasoning);
        var blob = new byte[1 + NonceSize + TagSize + plain.Length];
        blob[0] = Version;
        var nonce = blob.AsSpan(1, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plain, blob.AsSpan(1 + NonceSize + TagSize), blob.AsSpan(1 + NonceSize, TagSize), associatedData);
        return Base64Url.EncodeToString(blob);
    }

    internal bool TryOpen(string? sealedText, byte[] associatedData, out string reasoning)
    {
        reasoning = "";
        if (string.IsNullOrEmpty(sealedText) || sealedText.Length > MaxSealedChars)
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
            aes.Decrypt(blob.AsSpan(1, NonceSize), blob.AsSpan(1 + NonceSize + TagSize), blob.AsSpan(1 + NonceSize, TagSize), plain, associatedData);
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

    /// <summary>purpose | kind | len32 tenant | tenant | len32 model | model (lengths make the fields unambiguous).</summary>
    private static byte[] AssociatedData(SealKind kind, string? tenant, string model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var t = Encoding.UTF8.GetBytes(tenant ?? "");
        var m = Encoding.UTF8.GetBytes(model);
        var ad = new byte[Purpose.Length + 1 + 4 + t.Length + 4 + m.Length];
        var span = ad.AsSpan();
        Purpose.CopyTo(span);
        span = span[Purpose.Length..];
        span[0] = (byte)kind;
        BinaryPrimitives.WriteInt32BigEndian(span[1..], t.Length);
        t.CopyTo(span[5..]);
        span = span[(5 + t.Length)..];
        BinaryPrimitives.WriteInt32BigEndian(span, m.Length);
        m.CopyTo(span[4..]);
        return ad;
    }
}

/// <summary>A <see cref="ReasoningSeal"/> bound to one kind, tenant and model (see <see cref="ReasoningSeal.For"/>).</summary>
internal sealed class SealScope
{
    private readonly ReasoningSeal seal;
    private readonly byte[] associatedData;

    internal SealScope(ReasoningSeal seal, byte[] associatedData)
    {
        this.seal = seal;
        this.associatedData = associatedData;
    }

    /// <summary>The sealed form of <paramref name="reasoning"/> (URL-safe base64, no padding).</summary>
    public string Seal(string reasoning) => seal.Seal(reasoning, associatedData);

    /// <summary>Opens a sealed text; false (never an exception) when it is malformed, altered, sealed with another key
    /// or for another kind, tenant or model.</summary>
    public bool TryOpen(string? sealedText, out string reasoning) => seal.TryOpen(sealedText, associatedData, out reasoning);
}
