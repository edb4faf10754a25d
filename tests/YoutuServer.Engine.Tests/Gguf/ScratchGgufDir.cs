namespace YoutuServer.Engine.Tests.Gguf;

/// <summary>A temporary folder of hostile GGUF files for one test class; disposing deletes it.</summary>
internal sealed class ScratchGgufDir : IDisposable
{
    private readonly string dir;

    public ScratchGgufDir(string prefix)
    {
        dir = Path.Combine(Path.GetTempPath(), "youtu-tests", $"{prefix}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
    }

    /// <summary>Writes <paramref name="bytes"/> as NAME.gguf (the name made file-safe and at most 80 characters); its path.</summary>
    public string Write(string name, byte[] bytes)
    {
        var safe = string.Concat(name.Select(c => char.IsAsciiLetterOrDigit(c) || c == '-' ? c : '_'));
        var path = Path.Combine(dir, (safe.Length > 80 ? safe[..80] : safe) + ".gguf");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public void Dispose() => Directory.Delete(dir, recursive: true);
}
