using System.Net;
using System.Net.Sockets;
using System.Text;
using YoutuServer.Cli.Bench;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Load;

/// <summary>
/// The bench client against a server that drops a kept-alive connection (as llama-server does after every stream):
/// the request is sent again on a new connection, counted, and its latency keeps the failed try.
/// </summary>
public sealed class StreamingClientRetryTests
{
    private const string Body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n"
        + "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n"
        + "data: [DONE]\n\n";

    [Fact]
    public async Task A_request_on_a_connection_the_server_dropped_is_sent_again_and_counted()
    {
        // Connection 1 answers one request, then reads the next one and closes without a byte; later connections answer.
        await using var server = await FakeServer.StartAsync(answerOnFirstConnection: 1);
        using var client = new StreamingClient(server.Uri, null, TestTimeouts.Seconds(30));

        var first = await client.StreamAsync("/v1/chat/completions", "{}"u8.ToArray(), CancellationToken.None);
        var second = await client.StreamAsync("/v1/chat/completions", "{}"u8.ToArray(), CancellationToken.None);

        Assert.True(first.Ok, first.Error);
        Assert.Equal(0, first.Retries);
        Assert.True(second.Ok, second.Error + " " + second.ErrorDetail);
        Assert.Equal(1, second.Retries);
        Assert.Equal(1, second.OutputTokens);
        Assert.Equal(3, server.RequestsRead); // the dropped try reached the server's socket; it was sent again
        Assert.Equal(2, server.Connections);

        var summary = RunSummary.Of([first, second], [1, 1], first.Start, second.End);
        Assert.Equal(1, summary.Retries);
        Assert.Contains("1 connection retries", summary.ErrorText, StringComparison.Ordinal);
        Assert.Equal(1, summary.ToJson()["connection_retries"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_server_that_always_drops_the_connection_fails_the_request_after_two_retries()
    {
        await using var server = await FakeServer.StartAsync(answerOnFirstConnection: 0, answerLater: false);
        using var client = new StreamingClient(server.Uri, null, TestTimeouts.Seconds(30));

        var r = await client.StreamAsync("/v1/chat/completions", "{}"u8.ToArray(), CancellationToken.None);

        Assert.False(r.Ok);
        Assert.Equal("http_error:ResponseEnded", r.Error);
        Assert.Equal(2, r.Retries);
        Assert.Equal(3, server.Connections);
    }

    /// <summary>A raw HTTP/1.1 server: each connection answers a number of requests, then drops the next one.</summary>
    private sealed class FakeServer : IAsyncDisposable
    {
        private readonly TcpListener listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource stop = new();
        private readonly int answerOnFirst;
        private readonly bool answerLater;
        private Task? loop;
        private int requests;
        private int connections;

        private FakeServer(int answerOnFirst, bool answerLater)
        {
            this.answerOnFirst = answerOnFirst;
            this.answerLater = answerLater;
        }

        public Uri Uri => new($"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/");

        public int RequestsRead => Volatile.Read(ref requests);

        public int Connections => Volatile.Read(ref connections);

        public static Task<FakeServer> StartAsync(int answerOnFirstConnection, bool answerLater = true)
        {
            var s = new FakeServer(answerOnFirstConnection, answerLater);
            s.listener.Start();
            s.loop = s.AcceptAsync();
            return Task.FromResult(s);
        }

        private async Task AcceptAsync()
        {
            var handlers = new List<Task>();
            try
            {
                while (true)
                {
                    var socket = await listener.AcceptTcpClientAsync(stop.Token);
                    var n = Interlocked.Increment(ref connections);
                    handlers.Add(ServeAsync(socket, n == 1 ? answerOnFirst : answerLater ? int.MaxValue : 0));
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // Disposal: the cancellation or the listener's Stop, whichever the pending accept sees first.
            }

            await Task.WhenAll(handlers);
        }

        private async Task ServeAsync(TcpClient socket, int answers)
        {
            using (socket)
            {
                var stream = socket.GetStream();
                var buffer = new byte[64 * 1024];
                var filled = 0;
                try
                {
                    for (var answered = 0; ; answered++)
                    {
                        // Read one request: headers, then Content-Length bytes of body.
                        int end;
                        while ((end = Encoding.ASCII.GetString(buffer, 0, filled).IndexOf("\r\n\r\n", StringComparison.Ordinal)) < 0)
                        {
                            var got = await stream.ReadAsync(buffer.AsMemory(filled), stop.Token);
                            if (got == 0)
                            {
                                return;
                            }

                            filled += got;
                        }

                        var head = Encoding.ASCII.GetString(buffer, 0, end);
                        var length = head.Split("\r\n").Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                            .Select(l => int.Parse(l["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
                        var total = end + 4 + length;
                        while (filled < total)
                        {
                            filled += await stream.ReadAsync(buffer.AsMemory(filled), stop.Token);
                        }

                        Buffer.BlockCopy(buffer, total, buffer, 0, filled - total);
                        filled -= total;
                        Interlocked.Increment(ref requests);
                        if (answered >= answers)
                        {
                            return; // closes the connection without a response byte
                        }

                        var body = Encoding.UTF8.GetBytes(Body);
                        var header = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nKeep-Alive: timeout=5, max=100\r\n"
                            + $"Content-Length: {body.Length}\r\n\r\n";
                        await stream.WriteAsync(Encoding.ASCII.GetBytes(header), stop.Token);
                        await stream.WriteAsync(body, stop.Token);
                    }
                }
                catch (Exception e) when (e is OperationCanceledException or IOException)
                {
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await stop.CancelAsync();
            listener.Stop();
            if (loop is not null)
            {
                await loop;
            }

            stop.Dispose();
        }
    }
}
