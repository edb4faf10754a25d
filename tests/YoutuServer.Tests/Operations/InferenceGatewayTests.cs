using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using YamlDotNet.RepresentationModel;
using YoutuServer.Hosting;
using YoutuServer.Tests.Api;
using static YoutuServer.Tests.Operations.DeploymentFiles;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Operations;

/// <summary>
/// deploy/inference-gateway against the app: the protocol metrics of the Gateway API Inference Extension under a
/// controlled load (two slots busy, one request queued, adapters running and waiting), every metric the endpoint
/// picker's config names is served, and the manifests agree with each other (labels, ports, names, the pinned image).
/// deploy/validate checks them against the InferencePool CRD, Gateway API and Kubernetes schemas.
/// </summary>
[Collection("adapter-server")]
public sealed partial class InferenceGatewayTests(AdapterServerFixture server)
{
    private static readonly string Dir = RepoFiles.PathOf("deploy/inference-gateway");
    private const string Model = AdapterServerFixture.ModelId;

    private static YamlMappingNode One(string file, string kind) =>
        Assert.Single(LoadYamlDocuments(Path.Combine(Dir, file)), d => Scalar(d, "kind") == kind);

    // ------------------------------------------------------------------ metrics under load

    [Fact]
    public async Task Protocol_metrics_report_queue_running_kv_utilization_cache_config_and_adapters_under_load()
    {
        using var client = server.CreateClient();
        var host = server.Services.GetRequiredService<EngineHost>();
        Exception? last = null;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            using var cts = new CancellationTokenSource();
            var streams = new List<Task<HttpResponseMessage>>
            {
                Stream(client, "sql", cts.Token),
                Stream(client, Model, cts.Token),
            };
            try
            {
                await WaitFor(() => host.Engine.Stats.ActiveRequests == 2);
                streams.Add(Stream(client, "agent", cts.Token));
                // The two streams share 1,024 KV cells, so one of them ends within seconds; if that happens before the
                // third request reaches the queue, it is admitted instead of queued. That attempt cannot show the
                // queue: run the load again rather than wait for a state that will not come.
                await WaitFor(() =>
                {
                    var s = host.Engine.Stats;
                    if (s.ActiveRequests < 2 || s.RunningAdapters.Contains("agent"))
                    {
                        throw new InvalidOperationException("a stream ended before the third request was queued");
                    }

                    return s.QueueDepth == 1 && s.WaitingAdapters.Count == 1;
                });
                var before = host.Engine.Stats;
                var text = await client.GetStringAsync("/metrics");
                var after = host.Engine.Stats;
                if (after.ActiveRequests != 2 || after.QueueDepth != 1)
                {
                    throw new InvalidOperationException("the load ended before the scrape was taken");
                }

                // TotalQueuedRequests / TotalRunningRequests: gauges of requests.
                Assert.Contains("# TYPE youtu_queue_depth gauge", text, StringComparison.Ordinal);
                Assert.Contains("# TYPE youtu_running_requests gauge", text, StringComparison.Ordinal);
                Assert.Equal(1, Sample(text, "youtu_queue_depth").Value);
                Assert.Equal(2, Sample(text, "youtu_running_requests").Value);

                // KVCacheUtilization: cells held by running sequences / cells, while both streams grow their cells.
                Assert.Contains("# TYPE youtu_kv_cache_utilization gauge", text, StringComparison.Ordinal);
                var utilization = Sample(text, "youtu_kv_cache_utilization").Value;
                Assert.InRange(utilization, 0, 1);
                Assert.Equal(1024, before.KvCellsTotal);
                Assert.InRange(utilization * 1024, before.KvCellsActive - 0.01, after.KvCellsActive + 0.01);
                Assert.True(before.KvCellsActive > 0);

                // Cache config info for the prefix scorer.
                var cache = Sample(text, "youtu_cache_config_info");
                Assert.Equal(1, cache.Value);
                Assert.Equal("16", cache.Labels["block_size"]);
                Assert.Equal("64", cache.Labels["num_gpu_blocks"]);

                // LoRA info in vLLM's format: the adapters of running and of waiting requests; value = last change.
                Assert.Contains("# TYPE youtu_lora_requests_info gauge", text, StringComparison.Ordinal);
                var lora = Sample(text, "youtu_lora_requests_info");
                Assert.Equal("3", lora.Labels["max_lora"]);
                Assert.Equal("sql", lora.Labels["running_lora_adapters"]);
                Assert.Equal("agent", lora.Labels["waiting_lora_adapters"]);
                Assert.InRange(lora.Value, DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
                Assert.True(Sample(text, "youtu_adapter_switches_total").Value >= 1);
                last = null;
            }
            catch (InvalidOperationException e)
            {
                last = e;
            }
            finally
            {
                await cts.CancelAsync();
                foreach (var s in streams)
                {
                    try
                    {
                        (await s).Dispose();
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
            }

            if (last is null)
            {
                break;
            }

            await WaitFor(() => host.Engine.Stats.ActiveRequests == 0 && host.Engine.Stats.QueueDepth == 0);
        }

        Assert.Null(last);

        // After the load the sets empty out and the utilization falls back to 0.
        await WaitFor(() => host.Engine.Stats.ActiveRequests == 0 && host.Engine.Stats.QueueDepth == 0);
        var idle = await client.GetStringAsync("/metrics");
        Assert.Equal(0, Sample(idle, "youtu_running_requests").Value);
        Assert.Equal(0, Sample(idle, "youtu_kv_cache_utilization").Value);
        Assert.Equal("", Sample(idle, "youtu_lora_requests_info").Labels["running_lora_adapters"]);
    }

    private static Task<HttpResponseMessage> Stream(HttpClient client, string model, CancellationToken ct)
    {
        var req = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = new StringContent($$"""{"model":"{{model}}","prompt":"Tell a long story","max_tokens":900,"ignore_eos":true,"stream":true}""", Encoding.UTF8, "application/json"),
        };
        return client.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct);
    }

    private static async Task WaitFor(Func<bool> condition)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TestTimeouts.Seconds(30))
            {
                throw new TimeoutException($"condition not reached in {TestTimeouts.Seconds(30).TotalSeconds:F0} s");
            }

            await Task.Delay(2);
        }
    }

    private sealed record PromSample(double Value, Dictionary<string, string> Labels);

    /// <summary>The one sample of <paramref name="name"/> for this fixture's model.</summary>
    private static PromSample Sample(string text, string name)
    {
        var line = Assert.Single(text.Split('\n'), l => l.StartsWith(name + "{", StringComparison.Ordinal) && l.Contains($"model=\"{Model}\"", StringComparison.Ordinal));
        var close = line.LastIndexOf('}');
        var labels = LabelRegex().Matches(line[(name.Length + 1)..close]).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
        var value = line[(close + 1)..].Trim().Split(' ')[0];
        return new PromSample(double.Parse(value, CultureInfo.InvariantCulture), labels);
    }

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""((?:[^""\\]|\\.)*)""")]
    private static partial Regex LabelRegex();

    // ------------------------------------------------------------------ endpoint picker config

    [Fact]
    public async Task Every_metric_the_endpoint_picker_config_names_is_served()
    {
        var config = Assert.Single(LoadYamlDocuments(Path.Combine(Dir, "epp-config.yaml")));
        var extractor = Assert.Single(Items(config, "plugins"), p => Scalar(p, "type") == "core-metrics-extractor");
        var engine = Assert.Single(Items(extractor, "parameters", "engineConfigs"));
        Assert.Equal("youtu", Scalar(engine, "name"));
        Assert.Equal("youtu", Scalar(extractor, "parameters", "defaultEngine"));
        var specs = ((YamlMappingNode)engine).Children
            .Where(kv => ((YamlScalarNode)kv.Key).Value!.EndsWith("Spec", StringComparison.Ordinal))
            .ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => ((YamlScalarNode)kv.Value).Value!);
        Assert.Equal(["queuedRequestsSpec", "runningRequestsSpec", "kvUsageSpec", "loraSpec", "cacheInfoSpec"], specs.Keys);

        using var client = server.CreateClient();
        using var res = await client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        var text = await res.Content.ReadAsStringAsync();
        foreach (var (field, spec) in specs)
        {
            var name = spec.Split('{')[0];
            Assert.True(text.Contains($"# TYPE {name} gauge\n", StringComparison.Ordinal), $"{field} names '{name}', which /metrics does not serve as a gauge");
            Assert.Contains(text.Split('\n'), l => l.StartsWith(name + "{", StringComparison.Ordinal));
        }

        var cacheLine = text.Split('\n').First(l => l.StartsWith(specs["cacheInfoSpec"] + "{", StringComparison.Ordinal));
        Assert.Contains(Scalar(engine, "cacheBlockSizeLabelName") + "=\"", cacheLine, StringComparison.Ordinal);
        Assert.Contains(Scalar(engine, "cacheNumBlocksLabelName") + "=\"", cacheLine, StringComparison.Ordinal);
        var loraLine = text.Split('\n').First(l => l.StartsWith(specs["loraSpec"] + "{", StringComparison.Ordinal));
        foreach (var label in new[] { "max_lora=\"", "running_lora_adapters=\"", "waiting_lora_adapters=\"" })
        {
            Assert.Contains(label, loraLine, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_endpoint_picker_config_has_the_four_scorers_and_every_reference_resolves()
    {
        var config = Assert.Single(LoadYamlDocuments(Path.Combine(Dir, "epp-config.yaml")));
        Assert.Equal("inference.networking.x-k8s.io/v1alpha1", Scalar(config, "apiVersion"));
        Assert.Equal("EndpointPickerConfig", Scalar(config, "kind"));
        // A plugin's name is its type unless it sets one.
        var plugins = Items(config, "plugins").Select(p => Scalar(p, "name") ?? Scalar(p, "type")!).ToHashSet(StringComparer.Ordinal);
        var types = Items(config, "plugins").Select(p => Scalar(p, "type")).ToHashSet(StringComparer.Ordinal);
        foreach (var scorer in new[] { "prefix-cache-scorer", "queue-scorer", "kv-cache-utilization-scorer", "lora-affinity-scorer" })
        {
            Assert.Contains(scorer, types);
        }

        var profile = Assert.Single(Items(config, "schedulingProfiles"));
        var refs = Items(profile, "plugins").Select(p => Scalar(p, "pluginRef")!).ToList();
        Assert.All(refs, r => Assert.Contains(r, plugins));
        Assert.Contains("max-score-picker", refs);
        foreach (var scorer in new[] { "prefix-cache-scorer", "queue-scorer", "kv-cache-utilization-scorer", "lora-affinity-scorer" })
        {
            var entry = Assert.Single(Items(profile, "plugins"), p => Scalar(p, "pluginRef") == scorer);
            Assert.True(double.Parse(Scalar(entry, "weight")!, CultureInfo.InvariantCulture) > 0, scorer);
        }

        var source = Assert.Single(Items(config, "dataLayer", "sources"));
        Assert.Contains(Scalar(source, "pluginRef")!, plugins);
        Assert.All(Items(source, "extractors"), e => Assert.Contains(Scalar(e, "pluginRef")!, plugins));
    }

    // ------------------------------------------------------------------ manifests agree with each other and the app

    [Fact]
    public void The_pool_selects_the_youtu_pods_on_their_http_port_and_names_the_picker_service()
    {
        var pool = One("inferencepool.yaml", "InferencePool");
        Assert.Equal("inference.networking.k8s.io/v1", Scalar(pool, "apiVersion"));
        var selector = ((YamlMappingNode)Node(pool, "spec", "selector", "matchLabels")!).Children
            .ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => ((YamlScalarNode)kv.Value).Value!);

        // Pod labels = deploy/k8s's template labels + the patch's.
        var deployment = Assert.Single(LoadYamlDocuments(RepoFiles.PathOf("deploy/k8s/deployment.yaml")), d => Scalar(d, "kind") == "Deployment");
        var patch = One("deployment-patch.yaml", "Deployment");
        Assert.Equal(Scalar(deployment, "metadata", "name"), Scalar(patch, "metadata", "name"));
        var podLabels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var d in new[] { deployment, patch })
        {
            if (Node(d, "spec", "template", "metadata", "labels") is YamlMappingNode labels)
            {
                foreach (var kv in labels.Children)
                {
                    podLabels[((YamlScalarNode)kv.Key).Value!] = ((YamlScalarNode)kv.Value).Value!;
                }
            }
        }

        Assert.All(selector, kv => Assert.Equal(kv.Value, podLabels.GetValueOrDefault(kv.Key)));
        Assert.Equal("youtu", podLabels["inference.networking.k8s.io/engine-type"]);

        // The pool's target port is the server's HTTP port, and readiness gates endpoints on a loaded model.
        var container = Assert.Single(Items(deployment, "spec", "template", "spec", "containers"), c => Scalar(c, "name") == "youtu-server");
        var port = Assert.Single(Items(container, "ports"));
        Assert.Equal(Scalar(port, "containerPort"), Scalar(pool, "spec", "targetPorts", 0, "number"));
        Assert.Equal("/health/ready", Scalar(container, "readinessProbe", "httpGet", "path"));

        // endpointPickerRef -> the EPP Service -> its gRPC container port.
        Assert.Equal("Service", Scalar(pool, "spec", "endpointPickerRef", "kind"));
        var eppName = Scalar(pool, "spec", "endpointPickerRef", "name");
        var docs = LoadYamlDocuments(Path.Combine(Dir, "epp.yaml"));
        var service = Assert.Single(docs, d => Scalar(d, "kind") == "Service");
        Assert.Equal(eppName, Scalar(service, "metadata", "name"));
        var grpc = Assert.Single(Items(service, "spec", "ports"), p => Scalar(p, "port") == Scalar(pool, "spec", "endpointPickerRef", "port", "number"));
        var epp = Assert.Single(docs, d => Scalar(d, "kind") == "Deployment");
        var eppContainer = Assert.Single(Items(epp, "spec", "template", "spec", "containers"));
        Assert.Contains(Items(eppContainer, "ports"), p => Scalar(p, "name") == Scalar(grpc, "targetPort") && Scalar(p, "containerPort") == "9002");
        Assert.Equal(Scalar(epp, "spec", "selector", "matchLabels", "app.kubernetes.io/name"), Scalar(service, "spec", "selector", "app.kubernetes.io/name"));
        Assert.Equal(Scalar(epp, "spec", "template", "spec", "serviceAccountName"), Scalar(docs.Single(d => Scalar(d, "kind") == "RoleBinding"), "subjects", 0, "name"));

        // Pinned picker image; it watches this pool and reads the config the ConfigMap carries.
        Assert.Equal("ghcr.io/llm-d/llm-d-inference-scheduler:v0.8.0", Scalar(eppContainer, "image"));
        var args = Strings(eppContainer, "args").ToList();
        Assert.Equal(Scalar(pool, "metadata", "name"), args[args.IndexOf("--pool-name") + 1]);
        var configPath = args[args.IndexOf("--config-file") + 1];
        var mount = Assert.Single(Items(eppContainer, "volumeMounts"));
        Assert.Equal(Path.GetDirectoryName(configPath), Scalar(mount, "mountPath"));
        var kustomization = One("kustomization.yaml", "Kustomization");
        var generator = Assert.Single(Items(kustomization, "configMapGenerator"));
        Assert.Equal(Path.GetFileName(configPath), Assert.Single(Strings(generator, "files")));
        var volume = Assert.Single(Items(epp, "spec", "template", "spec", "volumes"));
        Assert.Equal(Scalar(generator, "name"), Scalar(volume, "configMap", "name"));
    }

    [Fact]
    public void The_route_sends_to_the_pool_and_the_kustomization_composes_with_deploy_k8s()
    {
        var route = One("httproute.yaml", "HTTPRoute");
        var backend = Assert.Single(Items(route, "spec", "rules", 0, "backendRefs"));
        Assert.Equal("inference.networking.k8s.io", Scalar(backend, "group"));
        Assert.Equal("InferencePool", Scalar(backend, "kind"));
        Assert.Equal(Scalar(One("inferencepool.yaml", "InferencePool"), "metadata", "name"), Scalar(backend, "name"));
        Assert.Equal(Scalar(One("optional/gateway.yaml", "Gateway"), "metadata", "name"), Scalar(route, "spec", "parentRefs", 0, "name"));

        var resources = Strings(One("kustomization.yaml", "Kustomization"), "resources").ToList();
        Assert.Equal("../k8s", resources[0]);
        Assert.All(resources.Skip(1), r => Assert.True(File.Exists(Path.Combine(Dir, r)), r));
        Assert.Contains("inferencepool.yaml", resources);
        Assert.Contains("httproute.yaml", resources);
        Assert.Contains("epp.yaml", resources);
        Assert.True(File.Exists(RepoFiles.PathOf("deploy/validate/schemas/inferencepools.inference.networking.k8s.io.v1.6.0.yaml")));
    }
}
