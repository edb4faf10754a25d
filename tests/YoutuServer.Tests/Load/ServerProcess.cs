using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Load;

/// <summary>
/// `youtu-server serve` as a real child process (the build output next to this test assembly) on a free loopback
/// port: its own memory (RSS is measured from /proc), its own Kestrel, its own GC.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly Queue<string> tail = new();

    private ServerProcess(Process process, Uri baseAddress)
    {
        this.process = process;
        BaseAddress = baseAddress;
        Client = LiveServer.CreateClient(baseAddress);
    }

    public Uri BaseAddress { get; }
    public HttpClient Client { get; }
    public int Pid => process.Id;
    public bool Exited => process.HasExited;

    /// <summary>The last lines the server printed (for failure messages).</summary>
    public string Tail
    {
        get
        {
            lock (tail)
            {
                return string.Join("\n", tail);
            }
        }
    }

    public static Task<ServerProcess> StartAsync(params string[] options) => StartOnAsync(FreePort(), options);

    /// <summary>Starts on a given port (a replica restarted where its load balancer expects it).</summary>
    public static async Task<ServerProcess> StartOnAsync(int port, params string[] options)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "youtu-server.dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException("youtu-server.dll is not next to the test assembly", dll);
        }

        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var a in (string[])[dll, "serve", "--model", TinyModelFile.Path, "--host", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--alias", "tiny-youtu", .. options])
        {
            psi.ArgumentList.Add(a);
        }

        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start youtu-server");
        var server = new ServerProcess(process, new Uri($"http://127.0.0.1:{port}/"));
        process.OutputDataReceived += (_, e) => server.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => server.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TestTimeouts.Seconds(60))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"youtu-server exited with {process.ExitCode}:\n{server.Tail}");
            }

            try
            {
                using var res = await server.Client.GetAsync("/health/ready");
                if (res.StatusCode == HttpStatusCode.OK)
                {
                    return server;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        await server.DisposeAsync();
        throw new TimeoutException($"youtu-server did not become ready in {TestTimeouts.Seconds(60).TotalSeconds:F0} s:\n" + server.Tail);
    }

    /// <summary>Server log lines reporting a 5xx answer or an error (RequestObserver lines, ERR/FTL levels).</summary>
    public IReadOnlyList<string> ErrorLines
    {
        get
        {
            lock (errors)
            {
                return [.. errors];
            }
        }
    }

    private readonly List<string> errors = [];

    private static readonly System.Text.RegularExpressions.Regex ServerError = new(@"(\[(ERR|FTL)\])|(RequestObserver: \S+ \S+ 5\d\d )", System.Text.RegularExpressions.RegexOptions.Compiled);

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        if (ServerError.IsMatch(line))
        {
            lock (errors)
            {
                if (errors.Count < 50)
                {
                    errors.Add(line);
                }
            }
        }

        lock (tail)
        {
            tail.Enqueue(line);
            while (tail.Count > 60)
            {
                tail.Dequeue();
            }
        }
    }

    public int Port => BaseAddress.Port;

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Resident set size of the server process, from /proc (0 where there is no /proc).</summary>
    public long RssBytes()
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{process.Id}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    var kb = line["VmRSS:".Length..].Trim().Split(' ')[0];
                    return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }

        return 0;
    }

    public async Task<(HttpStatusCode Status, int ActiveSequences, int QueueDepth)> ReadyAsync()
    {
        using var res = await Client.GetAsync("/health/ready");
        var json = JsonNode.Parse(await res.Content.ReadAsStringAsync());
        return (res.StatusCode, json?["active_sequences"]?.GetValue<int>() ?? -1, json?["queue_depth"]?.GetValue<int>() ?? -1);
    }

    /// <summary>A gauge from /metrics (Prometheus text), or null when the server does not export it.</summary>
    public async Task<double?> MetricAsync(string name)
    {
        using var res = await Client.GetAsync("/metrics");
        if (res.StatusCode != HttpStatusCode.OK)
        {
            return null;
        }

        foreach (var line in (await res.Content.ReadAsStringAsync()).Split('\n'))
        {
            if (line.StartsWith(name, StringComparison.Ordinal) && (line.Length == name.Length || line[name.Length] is ' ' or '{'))
            {
                var value = line[(line.LastIndexOf(' ') + 1)..];
                if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                {
                    return v;
                }
            }
        }

        return null;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        process.Dispose();
    }
}
