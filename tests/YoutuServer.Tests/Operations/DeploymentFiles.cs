using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using YamlDotNet.RepresentationModel;
using YoutuServer.Hosting;

namespace YoutuServer.Tests.Operations;

/// <summary>One Dockerfile instruction, continuation lines joined.</summary>
internal sealed record DockerInstruction(string Keyword, string Args, int Line);

/// <summary>Parsing helpers for the deployment tests: Dockerfile, YAML, and the facts of the app they must agree with.</summary>
internal static partial class DeploymentFiles
{
    public static IReadOnlyList<DockerInstruction> ParseDockerfile(string text)
    {
        var result = new List<DockerInstruction>();
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var start = i + 1;
            var joined = line;
            while (joined.EndsWith('\\') && i + 1 < lines.Length)
            {
                joined = joined[..^1];
                var next = lines[++i].Trim();
                if (!next.StartsWith('#'))
                {
                    joined += " " + next;
                }
            }

            var space = joined.IndexOf(' ', StringComparison.Ordinal);
            result.Add(space < 0
                ? new DockerInstruction(joined.ToUpperInvariant(), "", start)
                : new DockerInstruction(joined[..space].ToUpperInvariant(), joined[(space + 1)..].Trim(), start));
        }

        return result;
    }

    /// <summary>ENV KEY=VALUE pairs (quotes removed).</summary>
    public static Dictionary<string, string> EnvPairs(string args)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match m in EnvPairRegex().Matches(args))
        {
            env[m.Groups[1].Value] = m.Groups[2].Value.Trim('"');
        }

        return env;
    }

    public static string[] JsonArray(string args) =>
        JsonSerializer.Deserialize<string[]>(args) ?? throw new InvalidOperationException($"not a JSON array: {args}");

    /// <summary>Resolves compose-style ${VAR:-default} / ${VAR-default} / ${VAR} with the defaults (no environment).</summary>
    public static string Interpolate(string value) => InterpolationRegex().Replace(value, m => m.Groups[2].Success ? m.Groups[2].Value : "");

    public static List<YamlMappingNode> LoadYamlDocuments(string path)
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(path))
        {
            stream.Load(reader);
        }

        return stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>().ToList();
    }

    public static YamlNode? Node(YamlNode? node, params object[] path)
    {
        foreach (var step in path)
        {
            node = (node, step) switch
            {
                (YamlMappingNode map, string key) => Lookup(map, key),
                (YamlSequenceNode seq, int index) => index < seq.Children.Count ? seq.Children[index] : null,
                _ => null,
            };
        }

        return node;
    }

    /// <summary>A key of a mapping, following YAML merge keys (<c>&lt;&lt;: *anchor</c>), which YamlDotNet leaves unmerged.</summary>
    private static YamlNode? Lookup(YamlMappingNode map, string key)
    {
        if (map.Children.TryGetValue(new YamlScalarNode(key), out var child))
        {
            return child;
        }

        return map.Children.TryGetValue(new YamlScalarNode("<<"), out var merged) && merged is YamlMappingNode parent ? Lookup(parent, key) : null;
    }

    public static string? Scalar(YamlNode? node, params object[] path) => (Node(node, path) as YamlScalarNode)?.Value;

    public static IEnumerable<YamlNode> Items(YamlNode? node, params object[] path) =>
        Node(node, path) is YamlSequenceNode seq ? seq.Children : [];

    public static IEnumerable<string> Strings(YamlNode? node, params object[] path) =>
        Items(node, path).OfType<YamlScalarNode>().Select(s => s.Value ?? "");

    /// <summary>The ServerOptions property a YOUTU__X or YOUTU__X__0 variable binds to, or null when it binds to none.</summary>
    public static PropertyInfo? OptionFor(string variable)
    {
        const string prefix = "YOUTU__";
        if (!variable.StartsWith(prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var name = variable[prefix.Length..].Split("__")[0];
        return typeof(ServerOptions).GetProperty(name, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
    }

    public static string AssemblyName() =>
        XDocument.Load(RepoFiles.PathOf("src/YoutuServer/YoutuServer.csproj")).Descendants("AssemblyName").Single().Value;

    /// <summary>The folder (under the output) the Native project copies the llama.cpp .so files into.</summary>
    public static string NativeOutputFolder()
    {
        var links = XDocument.Load(RepoFiles.PathOf("src/YoutuServer.Native/YoutuServer.Native.csproj"))
            .Descendants("None").Select(e => (string?)e.Attribute("Link")).OfType<string>().Distinct().ToList();
        return Assert.Single(links.Select(l => l.Split('/')[0]).Distinct());
    }

    /// <summary>The flavours scripts/fetch-native.sh accepts (its case labels) and the folder each unpacks into.</summary>
    public static Dictionary<string, string> FetchNativeFlavours()
    {
        var script = RepoFiles.Read("scripts/fetch-native.sh");
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match m in FlavourCaseRegex().Matches(script))
        {
            foreach (var flavour in m.Groups[1].Value.Split('|'))
            {
                result[flavour.Trim()] = m.Groups[2].Value;
            }
        }

        return result;
    }

    /// <summary>Health and metrics paths the app maps, when the endpoints exist yet (they land with the operations work).</summary>
    public static HashSet<string> MappedOperationalPaths() =>
        Directory.EnumerateFiles(RepoFiles.PathOf("src/YoutuServer"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => OperationalPathRegex().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value))
            .ToHashSet(StringComparer.Ordinal);

    /// <summary>Where the server maps /health/* paths at all, it maps both probes the deployment files use.</summary>
    public static void AssertProbePathsMapped()
    {
        var mapped = MappedOperationalPaths();
        if (mapped.Any(p => p.StartsWith("/health/", StringComparison.Ordinal)))
        {
            Assert.Contains("/health/ready", mapped);
            Assert.Contains("/health/live", mapped);
        }
    }

    public static int DefaultPort => new ServerOptions().Port;

    public static int DefaultDrainSeconds => new ServerOptions().DrainTimeoutSeconds;

    [GeneratedRegex("""([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)""")]
    private static partial Regex EnvPairRegex();

    [GeneratedRegex(@"\$\{[A-Za-z_][A-Za-z0-9_]*(:?-([^}]*))?\}")]
    private static partial Regex InterpolationRegex();

    [GeneratedRegex(@"^\s+([a-z0-9|]+)\)\s*\n\s*dest=""\$root/([^""]+)""", RegexOptions.Multiline)]
    private static partial Regex FlavourCaseRegex();

    [GeneratedRegex(@"""(/health(?:/[a-z]+)?|/metrics)""")]
    private static partial Regex OperationalPathRegex();
}
