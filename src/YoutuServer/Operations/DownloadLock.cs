namespace YoutuServer.Operations;

/// <summary>
/// An exclusive lock beside the model file, so that several `pull`s of the same model (replicas starting together on
/// a shared volume, a user running it twice) download once: the others wait, then find the file in place.
/// </summary>
/// <remarks>
/// .NET maps <see cref="FileShare.None"/> to an advisory flock(LOCK_EX) on Unix, which the kernel releases when the
/// process dies, so a crashed pull never leaves a stale lock. The (empty) lock file is left in place on purpose:
/// deleting it would let a waiter lock a file that a newcomer has already replaced.
/// </remarks>
internal sealed class DownloadLock : IDisposable
{
    public const string Suffix = ".lock";
    private readonly FileStream stream;

    private DownloadLock(FileStream stream) => this.stream = stream;

    public static async Task<DownloadLock> AcquireAsync(string finalPath, Action? onWaiting = null, TimeSpan? poll = null, CancellationToken ct = default)
    {
        var path = Path.GetFullPath(finalPath) + Suffix;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var told = false;
        while (true)
        {
            try
            {
                return new DownloadLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
            }
            catch (IOException) when (File.Exists(path))
            {
                if (!told)
                {
                    onWaiting?.Invoke();
                    told = true;
                }

                await Task.Delay(poll ?? TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
            }
        }
    }

    public void Dispose() => stream.Dispose();
}
