using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace YoutuServer.Engine.Caching;

/// <summary>
/// Keys of the prefix cache: a prompt is cut into blocks of <see cref="BlockTokens"/> tokens, and block k's key is
/// the hash of block k-1's key and block k's tokens (vLLM's chained block hashes), so equal keys mean equal prefixes.
/// The chain starts from a scope: the KV layout's fingerprint (model file, cell types, context parameters), the
/// adapter and the tenant salt, so a key never matches across any of them. Hashes are deterministic (no random seed)
/// because disk entries are found again after a restart. A hash hit is always confirmed token by token.
/// </summary>
internal static class PrefixHashing
{
    /// <summary>Tokens per block (vLLM's default block size).</summary>
    public const int BlockTokens = 16;

    /// <summary>
    /// The scope every key of a request chains from. SHA-256 (not the fast block hash) so that a tenant cannot
    /// construct a salt whose scope equals another tenant's.
    /// </summary>
    public static UInt128 Scope(string layoutFingerprint, string adapterIdentity, string? salt)
    {
        var text = string.Concat("youtu-prefix-scope/1\n", layoutFingerprint, "\n", adapterIdentity, "\n",
            salt is null ? "-" : "+" + salt);
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(text), digest);
        return BinaryPrimitives.ReadUInt128LittleEndian(digest);
    }

    /// <summary>The chained keys of every full block of the first <paramref name="count"/> tokens, appended to <paramref name="into"/>.</summary>
    public static void Chain(UInt128 scope, IReadOnlyList<int> tokens, int count, List<UInt128> into)
    {
        Span<byte> buf = stackalloc byte[16 + BlockTokens * sizeof(int)];
        var parent = scope;
        var blocks = count / BlockTokens;
        for (var b = 0; b < blocks; b++)
        {
            BinaryPrimitives.WriteUInt128LittleEndian(buf, parent);
            var ints = MemoryMarshal.Cast<byte, int>(buf[16..]);
            for (var i = 0; i < BlockTokens; i++)
            {
                ints[i] = tokens[b * BlockTokens + i];
            }

            parent = XxHash128.HashToUInt128(buf);
            into.Add(parent);
        }
    }

    /// <summary>Length of the common prefix of two token lists.</summary>
    public static int CommonPrefix(IReadOnlyList<int> a, IReadOnlyList<int> b, int limit = int.MaxValue)
    {
        var n = Math.Min(Math.Min(a.Count, b.Count), limit);
        var i = 0;
        while (i < n && a[i] == b[i])
        {
            i++;
        }

        return i;
    }
}
