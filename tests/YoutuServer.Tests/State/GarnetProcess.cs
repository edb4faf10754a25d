using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Garnet;

namespace YoutuServer.Tests.State;

/// <summary>
/// A real Redis-protocol server for the tests: Microsoft Garnet (the NuGet package) started in this test process on
/// a free loopback port, with Lua scripting on. <see cref="Stop"/> takes it down (clients see a dead store);
/// <see cref="Restart"/> brings a fresh one up on the same port (an empty store, as after a restart without
/// persistence).
/// </summary>
public sealed class GarnetProcess : IAsyncDisposable
{
    private readonly Lock gate = new();
    private GarnetServer? server;

    private readonly bool lua;

    private GarnetProcess(int port, bool lua)
    {
        Port = port;
        this.lua = lua;
    }

    public int Port { get; }

    /// <summary>The --state-store value that points at it (timeouts raised: CI machines can be very busy; a stopped
    /// store still fails at once, its connection being closed).</summary>
    public string StateStore => string.Create(CultureInfo.InvariantCulture, $"redis://127.0.0.1:{Port},asyncTimeout=20000,syncTimeout=20000");

    public bool Running
    {
        get
        {
            lock (gate)
            {
                return server is not null;
            }
        }
    }

    /// <summary>Starts one; <paramref name="lua"/> false starts it as garnet-server does by default, without scripting.</summary>
    public static GarnetProcess Start(bool lua = true)
    {
        var g = new GarnetProcess(FreePort(), lua);
        g.Restart();
        return g;
    }

    public void Restart()
    {
        lock (gate)
        {
            if (server is not null)
            {
                return;
            }

            var s = new GarnetServer(["--bind", "127.0.0.1", "--port", Port.ToString(CultureInfo.InvariantCulture), "--lua", lua ? "true" : "false", "--lua-transaction-mode", lua ? "true" : "false", "--memory", "64m", "--index", "16m"]);
            s.Start();
            server = s;
        }
    }

    public void Stop()
    {
        GarnetServer? s;
        lock (gate)
        {
            s = server;
            server = null;
        }

        s?.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Stop();
        return ValueTask.CompletedTask;
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
