using System.Globalization;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text;
using YoutuServer.Native;

namespace YoutuServer.Engine.Caching;

/// <summary>
/// What makes a saved state valid elsewhere: the model file's identity, the KV layout and the adapter. Two servers
/// whose fingerprints are equal can exchange states; anything else never sees the other's entries.
/// </summary>
internal static class CacheIdentity
{
    private const int SampleBytes = 4 << 20;

    /// <summary>
    /// The model file (length plus a hash of its first and last 4 MiB: the GGUF metadata and tensor index, and weights
    /// at both ends), the llama.cpp build, and the context parameters that change a state's bytes or meaning: cell
    /// types (F16, llama.cpp's default, which the engine does not change), flash attention (it decides whether V is
    /// stored transposed), the unified cell pool, and whether weights run on a GPU. The context size is left out:
    /// states hold positions, not a layout of the whole cache, and a state longer than the context is never restored.
    /// </summary>
    public static string LayoutFingerprint(string modelPath, int layers, EngineOptions options, int gpuLayers)
    {
        var text = string.Join('\n',
            "youtu-kv-layout/1",
            "model=" + FileIdentity(modelPath),
            "llama=" + LlamaNativeLibrary.PinnedVersion + "/" + LlamaNativeLibrary.PinnedCommit,
            "layers=" + layers.ToString(CultureInfo.InvariantCulture),
            "type_k=f16;type_v=f16",
            "flash_attn=" + options.FlashAttention.ToString(CultureInfo.InvariantCulture),
            "kv_unified=1",
            "gpu=" + (gpuLayers > 0 ? "1" : "0"));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    /// <summary>An adapter's identity: its file and scale (the base model is "base").</summary>
    public static string Adapter(string path, float scale)
        => "lora:" + FileIdentity(path) + ":" + scale.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Length plus XxHash128 of the first and last <see cref="SampleBytes"/> bytes.</summary>
    public static string FileIdentity(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var h = new XxHash128();
        var buf = new byte[Math.Min(SampleBytes, f.Length)];
        f.ReadExactly(buf);
        h.Append(buf);
        if (f.Length > SampleBytes)
        {
            f.Seek(Math.Max(SampleBytes, f.Length - SampleBytes), SeekOrigin.Begin);
            var n = f.ReadAtLeast(buf, buf.Length, throwOnEndOfStream: false);
            h.Append(buf.AsSpan(0, n));
        }

        return f.Length.ToString(CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(h.GetCurrentHash());
    }
}
