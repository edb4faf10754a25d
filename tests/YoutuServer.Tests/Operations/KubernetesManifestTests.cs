using System.Globalization;
using YamlDotNet.RepresentationModel;
using YoutuServer.Models;
using static YoutuServer.Tests.Operations.DeploymentFiles;

namespace YoutuServer.Tests.Operations;

/// <summary>
/// Parses every manifest of deploy/k8s with YamlDotNet and checks what a schema validator cannot: that probes, ports,
/// image, model id, volume, configuration keys and the autoscaling metric agree with the app and with each other.
/// (deploy/k8s/validate.sh checks the manifests against the Kubernetes JSON schemas where npm is available.)
/// </summary>
public sealed class KubernetesManifestTests
{
    private static readonly Dictionary<string, string> ApiVersions = new(StringComparer.Ordinal)
    {
        ["Deployment"] = "apps/v1",
        ["StatefulSet"] = "apps/v1",
        ["Secret"] = "v1",
        ["Service"] = "v1",
        ["PersistentVolumeClaim"] = "v1",
        ["ScaledObject"] = "keda.sh/v1alpha1",
        ["HorizontalPodAutoscaler"] = "autoscaling/v2",
        ["PodMonitor"] = "monitoring.coreos.com/v1",
        ["Kustomization"] = "kustomize.config.k8s.io/v1beta1",
    };

    private static readonly string K8sDir = RepoFiles.PathOf("deploy/k8s");

    private static List<(string File, YamlMappingNode Doc)> Manifests() =>
        Directory.EnumerateFiles(K8sDir, "*.yaml", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}validate{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => LoadYamlDocuments(f).Select(d => (Path.GetRelativePath(K8sDir, f), d)))
            .ToList();

    private static YamlMappingNode One(string kind, string name = "youtu-server") =>
        Assert.Single(Manifests(), m => Scalar(m.Doc, "kind") == kind && (kind == "Kustomization" || Scalar(m.Doc, "metadata", "name") == name)).Doc;

    private static YamlNode Container(string name) =>
        Assert.Single(Items(One("Deployment"), "spec", "template", "spec", "containers"), c => Scalar(c, "name") == name);

    private static YamlNode InitContainer() => Assert.Single(Items(One("Deployment"), "spec", "template", "spec", "initContainers"));

    private static Dictionary<string, YamlNode> Env(YamlNode container) =>
        Items(container, "env").ToDictionary(e => Scalar(e, "name")!, e => e, StringComparer.Ordinal);

    private static int Int(string? s) => int.Parse(s!, CultureInfo.InvariantCulture);

    [Fact]
    public void Every_manifest_has_kind_api_version_and_name()
    {
        var manifests = Manifests();

        Assert.True(manifests.Count >= 6, $"expected at least 6 manifests, found {manifests.Count}");
        foreach (var (file, doc) in manifests)
        {
            var kind = Scalar(doc, "kind");
            Assert.True(kind is not null && ApiVersions.ContainsKey(kind), $"{file}: unexpected kind '{kind}'");
            Assert.Equal(ApiVersions[kind!], Scalar(doc, "apiVersion"));
            if (kind != "Kustomization")
            {
                Assert.False(string.IsNullOrEmpty(Scalar(doc, "metadata", "name")), $"{file}: metadata.name missing");
                Assert.Contains(Scalar(doc, "metadata", "labels", "app.kubernetes.io/name"), new[] { "youtu-server", "youtu-state" });
            }
        }
    }

    [Fact]
    public void The_kustomization_lists_the_core_manifests_and_they_exist()
    {
        var resources = Strings(One("Kustomization"), "resources").ToList();

        Assert.Equal(new[] { "pvc.yaml", "deployment.yaml", "state-store.yaml", "service.yaml", "keda-scaledobject.yaml" }, resources);
        Assert.All(resources, r => Assert.True(File.Exists(Path.Combine(K8sDir, r)), r));
        Assert.Equal("youtu-server", Scalar(One("Kustomization"), "images", 0, "name"));
    }

    [Fact]
    public void The_deployment_requests_a_gpu()
    {
        var server = Container("youtu-server");

        Assert.Equal("1", Scalar(server, "resources", "limits", "nvidia.com/gpu"));
        Assert.Equal("1", Scalar(server, "resources", "requests", "nvidia.com/gpu"));
        Assert.Contains(Items(One("Deployment"), "spec", "template", "spec", "tolerations"), t => Scalar(t, "key") == "nvidia.com/gpu");
    }

    [Fact]
    public void Probes_use_the_health_endpoints_on_the_served_port()
    {
        var server = Container("youtu-server");
        var port = Assert.Single(Items(server, "ports"));
        var env = Env(server);

        Assert.Equal("http", Scalar(port, "name"));
        Assert.Equal(DefaultPort, Int(Scalar(port, "containerPort")));
        Assert.Equal(DefaultPort, Int(Scalar(env["YOUTU__PORT"], "value")));
        Assert.Equal("0.0.0.0", Scalar(env["YOUTU__HOST"], "value"));
        Assert.Equal("/health/ready", Scalar(server, "readinessProbe", "httpGet", "path"));
        Assert.Equal("/health/live", Scalar(server, "livenessProbe", "httpGet", "path"));
        Assert.Equal("/health/ready", Scalar(server, "startupProbe", "httpGet", "path"));
        foreach (var probe in new[] { "readinessProbe", "livenessProbe", "startupProbe" })
        {
            Assert.Equal("http", Scalar(server, probe, "httpGet", "port"));
        }

        // The model load gets minutes before liveness may restart the pod.
        var startupBudget = Int(Scalar(server, "startupProbe", "periodSeconds")) * Int(Scalar(server, "startupProbe", "failureThreshold"));
        Assert.True(startupBudget >= 300, $"startupProbe allows only {startupBudget}s for the model load");
        AssertProbePathsMapped();
    }

    [Fact]
    public void Every_youtu_variable_binds_to_a_server_option()
    {
        foreach (var container in new[] { Container("youtu-server"), InitContainer() })
        {
            Assert.All(Env(container).Keys.Where(k => k.StartsWith("YOUTU", StringComparison.Ordinal)),
                k => Assert.True(OptionFor(k) is not null, $"{k} matches no ServerOptions property"));
        }
    }

    [Fact]
    public void The_init_container_pulls_the_served_model_into_the_shared_volume()
    {
        var init = InitContainer();
        var server = Container("youtu-server");
        var args = Strings(init, "args").ToList();
        var catalog = ModelCatalog.Load(RepoFiles.PathOf("models.json"));
        var claim = Scalar(One("PersistentVolumeClaim", "youtu-models"), "metadata", "name");
        var volume = Assert.Single(Items(One("Deployment"), "spec", "template", "spec", "volumes"));

        Assert.Equal("pull", args[0]);
        Assert.NotNull(catalog.Find(args[1]));
        Assert.Equal(new[] { "--models-dir", "/models" }, args.Skip(2));
        Assert.Equal(args[1], Scalar(Env(server)["YOUTU__MODEL"], "value"));
        Assert.Equal("/models", Scalar(Env(server)["YOUTU__MODELSDIR"], "value"));
        Assert.Equal(claim, Scalar(volume, "persistentVolumeClaim", "claimName"));
        foreach (var c in new[] { init, server })
        {
            var mount = Assert.Single(Items(c, "volumeMounts"));
            Assert.Equal(Scalar(volume, "name"), Scalar(mount, "name"));
            Assert.Equal("/models", Scalar(mount, "mountPath"));
        }

        Assert.Equal(new[] { "serve" }, Strings(server, "args"));
    }

    [Fact]
    public void One_image_everywhere_and_the_same_as_compose()
    {
        var images = new[] { Scalar(Container("youtu-server"), "image"), Scalar(InitContainer(), "image") };
        var compose = Interpolate(Scalar(Assert.Single(LoadYamlDocuments(RepoFiles.PathOf("docker-compose.yml"))), "services", "youtu-server", "image")!);

        Assert.Single(images.Distinct());
        Assert.Equal(compose, images[0]);
        Assert.Equal(Scalar(One("Kustomization"), "images", 0, "name"), images[0]!.Split(':')[0]);
    }

    [Fact]
    public void Termination_grace_covers_the_pre_stop_sleep_and_the_drain()
    {
        var spec = Node(One("Deployment"), "spec", "template", "spec");
        var server = Container("youtu-server");
        var preStop = Strings(server, "lifecycle", "preStop", "exec", "command").ToList();
        var drain = Env(server).TryGetValue("YOUTU__DRAINTIMEOUTSECONDS", out var d) ? Int(Scalar(d, "value")) : DefaultDrainSeconds;
        var grace = Int(Scalar(spec, "terminationGracePeriodSeconds"));

        Assert.Equal("sleep", preStop[0]);
        Assert.True(grace > Int(preStop[1]) + drain, $"terminationGracePeriodSeconds {grace} must exceed preStop {preStop[1]}s + drain {drain}s");
    }

    [Fact]
    public void The_pod_runs_as_the_image_user_and_can_write_the_volume()
    {
        var security = Node(One("Deployment"), "spec", "template", "spec", "securityContext");
        var dockerfile = RepoFiles.Read("Dockerfile");

        Assert.Equal("true", Scalar(security, "runAsNonRoot"));
        Assert.Contains($"--uid {Scalar(security, "runAsUser")} ", dockerfile, StringComparison.Ordinal);
        Assert.Contains($"--gid {Scalar(security, "fsGroup")} ", dockerfile, StringComparison.Ordinal);
    }

    [Fact]
    public void The_service_selects_the_pods_and_targets_the_named_port()
    {
        var service = One("Service");
        var podLabels = (YamlMappingNode)Node(One("Deployment"), "spec", "template", "metadata", "labels")!;
        var selector = (YamlMappingNode)Node(service, "spec", "selector")!;

        Assert.All(selector.Children, kv => Assert.Equal(((YamlScalarNode)kv.Value).Value, Scalar(podLabels, ((YamlScalarNode)kv.Key).Value!)));
        Assert.Equal("http", Scalar(service, "spec", "ports", 0, "targetPort"));
        Assert.Equal(Scalar(One("Deployment"), "spec", "selector", "matchLabels", "app.kubernetes.io/name"), Scalar(podLabels, "app.kubernetes.io/name"));
    }

    [Fact]
    public void Replicas_share_the_state_store_and_the_seal_key_from_a_secret()
    {
        var env = Env(Container("youtu-server"));
        var store = Scalar(env["YOUTU__STATESTORE"], "value");
        var service = One("Service", "youtu-state");
        var statefulSet = One("StatefulSet", "youtu-state");
        Assert.Equal($"redis://{Scalar(service, "metadata", "name")}:{Scalar(service, "spec", "ports", 0, "port")}", store);
        Assert.Equal("redis", Scalar(service, "spec", "ports", 0, "targetPort"));
        Assert.Equal("redis", Scalar(statefulSet, "spec", "template", "spec", "containers", 0, "ports", 0, "name"));
        Assert.Equal(Scalar(statefulSet, "spec", "template", "metadata", "labels", "app.kubernetes.io/name"), Scalar(service, "spec", "selector", "app.kubernetes.io/name"));
        Assert.Equal("1", Scalar(statefulSet, "spec", "replicas"));
        // Every key the server writes has a TTL, so volatile-lru bounds the store without touching foreign keys.
        Assert.Contains("volatile-lru", Strings(statefulSet, "spec", "template", "spec", "containers", 0, "args"));

        // The seal key: from a Secret, required (a pod with its own random key would break seals across replicas).
        var key = env["YOUTU__REASONINGKEY"];
        Assert.Equal("youtu-reasoning-key", Scalar(key, "valueFrom", "secretKeyRef", "name"));
        Assert.Equal("key", Scalar(key, "valueFrom", "secretKeyRef", "key"));
        Assert.NotEqual("true", Scalar(key, "valueFrom", "secretKeyRef", "optional"));
        var example = One("Secret", "youtu-reasoning-key");
        Assert.NotNull(Node(example, "stringData", "key"));
        Assert.DoesNotContain("reasoning-key.example.yaml", Strings(One("Kustomization"), "resources"));

        // Responses show which replica answered: the pod's name.
        Assert.Equal("metadata.name", Scalar(env["YOUTU__REPLICAID"], "valueFrom", "fieldRef", "fieldPath"));
    }

    [Fact]
    public void Keda_scales_the_deployment_on_the_queue_depth_metric()
    {
        var scaled = One("ScaledObject");
        var trigger = Assert.Single(Items(scaled, "spec", "triggers"));

        Assert.Equal(Scalar(One("Deployment"), "metadata", "name"), Scalar(scaled, "spec", "scaleTargetRef", "name"));
        Assert.Equal("prometheus", Scalar(trigger, "type"));
        Assert.Contains("youtu_queue_depth", Scalar(trigger, "metadata", "query"), StringComparison.Ordinal);
        Assert.True(double.Parse(Scalar(trigger, "metadata", "threshold")!, CultureInfo.InvariantCulture) > 0);
        Assert.True(Int(Scalar(scaled, "spec", "maxReplicaCount")) > Int(Scalar(scaled, "spec", "minReplicaCount")));
    }

    [Fact]
    public void The_hpa_alternative_scales_on_the_same_metric()
    {
        var hpa = One("HorizontalPodAutoscaler");
        var adapter = RepoFiles.Read("deploy/prometheus/adapter-values.yaml");

        Assert.Equal(Scalar(One("Deployment"), "metadata", "name"), Scalar(hpa, "spec", "scaleTargetRef", "name"));
        Assert.Equal("Pods", Scalar(hpa, "spec", "metrics", 0, "type"));
        Assert.Equal("youtu_queue_depth", Scalar(hpa, "spec", "metrics", 0, "pods", "metric", "name"));
        Assert.Contains("youtu_queue_depth", adapter, StringComparison.Ordinal);
        Assert.DoesNotContain("HorizontalPodAutoscaler", string.Join(' ', Strings(One("Kustomization"), "resources")), StringComparison.Ordinal);
    }

    [Fact]
    public void The_pod_monitor_scrapes_metrics_on_the_http_port()
    {
        var monitor = One("PodMonitor");

        Assert.Equal("http", Scalar(monitor, "spec", "podMetricsEndpoints", 0, "port"));
        Assert.Equal("/metrics", Scalar(monitor, "spec", "podMetricsEndpoints", 0, "path"));
        Assert.Equal("youtu-server", Scalar(monitor, "spec", "selector", "matchLabels", "app.kubernetes.io/name"));
    }
}
