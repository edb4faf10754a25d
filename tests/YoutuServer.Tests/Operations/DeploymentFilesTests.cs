using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;
using YoutuServer.Models;
using static YoutuServer.Tests.Operations.DeploymentFiles;

namespace YoutuServer.Tests.Operations;

/// <summary>
/// No Docker engine runs here, so the image cannot be built in CI: instead the Dockerfile, .dockerignore and
/// docker-compose.yml are parsed and checked against the facts of the build they package (executable name, native
/// folder, configuration keys, health path, fetch-native flavours), so a rename on either side fails a test.
/// </summary>
public sealed class DeploymentFilesTests
{
    private static readonly IReadOnlyList<DockerInstruction> Docker = ParseDockerfile(RepoFiles.Read("Dockerfile"));

    private static IEnumerable<DockerInstruction> All(string keyword) => Docker.Where(i => i.Keyword == keyword);

    /// <summary>The instructions of the final stage (after the last FROM).</summary>
    private static List<DockerInstruction> RuntimeStage() =>
        Docker.Skip(Docker.ToList().FindLastIndex(i => i.Keyword == "FROM") + 1).ToList();

    private static Dictionary<string, string> RuntimeEnv() =>
        RuntimeStage().Where(i => i.Keyword == "ENV").SelectMany(i => EnvPairs(i.Args)).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);

    private static Dictionary<string, string> GlobalArgs() =>
        Docker.TakeWhile(i => i.Keyword != "FROM").Where(i => i.Keyword == "ARG").Select(i => i.Args.Split('=', 2))
            .ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "", StringComparer.Ordinal);

    /// <summary>Stage name -> base image, with the global ARG defaults substituted.</summary>
    private static Dictionary<string, string> Stages()
    {
        var args = GlobalArgs();
        var stages = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var from in All("FROM"))
        {
            var parts = from.Args.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var image = Regex.Replace(parts[0], @"\$\{(\w+)\}", m => args[m.Groups[1].Value]);
            if (parts.Length == 3 && parts[1].Equals("AS", StringComparison.OrdinalIgnoreCase))
            {
                stages[parts[2]] = image;
            }
        }

        return stages;
    }

    [Fact]
    public void The_entrypoint_is_the_published_executable()
    {
        var entrypoint = JsonArray(Assert.Single(All("ENTRYPOINT")).Args);
        var publish = Assert.Single(All("RUN"), r => r.Args.Contains("dotnet publish", StringComparison.Ordinal));

        Assert.Equal($"/app/{AssemblyName()}", Assert.Single(entrypoint));
        Assert.Matches(@"dotnet publish src/YoutuServer/YoutuServer\.csproj -c Release -o /app\b", publish.Args);
        Assert.Contains($"test -x /app/{AssemblyName()}", publish.Args, StringComparison.Ordinal);
        Assert.Equal(new[] { "serve" }, JsonArray(Assert.Single(All("CMD")).Args));
        Assert.Contains(RuntimeStage(), i => i.Keyword == "COPY" && i.Args == "--from=build /app /app");
    }

    [Fact]
    public void The_restore_layer_copies_every_project_the_server_references()
    {
        var projects = new SortedSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>(["src/YoutuServer/YoutuServer.csproj"]);
        while (pending.TryPop(out var project))
        {
            if (!projects.Add(project))
            {
                continue;
            }

            var folder = Path.GetDirectoryName(project)!;
            foreach (var reference in System.Xml.Linq.XDocument.Load(RepoFiles.PathOf(project)).Descendants("ProjectReference"))
            {
                var path = Path.GetFullPath(Path.Combine(RepoFiles.PathOf(folder), (string)reference.Attribute("Include")!));
                pending.Push(Path.GetRelativePath(RepoFiles.Root, path).Replace(Path.DirectorySeparatorChar, '/'));
            }
        }

        var copies = All("COPY").Select(c => c.Args).ToHashSet(StringComparer.Ordinal);
        Assert.All(projects, p => Assert.Contains($"{p} {Path.GetDirectoryName(p)!.Replace(Path.DirectorySeparatorChar, '/')}/", copies));
        Assert.Equal(4, projects.Count);
    }

    [Fact]
    public void The_image_publishes_the_cuda_set_into_the_folder_the_loader_reads()
    {
        var folder = NativeOutputFolder();
        var publish = Assert.Single(All("RUN"), r => r.Args.Contains("dotnet publish", StringComparison.Ordinal));
        var cudaDest = FetchNativeFlavours()["cuda12"];
        var loader = RepoFiles.Read("src/YoutuServer.Native/LlamaNativeLibrary.cs");
        var props = RepoFiles.Read("Directory.Build.props");

        Assert.Equal("llama", folder);
        // The publish overrides the Native project's source folder with the CUDA set fetch-native unpacked.
        Assert.Contains("<YoutuNativeDir>", props, StringComparison.Ordinal);
        Assert.Contains($"-p:YoutuNativeDir=/src/{cudaDest}", publish.Args, StringComparison.Ordinal);
        Assert.Contains(Docker.TakeWhile(i => i != publish), i => i.Keyword == "WORKDIR" && i.Args == "/src");
        Assert.Equal($"/app/{folder}", RuntimeEnv()["YOUTU__NATIVEDIR"]);
        // The loader's automatic CUDA detection looks for this file name, which the publish step checks for.
        Assert.Contains("\"libllama.cuda.v0.5.0.so\"", loader, StringComparison.Ordinal);
        Assert.Contains($"test -f /app/{folder}/libllama.cuda.v0.5.0.so", publish.Args, StringComparison.Ordinal);
        Assert.Contains($"test -f /app/{folder}/libggml-cuda.so", publish.Args, StringComparison.Ordinal);
    }

    [Fact]
    public void Cuda_major_selects_a_fetch_native_flavour_and_a_matching_cuda_base()
    {
        var flavours = FetchNativeFlavours();
        var fetch = Assert.Single(All("RUN"), r => r.Args.Contains("scripts/fetch-native.sh", StringComparison.Ordinal));
        var mapping = Regex.Matches(fetch.Args, @"(\d+)\) flavour=(\w+)").ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
        var stages = Stages();

        Assert.Equal("12", GlobalArgs()["CUDA_MAJOR"]);
        Assert.Equal("cuda12", mapping["12"]);
        Assert.Equal("cuda", mapping["13"]);
        Assert.All(mapping.Values, f => Assert.Contains(f, flavours.Keys));
        Assert.All(mapping.Values, f => Assert.Equal("native/linux-x64-cuda", flavours[f]));
        Assert.Equal("cuda-${CUDA_MAJOR}", All("FROM").Last().Args.Split(' ')[0]);
        Assert.Matches(@"^nvidia/cuda:12\.\d+\.\d+-runtime-ubuntu24\.04$", stages["cuda-12"]);
        Assert.Matches(@"^nvidia/cuda:13\.\d+\.\d+-runtime-ubuntu24\.04$", stages["cuda-13"]);
        Assert.StartsWith("mcr.microsoft.com/dotnet/sdk:10.0", stages["build"], StringComparison.Ordinal);
        Assert.StartsWith("mcr.microsoft.com/dotnet/aspnet:10.0", stages["aspnet"], StringComparison.Ordinal);
        // npm pins: every tarball fetch-native verifies has an integrity line.
        var integrity = RepoFiles.Read("native/INTEGRITY");
        foreach (var tgz in new[] { "node-llama-cpp-linux-x64-cuda-3.22.1.tgz", "node-llama-cpp-linux-x64-cuda-ext-3.22.1.tgz", "node-llama-cpp-linux-x64-3.22.1.tgz", "node-llama-cpp-3.22.1.tgz" })
        {
            Assert.Matches($@"(?m)^sha512-[A-Za-z0-9+/]{{86}}==  {Regex.Escape(tgz)}$", integrity);
        }
    }

    [Fact]
    public void Every_youtu_variable_of_the_image_binds_to_a_server_option()
    {
        var env = RuntimeEnv();

        Assert.All(env.Keys.Where(k => k.StartsWith("YOUTU", StringComparison.Ordinal)), k => Assert.True(OptionFor(k) is not null, $"{k} matches no ServerOptions property"));
        Assert.Equal("0.0.0.0", env["YOUTU__HOST"]);
        Assert.Equal("/models", env["YOUTU__MODELSDIR"]);
        Assert.Equal(DefaultPort.ToString(System.Globalization.CultureInfo.InvariantCulture), env["YOUTU__PORT"]);
        Assert.Equal(env["YOUTU__PORT"], Assert.Single(All("EXPOSE")).Args);
        Assert.Equal("[\"/models\"]", Assert.Single(All("VOLUME")).Args);
        Assert.Equal("/app/models.json", env["YOUTU__MODELSFILE"]);
        Assert.Contains(Docker, i => i.Keyword == "RUN" && i.Args.Contains("cp models.json /app/models.json", StringComparison.Ordinal));
    }

    [Fact]
    public void The_healthcheck_probes_readiness_with_a_tool_the_image_installs()
    {
        var health = Assert.Single(All("HEALTHCHECK"));
        var runtimeRuns = string.Join('\n', RuntimeStage().Where(i => i.Keyword == "RUN").Select(i => i.Args));

        Assert.Contains("curl -fsS", health.Args, StringComparison.Ordinal);
        Assert.Contains("/health/ready", health.Args, StringComparison.Ordinal);
        Assert.Contains("${YOUTU__PORT:-8080}", health.Args, StringComparison.Ordinal);
        Assert.Matches(@"apt-get install [^\n]*\bcurl\b", runtimeRuns);
        AssertProbePathsMapped();
    }

    [Fact]
    public void The_runtime_runs_as_a_non_root_user_that_owns_the_models_volume()
    {
        var runtime = RuntimeStage();
        var user = Assert.Single(runtime, i => i.Keyword == "USER").Args;
        var runs = string.Join('\n', runtime.Where(i => i.Keyword == "RUN").Select(i => i.Args));

        Assert.NotEqual("root", user);
        Assert.Contains($"useradd --system --uid 10001 --gid {user}", runs, StringComparison.Ordinal);
        Assert.Contains($"chown {user}:{user} /models", runs, StringComparison.Ordinal);
        Assert.True(runtime.FindIndex(i => i.Keyword == "USER") < runtime.FindIndex(i => i.Keyword == "ENTRYPOINT"));
    }

    [Fact]
    public void The_build_context_lets_through_everything_the_dockerfile_copies()
    {
        var rules = RepoFiles.Read(".dockerignore").Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        var sources = All("COPY").Where(c => !c.Args.StartsWith("--from", StringComparison.Ordinal))
            .SelectMany(c => c.Args.Split(' ', StringSplitOptions.RemoveEmptyEntries).SkipLast(1)).ToList();

        Assert.Equal("*", rules[0]);
        Assert.NotEmpty(sources);
        foreach (var source in sources)
        {
            Assert.True(rules.Any(r => r.StartsWith('!') && (source == r[1..] || source.StartsWith(r[1..].TrimEnd('/') + "/", StringComparison.Ordinal))),
                $"COPY {source} is excluded by .dockerignore");
            Assert.True(File.Exists(RepoFiles.PathOf(source)) || Directory.Exists(RepoFiles.PathOf(source)), $"COPY source {source} does not exist");
        }

        Assert.Contains("**/bin/", rules);
        Assert.Contains("**/obj/", rules);
    }

    private static YamlMappingNode Compose() => Assert.Single(LoadYamlDocuments(RepoFiles.PathOf("docker-compose.yml")));

    private static Dictionary<string, string> ComposeEnv(YamlNode service) =>
        ((YamlMappingNode)Node(service, "environment")!).Children.ToDictionary(
            kv => ((YamlScalarNode)kv.Key).Value!, kv => Interpolate(((YamlScalarNode)kv.Value).Value ?? ""), StringComparer.Ordinal);

    [Fact]
    public void Compose_reserves_the_gpu_and_mounts_the_models_volume()
    {
        var server = Node(Compose(), "services", "youtu-server")!;
        var device = Node(server, "deploy", "resources", "reservations", "devices", 0);

        Assert.Equal("nvidia", Scalar(device, "driver"));
        Assert.Equal("all", Scalar(device, "count"));
        Assert.Contains("gpu", Strings(device, "capabilities"));
        Assert.Contains("models:/models", Strings(server, "volumes"));
        Assert.NotNull(Node(Compose(), "volumes", "models"));
        Assert.Equal(new[] { "serve" }, Strings(server, "command"));
        Assert.Equal($":{DefaultPort}", Regex.Match(Interpolate(Assert.Single(Strings(server, "ports"))), @":\d+$").Value);
    }

    [Fact]
    public void Compose_configures_the_server_by_valid_environment_variables()
    {
        var services = (YamlMappingNode)Node(Compose(), "services")!;
        foreach (var name in new[] { "youtu-server", "model-pull" })
        {
            var env = ComposeEnv(services[name]);
            Assert.All(env.Keys.Where(k => k.StartsWith("YOUTU", StringComparison.Ordinal)), k => Assert.True(OptionFor(k) is not null, $"{name}: {k} matches no ServerOptions property"));
            Assert.Equal("/models", env["YOUTU__MODELSDIR"]);
        }

        var serverEnv = ComposeEnv(services["youtu-server"]);
        Assert.Equal("0.0.0.0", serverEnv["YOUTU__HOST"]);
        var drain = int.Parse(serverEnv["YOUTU__DRAINTIMEOUTSECONDS"], System.Globalization.CultureInfo.InvariantCulture);
        var grace = int.Parse(Scalar(services["youtu-server"], "stop_grace_period")!.TrimEnd('s'), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(grace > drain, $"stop_grace_period {grace}s must exceed the drain timeout {drain}s");
    }

    [Fact]
    public void Compose_shares_session_state_through_its_valkey_service()
    {
        var services = (YamlMappingNode)Node(Compose(), "services")!;
        var env = ComposeEnv(services["youtu-server"]);
        var store = services["state-store"];
        Assert.Equal("redis://state-store:6379", env["YOUTU__STATESTORE"]);
        Assert.Equal(YoutuServer.State.Redis.StateStoreSettings.Parse(env["YOUTU__STATESTORE"]).Display, env["YOUTU__STATESTORE"]);
        Assert.StartsWith("valkey/valkey:", Scalar(store, "image"), StringComparison.Ordinal);
        Assert.Contains("volatile-lru", Strings(store, "command"));
        // Started before the server, not waited for: the server reconnects by itself.
        Assert.Equal("service_started", Scalar(services["youtu-server"], "depends_on", "state-store", "condition"));
        Assert.True(env.ContainsKey("YOUTU__REASONINGKEY"));
        Assert.NotNull(Node(Compose(), "volumes", "state-data"));
    }

    [Fact]
    public void Compose_pulls_the_served_model_before_starting_the_server()
    {
        var services = Node(Compose(), "services")!;
        var pull = Node(services, "model-pull")!;
        var server = Node(services, "youtu-server")!;
        var command = Strings(pull, "command").Select(Interpolate).ToList();
        var catalog = ModelCatalog.Load(RepoFiles.PathOf("models.json"));

        Assert.Equal("pull", command[0]);
        Assert.NotNull(catalog.Find(command[1]));
        Assert.Equal(command[1], ComposeEnv(server)["YOUTU__MODEL"]);
        Assert.Equal("service_completed_successfully", Scalar(server, "depends_on", "model-pull", "condition"));
        Assert.Equal(Interpolate(Scalar(pull, "image")!), Interpolate(Scalar(server, "image")!));
        Assert.Contains("models:/models", Strings(pull, "volumes"));
    }

    [Fact]
    public void Compose_prometheus_is_optional_and_scrapes_metrics()
    {
        var prometheus = Node(Compose(), "services", "prometheus")!;
        var mount = Strings(prometheus, "volumes").First(v => v.Contains("prometheus.yml", StringComparison.Ordinal));
        var config = Assert.Single(LoadYamlDocuments(RepoFiles.PathOf(mount.Split(':')[0].TrimStart('.', '/'))));
        var job = Node(config, "scrape_configs", 0);

        Assert.Equal(new[] { "monitoring" }, Strings(prometheus, "profiles"));
        Assert.Equal("/metrics", Scalar(job, "metrics_path"));
        Assert.Equal($"youtu-server:{DefaultPort}", Scalar(job, "static_configs", 0, "targets", 0));
    }
}
