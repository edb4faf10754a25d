using System.Runtime.CompilerServices;

namespace YoutuServer.Engine.Tests.Gguf;

/// <summary>Locates repository files from this source file's compile-time path (independent of the artifacts folder).</summary>
internal static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    /// <summary>native/linux-x64/ggml-vocab-llama-bpe.gguf, or null when scripts/fetch-native.sh has not run.</summary>
    public static string? Llama3Vocab
    {
        get
        {
            var p = Path.Combine(RepoRoot, "native", "linux-x64", "ggml-vocab-llama-bpe.gguf");
            return File.Exists(p) ? p : null;
        }
    }

    public static string SynthesisSource(string fileName) =>
        Path.Combine(RepoRoot, "src", "YoutuServer.Engine", "Synthesis", fileName);

    private static string FindRoot([CallerFilePath] string thisFile = "")
    {
        var dir = new DirectoryInfo(Path.GetDirectoryName(thisFile)!);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "YoutuServer.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException($"repository root not found above {thisFile}");
    }
}

/// <summary>A fact that is skipped, with the reason, when the Llama-3 vocabulary GGUF is absent.</summary>
public sealed class Llama3VocabFactAttribute : FactAttribute
{
    public Llama3VocabFactAttribute()
    {
        if (TestPaths.Llama3Vocab is null)
        {
            Skip = "native/linux-x64/ggml-vocab-llama-bpe.gguf is absent (run scripts/fetch-native.sh to fetch it)";
        }
    }
}
