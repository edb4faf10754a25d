using System.Reflection;
using System.Text.RegularExpressions;
using ArchUnitNET.Loader;
using ArchUnitNET.xUnit;
using static ArchUnitNET.Fluent.ArchRuleDefinition;

namespace YoutuServer.Architecture.Tests;

/// <summary>
/// The arrows of the solution, checked on the compiled assemblies: Chat references no other project; the Engine no
/// host; Native only the Engine; the host's folders import downward only; no wire format names another's types.
/// The host's folders and wire formats are read from the assembly (namespaces), so a new folder is checked as it lands.
/// </summary>
public sealed class LayeringTests
{
    private static readonly Assembly Host = typeof(Program).Assembly;
    private static readonly Assembly Engine = typeof(YoutuServer.Engine.EngineOptions).Assembly;
    private static readonly Assembly Chat = typeof(YoutuServer.Chat.Parsing.AssistantOutputParser).Assembly;
    private static readonly Assembly Native = typeof(YoutuServer.Native.NativeLibraryException).Assembly;

    private static readonly ArchUnitNET.Domain.Architecture Code =
        new ArchLoader().LoadAssemblies(Host, Engine, Chat, Native).Build();

    /// <summary>
    /// The host's folders, top to bottom: a folder may use the folders after it, never one before it nor one beside it
    /// on the same row. Http (plumbing: JSON, SSE, errors) sits below everything and uses no host folder.
    /// Program (the global namespace) is above them all.
    /// </summary>
    public static readonly string[][] HostTiers =
    [
        ["Cli"],
        ["Api", "Web"],
        ["Operations"],
        ["Generation"],
        ["State"],
        ["Hosting"],
        ["Models"],
        ["Http"],
    ];

    [Fact]
    public void Chat_references_no_other_project()
    {
        AssertReferencesOnly(Chat);
        Types().That().ResideInAssembly(Chat).Should()
            .NotDependOnAny(Types().That().ResideInAssembly(Host).Or().ResideInAssembly(Engine).Or().ResideInAssembly(Native))
            .Because("the chat layer (templates, parsing, grammars) is pure").Check(Code);
    }

    [Fact]
    public void Engine_references_no_host()
    {
        AssertReferencesOnly(Engine, Chat, Native);
        Types().That().ResideInAssembly(Engine).Should()
            .NotDependOnAny(Types().That().ResideInAssembly(Host))
            .Because("the engine knows no wire format, route or host service").Check(Code);
    }

    [Fact]
    public void Native_is_referenced_by_no_project_but_the_engine()
    {
        AssertReferencesOnly(Native);
        Assert.DoesNotContain(Native.GetName().Name, Chat.GetReferencedAssemblies().Select(a => a.Name));
    }

    [Fact]
    public void The_host_names_no_native_type()
    {
        Types().That().ResideInAssembly(Host).Should()
            .NotDependOnAny(Types().That().ResideInAssembly(Native))
            .Because("no native handle, struct or constant outside the engine").Check(Code);

        // Constants are inlined by the compiler and escape the IL check above: the host's source must not name the
        // binding's namespace either (the engine wraps what the host needs: LlamaLibraryOptions, LlamaRuntime).
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "YoutuServer.sln")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("repository root not found");
        }

        var offenders = Directory.EnumerateFiles(Path.Combine(root, "src", "YoutuServer"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Where(f => File.ReadAllText(f).Contains("YoutuServer.Native", StringComparison.Ordinal)
                || File.ReadAllText(f).Contains("LlamaNativeLibrary", StringComparison.Ordinal))
            .ToList();
        Assert.True(offenders.Count == 0, "host files naming the native binding: " + string.Join(", ", offenders));
    }

    public static TheoryData<string> HostFolders() => new(HostTiers.SelectMany(t => t));

    [Theory]
    [MemberData(nameof(HostFolders))]
    public void Host_folders_import_downward_only(string folder)
    {
        var tier = Array.FindIndex(HostTiers, t => t.Contains(folder));
        // Forbidden: every folder on a row above, and the others on the same row.
        var forbidden = HostTiers.Take(tier).SelectMany(t => t).Concat(HostTiers[tier].Where(f => f != folder))
            .Select(f => "YoutuServer." + f).Where(Exists).ToArray();
        var ns = "YoutuServer." + folder;
        if (!Exists(ns) || forbidden.Length == 0)
        {
            return; // Models-only rows or a folder not (yet) in the code: nothing to check.
        }

        Types().That().ResideInNamespaceOrBelow(ns).Should()
            .NotDependOnAny(Types().That().ResideInNamespaceMatching(OrBelow(forbidden)))
            .Because($"{ns} sits below {string.Join(", ", forbidden)}").Check(Code);
    }

    [Fact]
    public void Every_host_namespace_has_a_place_in_the_tiers()
    {
        var known = HostTiers.SelectMany(t => t).Select(f => "YoutuServer." + f).ToArray();
        var unplaced = HostNamespaces()
            .Where(n => n.Length > 0 && !known.Any(k => n == k || n.StartsWith(k + ".", StringComparison.Ordinal)))
            .ToArray();
        Assert.True(unplaced.Length == 0, "Host namespaces without a tier (add them to HostTiers): " + string.Join(", ", unplaced));
    }

    /// <summary>
    /// The wire formats: a format is a folder under Api holding an endpoint type (ChatCompletions, Completions,
    /// Responses, Messages, Simple); if formats are ever grouped (Api/Family/Format), the folder right under Api is a
    /// family and is checked the same way. Api's other folders (Serving, Common) are neutral ground every format may
    /// use. No format names another format's types.
    /// </summary>
    public static TheoryData<string> ApiFormatFolders() => new(FormatFamilies().Concat(Formats()).Distinct());

    [Theory]
    [MemberData(nameof(ApiFormatFolders))]
    public void No_format_folder_references_another(string folder) => CheckFormatFolder(folder);

    private static void CheckFormatFolder(string folder)
    {
        var siblings = (FormatFamilies().Contains(folder) ? FormatFamilies() : Formats())
            .Where(f => f != folder && !folder.StartsWith(f + ".", StringComparison.Ordinal) && !f.StartsWith(folder + ".", StringComparison.Ordinal))
            .ToArray();
        if (siblings.Length == 0)
        {
            return;
        }

        Types().That().ResideInNamespaceOrBelow(folder).Should()
            .NotDependOnAny(Types().That().ResideInNamespaceMatching(OrBelow(siblings)))
            .Because("a wire format is one folder; what formats share lives on neutral ground").Check(Code);
    }

    [Fact]
    public void The_format_folders_are_found()
    {
        // Guards the discovery above: if it found nothing, the format rule would check nothing.
        Assert.Contains("YoutuServer.Api.Messages", Formats());
        Assert.True(Formats().Length >= 4, "formats found: " + string.Join(", ", Formats()));
    }

    /// <summary>A pattern matching these namespaces and the ones below them.</summary>
    private static string OrBelow(IEnumerable<string> namespaces) =>
        "^(" + string.Join('|', namespaces.Select(Regex.Escape)) + @")(\..+)?$";

    private static string[] HostNamespaces() =>
        Code.Types.Where(t => t.Assembly.FullName == Host.FullName).Select(t => t.Namespace.FullName).Distinct().ToArray();

    private static bool Exists(string ns) =>
        HostNamespaces().Any(n => n == ns || n.StartsWith(ns + ".", StringComparison.Ordinal));

    private static string[] Formats() =>
        Host.GetTypes()
            .Where(t => t.Namespace?.StartsWith("YoutuServer.Api.", StringComparison.Ordinal) == true
                && Regex.IsMatch(t.Name, "^[A-Za-z]+Endpoint$"))
            .Select(t => t.Namespace!).Distinct().Order(StringComparer.Ordinal).ToArray();

    private static string[] FormatFamilies() =>
        Formats().Select(f => string.Join('.', f.Split('.').Take(3))).Distinct().ToArray();

    private static void AssertReferencesOnly(Assembly assembly, params Assembly[] allowed)
    {
        var ours = new[] { Host, Engine, Chat, Native }.Select(a => a.GetName().Name).ToHashSet();
        var referenced = assembly.GetReferencedAssemblies().Select(a => a.Name).Where(ours.Contains).ToArray();
        var extra = referenced.Except(allowed.Select(a => a.GetName().Name)).ToArray();
        Assert.True(extra.Length == 0, $"{assembly.GetName().Name} references {string.Join(", ", extra)}");
    }
}
