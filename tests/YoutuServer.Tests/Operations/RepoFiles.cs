using System.Runtime.CompilerServices;

namespace YoutuServer.Tests.Operations;

/// <summary>Finds files of the repository checkout (tests may run from an artifacts folder outside it).</summary>
internal static class RepoFiles
{
    public static string Root { get; } = FindRoot();

    public static string PathOf(string relative) => Path.Combine(Root, relative.Replace('/', Path.DirectorySeparatorChar));

    public static string Read(string relative) => File.ReadAllText(PathOf(relative));

    private static string FindRoot([CallerFilePath] string here = "")
    {
        foreach (var start in new[] { Path.GetDirectoryName(here)!, AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "YoutuServer.sln")))
                {
                    return d.FullName;
                }
            }
        }

        throw new InvalidOperationException("repository root (YoutuServer.sln) not found");
    }
}
