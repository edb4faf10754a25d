using System.Diagnostics;
using Xunit.Abstractions;

namespace YoutuServer.Tests.Api.Responses;

/// <summary>
/// The official openai npm SDK (tests/sdk-node: ResponsesWS on the ws package, responses.compact) against the server on
/// Kestrel. Skipped, saying why, when node is not installed or <c>npm ci</c> has not been run in tests/sdk-node
/// (scripts/test.sh runs it).
/// </summary>
public sealed class NodeSdkTests(ResponsesWebSocketFixture server, ITestOutputHelper output) : IClassFixture<ResponsesWebSocketFixture>
{
    [NodeSdkFact]
    public async Task Openai_npm_sdk_drives_websocket_mode_and_compaction()
    {
        var psi = new ProcessStartInfo("node", "--test --test-concurrency=1 --test-reporter=spec responses-ws.test.mjs")
        {
            WorkingDirectory = NodeSdkFact.Folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["YOUTU_BASE_URL"] = new Uri(server.ClientOptions.BaseAddress, "/v1").ToString();
        psi.Environment["YOUTU_API_KEY"] = ResponsesWebSocketFixture.Key;
        psi.Environment["YOUTU_MODEL"] = ResponsesWebSocketFixture.ModelId;
        using var node = Process.Start(psi)!;
        var stdout = node.StandardOutput.ReadToEndAsync();
        var stderr = node.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        try
        {
            await node.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            node.Kill(entireProcessTree: true);
            throw;
        }

        output.WriteLine(await stdout);
        output.WriteLine(await stderr);
        Assert.True(node.ExitCode == 0, $"node --test exited {node.ExitCode}:\n{await stdout}\n{await stderr}");
        Assert.Contains("turn 3:", await stdout, StringComparison.Ordinal);
    }
}

/// <summary>A fact that needs node and tests/sdk-node/node_modules; skipped with the reason otherwise.</summary>
public sealed class NodeSdkFact : FactAttribute
{
    public NodeSdkFact()
    {
        if (!OnPath("node"))
        {
            Skip = "node is not installed (apt-get install nodejs npm), so the openai npm SDK test cannot run";
        }
        else if (!Directory.Exists(Path.Combine(Folder, "node_modules", "openai")) || !Directory.Exists(Path.Combine(Folder, "node_modules", "ws")))
        {
            Skip = $"the openai and ws packages are not installed: run `npm ci` in {Folder} (scripts/test.sh does)";
        }
    }

    /// <summary>tests/sdk-node of this checkout.</summary>
    public static string Folder
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "tests", "sdk-node");
                if (File.Exists(Path.Combine(candidate, "package.json")))
                {
                    return candidate;
                }
            }

            return Path.Combine(AppContext.BaseDirectory, "tests", "sdk-node");
        }
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Any(d => d.Length > 0 && File.Exists(Path.Combine(d, program)));
}
