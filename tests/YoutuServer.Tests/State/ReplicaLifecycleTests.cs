using System.Net;
using System.Text.Json.Nodes;
using static YoutuServer.Tests.State.SharedStateReplicaTests;

namespace YoutuServer.Tests.State;

/// <summary>
/// Replicas and the store come and go mid-chain (each test has its own cluster): a replica killed and restarted, a
/// replica added, and the store stopped and started again.
/// </summary>
[Collection(ReplicaClusterCollection.Name)]
public sealed class ReplicaLifecycleTests : IAsyncLifetime
{
    private ReplicaCluster cluster = null!;

    public async Task InitializeAsync() => cluster = await ReplicaCluster.StartAsync("A", "B");

    public async Task DisposeAsync() => await cluster.DisposeAsync();

    private async Task<(string Id, string Replica)> TurnAsync(string input, string? previous, bool stream = false)
    {
        var r = (await cluster.SendAsync(HttpMethod.Post, "/v1/responses", Responses(input, previous, stream))).Ok();
        return ((stream ? Completed(r.Text) : r.Json)["id"]!.GetValue<string>(), r.Replica!);
    }

    [Fact]
    public async Task A_replica_restarted_or_added_mid_chain_loses_nothing()
    {
        var (id1, on1) = await TurnAsync("Lifecycle chain, turn one.", null);
        var (id2, on2) = await TurnAsync("Turn two.", id1);
        Assert.NotEqual(on1, on2);

        // Kill the replica that answered turn two (no graceful shutdown) and bring it back on its port: the chain goes on.
        var port = await cluster.KillReplicaAsync(on2);
        var (id3, on3) = await TurnAsync("Turn three, while it is gone.", id2);
        Assert.NotEqual(on2, on3);
        await cluster.StartReplicaAsync(on2, port);
        var (id4, _) = await TurnAsync("Turn four, after the restart.", id3, stream: true);
        var (id5, _) = await TurnAsync("Turn five.", id4);

        // A third replica joins: its first answer continues the chain and reads what the others stored.
        await cluster.StartReplicaAsync("C", Load.ServerProcess.FreePort());
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var previous = id5;
        for (var i = 0; i < 3; i++)
        {
            var (id, on) = await TurnAsync($"Turn {6 + i}, three replicas.", previous);
            seen.Add(on);
            previous = id;
        }

        Assert.Equal(new[] { "A", "B", "C" }, seen.Order(StringComparer.Ordinal));
        foreach (var id in new[] { id1, id2, id3, id4, id5 })
        {
            for (var i = 0; i < 3; i++)
            {
                (await cluster.SendAsync(HttpMethod.Get, $"/v1/responses/{id}")).Ok();
            }
        }
    }

    [Fact]
    public async Task With_the_store_stopped_stateless_requests_answer_stateful_ones_get_503_and_all_works_once_it_is_back()
    {
        var (id1, _) = await TurnAsync("Store outage chain.", null);
        cluster.Garnet.Stop();
        await cluster.WaitStoreAsync(up: false);

        // Stateless: chat completions, Messages, Responses with store:false, on both replicas.
        var replicas = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 2; i++)
        {
            var chat = (await cluster.SendAsync(HttpMethod.Post, "/v1/chat/completions",
                $$"""{"model":"{{ReplicaCluster.Model}}","messages":[{"role":"user","content":"Stateless while the store is down"}],"max_tokens":3}""")).Ok();
            var messages = (await cluster.SendAsync(HttpMethod.Post, "/v1/messages",
                $$"""{"model":"{{ReplicaCluster.Model}}","max_tokens":3,"messages":[{"role":"user","content":"Stateless too"}]}""")).Ok();
            var unstored = (await cluster.SendAsync(HttpMethod.Post, "/v1/responses", Responses("Not stored.", extra: ",\"store\":false"))).Ok();
            replicas.UnionWith([chat.Replica!, messages.Replica!, unstored.Replica!]);
        }

        Assert.Equal(2, replicas.Count);

        // Stateful: a clear 503 in the API's shape with Retry-After, never a 404 or a 500; refused before generating
        // (no request reaches a first token, and a streamed one gets the 503 instead of a stream).
        var firstTokens = await FirstTokensAsync();
        var failures = new List<Reply>
        {
            await cluster.SendAsync(HttpMethod.Post, "/v1/responses", Responses("Continue.", id1)),
            await cluster.SendAsync(HttpMethod.Post, "/v1/responses", Responses("Continue, streamed.", id1, stream: true)),
            await cluster.SendAsync(HttpMethod.Post, "/v1/responses", Responses("A stored response.")),
            await cluster.SendAsync(HttpMethod.Post, "/v1/responses", Responses("A stored response, streamed.", stream: true)),
            await cluster.SendAsync(HttpMethod.Post, "/v1/responses", Responses("A stored response.")),
            await cluster.SendAsync(HttpMethod.Post, "/v1/responses", Responses("A stored response, streamed.", stream: true)),
            await cluster.SendAsync(HttpMethod.Get, $"/v1/responses/{id1}"),
            await cluster.SendAsync(HttpMethod.Get, $"/v1/responses/{id1}/input_items"),
            await cluster.SendAsync(HttpMethod.Delete, $"/v1/responses/{id1}"),
        };
        foreach (var f in failures)
        {
            Assert.True(f.Status == HttpStatusCode.ServiceUnavailable, $"{(int)f.Status} from {f.Replica}: {f.Text}");
            Assert.Equal("state_store_unavailable", f.Json["error"]!["code"]!.GetValue<string>());
            Assert.True(f.RetryAfter > TimeSpan.Zero, f.Text);
        }

        Assert.Equal(2, failures.Select(f => f.Replica).Distinct().Count());
        Assert.Equal(firstTokens, await FirstTokensAsync());
        // A dependency that is down is not a server fault: no 500 and no error-level log line on either replica.
        foreach (var (name, server) in cluster.Replicas)
        {
            Assert.Empty(server.ErrorLines.Where(l => l.Contains("[ERR]", StringComparison.Ordinal) || l.Contains(" 500 ", StringComparison.Ordinal)).Select(l => name + ": " + l));
        }

        foreach (var server in cluster.Replicas.Values)
        {
            Assert.Equal(0, await server.MetricAsync("youtu_state_store_up"));
        }

        // The store returns (empty: this Garnet keeps nothing on disk); the replicas reconnect by themselves.
        cluster.Garnet.Restart();
        await cluster.WaitStoreAsync(up: true);
        var lost = await cluster.SendAsync(HttpMethod.Get, $"/v1/responses/{id1}");
        Assert.Equal(HttpStatusCode.NotFound, lost.Status);
        var (a, onA) = await TurnAsync("After the outage, turn one.", null);
        var (b, onB) = await TurnAsync("Turn two.", a);
        var (_, onC) = await TurnAsync("Turn three.", b, stream: true);
        Assert.NotEqual(onA, onB);
        Assert.NotEqual(onB, onC);
        foreach (var server in cluster.Replicas.Values)
        {
            Assert.Equal(1, await server.MetricAsync("youtu_state_store_up"));
        }
    }

    /// <summary>Requests that reached their first generated token, on every replica together.</summary>
    private async Task<double> FirstTokensAsync()
    {
        double sum = 0;
        foreach (var server in cluster.Replicas.Values)
        {
            sum += await server.MetricAsync("youtu_time_to_first_token_seconds_count") ?? 0;
        }

        return sum;
    }

    [Fact]
    public async Task A_streamed_stored_response_whose_store_dies_mid_stream_ends_failed_not_completed()
    {
        // Long enough (no end token) that the store is gone before the answer ends and is saved.
        var body = Responses("Store dies mid-stream.", stream: true, extra: ",\"max_output_tokens\":600,\"ignore_eos\":true").Replace("\"max_output_tokens\":6,", "", StringComparison.Ordinal);
        using var req = new HttpRequestMessage(HttpMethod.Post, "/v1/responses") { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
        req.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ReplicaCluster.KeyA);
        using var res = await cluster.Proxy.SendAsync(req, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        using var reader = new StreamReader(await res.Content.ReadAsStreamAsync());
        var types = new List<string>();
        JsonNode? error = null;
        JsonNode? failed = null;
        string? id = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal) || JsonNode.Parse(line[6..]) is not { } e)
            {
                continue;
            }

            var type = e["type"]!.GetValue<string>();
            types.Add(type);
            id ??= e["response"]?["id"]?.GetValue<string>();
            if (type == "response.output_text.delta" && types.Count(t => t == type) == 1)
            {
                cluster.Garnet.Stop(); // on the first delta: the answer is under way, its save is still to come
            }

            error = type == "error" ? e : error;
            failed = type == "response.failed" ? e["response"] : failed;
        }

        Assert.Contains("response.output_text.delta", types);
        Assert.DoesNotContain("response.completed", types);
        Assert.DoesNotContain("response.incomplete", types);
        Assert.Equal(["error", "response.failed"], types.TakeLast(2));
        Assert.Equal("state_store_unavailable", error!["code"]!.GetValue<string>());
        Assert.Equal("failed", failed!["status"]!.GetValue<string>());
        Assert.Equal("server_error", failed["error"]!["code"]!.GetValue<string>());
        Assert.Contains("state store", failed["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);

        // It was not stored: once the store is back, the id is unknown (404), and stored responses work again.
        cluster.Garnet.Restart();
        await cluster.WaitStoreAsync(up: true);
        Assert.Equal(HttpStatusCode.NotFound, (await cluster.SendAsync(HttpMethod.Get, $"/v1/responses/{id}")).Status);
        await TurnAsync("After the store came back.", null, stream: true);
    }
}
