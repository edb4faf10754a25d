using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;

namespace YoutuServer.Native;

/// <summary>Which build of the pinned llama.cpp release to load.</summary>
public enum NativeFlavour
{
    /// <summary>CUDA build when its files are present in the library folder, else CPU.</summary>
    Auto,
    Cpu,
    Cuda,
}

/// <summary>Where and how to load llama.cpp.</summary>
public sealed record NativeOptions
{
    /// <summary>Folder holding the .so files; default: <c>llama/</c> beside the executable, then native/linux-x64 of the repo.</summary>
    public string? LibraryDirectory { get; init; }
    public NativeFlavour Flavour { get; init; } = NativeFlavour.Auto;
    /// <summary>Load one CPU backend variant (e.g. "haswell", "icelake") instead of the best-scoring one.</summary>
    public string? CpuVariant { get; init; }
}

/// <summary>
/// Loads the pinned llama.cpp build exactly once per process: maps the logical library names to files,
/// registers the ggml backends from that folder (the process's own folder is not where they live),
/// initializes llama, routes its log into ILogger, and refuses to run a different llama.cpp release.
/// </summary>
public static unsafe class LlamaNativeLibrary
{
    /// <summary>The llama.cpp release every struct in this binding was checked against.</summary>
    public const string PinnedVersion = "0.5.0-dev";

    /// <summary>The llama.cpp commit of the pinned release (node-llama-cpp 3.22.1's bundle); saved KV states name it.</summary>
    public const string PinnedCommit = "de3ff815ea7d559ee917f063901b8986f038abc6";

    private static readonly Lock Gate = new();
    private static bool initialized;
    private static ILogger? logger;
    private static readonly StringBuilder PendingLine = new();

    public static string? LoadedDirectory { get; private set; }
    public static NativeFlavour LoadedFlavour { get; private set; }
    public static IReadOnlyList<string> Backends { get; private set; } = [];
    /// <summary>Every registered device, as ggml reports it (GPUs with their memory).</summary>
    public static IReadOnlyList<BackendDevice> Devices { get; private set; } = [];

    /// <summary>True when a discrete or integrated GPU device registered (a CUDA module that loaded, for instance).</summary>
    public static bool HasGpuDevice => Devices.Any(d => d.IsGpu);

    /// <summary>One line: the GPU devices with their memory, else the CPU, e.g. "CUDA0 (NVIDIA H200, 139.8 GiB)".</summary>
    public static string BackendSummary
    {
        get
        {
            var gpus = Devices.Where(d => d.IsGpu).ToList();
            var list = gpus.Count > 0 ? gpus : Devices.Where(d => d.Kind == "CPU").Take(1).ToList();
            return list.Count == 0 ? "none" : string.Join(", ", list.Select(d => d.ToString()));
        }
    }
    public static string SystemInfo { get; private set; } = "";

    /// <summary>Routes llama.cpp/ggml log lines here (may be set before or after Initialize).</summary>
    public static void SetLogger(ILogger? log) => logger = log;

    public static void Initialize(NativeOptions? options = null)
    {
        options ??= new NativeOptions();
        lock (Gate)
        {
            if (initialized)
            {
                return;
            }

            var dir = ResolveDirectory(options.LibraryDirectory);
            var flavour = options.Flavour;
            if (flavour == NativeFlavour.Auto)
            {
                flavour = File.Exists(Path.Combine(dir, "libllama.cuda.v0.5.0.so")) ? NativeFlavour.Cuda : NativeFlavour.Cpu;
            }

            var tag = flavour == NativeFlavour.Cuda ? ".cuda" : "";
            var files = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [NativeMethods.LlamaLib] = Path.Combine(dir, $"libllama{tag}.v0.5.0.so"),
                [NativeMethods.GgmlLib] = Path.Combine(dir, $"libggml{tag}.v0.5.0.so"),
                [NativeMethods.GgmlBaseLib] = Path.Combine(dir, "libggml-base.so"),
            };
            foreach (var (_, path) in files)
            {
                if (!File.Exists(path))
                {
                    throw new NativeLibraryException(
                        $"llama.cpp library '{path}' not found. Run scripts/fetch-native.sh{(flavour == NativeFlavour.Cuda ? " cuda" : "")} or set Native:LibraryDirectory.");
                }
            }

            // Load ggml-base first so the others resolve against this copy, then hand out the handles.
            var handles = new Dictionary<string, nint>(StringComparer.Ordinal);
            foreach (var name in new[] { NativeMethods.GgmlBaseLib, NativeMethods.GgmlLib, NativeMethods.LlamaLib })
            {
                handles[name] = NativeLibrary.Load(files[name]);
            }

            NativeLibrary.SetDllImportResolver(typeof(NativeMethods).Assembly, (name, _, _) =>
                handles.TryGetValue(name, out var h) ? h : IntPtr.Zero);

            var version = Utf8(NativeMethods.llama_version());
            if (version != PinnedVersion)
            {
                throw new NativeLibraryException(
                    $"llama.cpp version mismatch: the library in '{dir}' reports '{version}', but this binding is pinned to '{PinnedVersion}'. " +
                    "Struct layouts differ between releases; refusing to run. Re-run scripts/fetch-native.sh.");
            }

            NativeMethods.llama_log_set(&OnLog, 0);

            // Backends are discovered by dlopen-ing libggml-<name>-*.so from a folder; the default search uses
            // the executable's folder (dotnet's host under `dotnet test`), so give it ours explicitly.
            if (options.CpuVariant is { Length: > 0 } variant)
            {
                var cpu = Path.Combine(dir, $"libggml-cpu-{variant}.so");
                if (!File.Exists(cpu))
                {
                    throw new NativeLibraryException($"CPU backend variant '{variant}' not found ({cpu}).");
                }

                var bytes = Encoding.UTF8.GetBytes(cpu + "\0");
                fixed (byte* p = bytes)
                {
                    if (NativeMethods.ggml_backend_load(p) == 0)
                    {
                        throw new NativeLibraryException($"CPU backend variant '{variant}' failed to load on this CPU.");
                    }
                }
            }

            var dirBytes = Encoding.UTF8.GetBytes(dir + "\0");
            fixed (byte* p = dirBytes)
            {
                NativeMethods.ggml_backend_load_all_from_path(p);
            }

            NativeMethods.llama_backend_init();

            var backends = new List<string>();
            var devices = new List<BackendDevice>();
            var n = NativeMethods.ggml_backend_dev_count();
            for (nuint i = 0; i < n; i++)
            {
                var dev = NativeMethods.ggml_backend_dev_get(i);
                var name = Utf8(NativeMethods.ggml_backend_dev_name(dev));
                var desc = Utf8(NativeMethods.ggml_backend_dev_description(dev));
                nuint free = 0, total = 0;
                NativeMethods.ggml_backend_dev_memory(dev, &free, &total);
                var kind = NativeMethods.ggml_backend_dev_type(dev) switch
                {
                    0 => "CPU",
                    1 => "GPU",
                    2 => "IGPU",
                    3 => "ACCEL",
                    _ => "OTHER",
                };
                backends.Add($"{name} ({desc})");
                devices.Add(new BackendDevice(name, desc, kind, (long)free, (long)total));
            }

            if (backends.Count == 0)
            {
                throw new NativeLibraryException($"No ggml backend could be loaded from '{dir}' (no libggml-cpu-*.so matched this CPU).");
            }

            Backends = backends;
            Devices = devices;
            SystemInfo = Utf8(NativeMethods.llama_print_system_info());
            LoadedDirectory = dir;
            LoadedFlavour = flavour;
            initialized = true;
        }
    }

    /// <summary>True when a GPU backend (e.g. CUDA) was registered and can take offloaded layers.</summary>
    public static bool SupportsGpuOffload => initialized && NativeMethods.llama_supports_gpu_offload();

    /// <summary>True when the best CPU backend uses the AMX buffer type, whose extra buffers abort some graphs.</summary>
    public static bool CpuHasAmx => SystemInfo.Contains("AMX_INT8 = 1", StringComparison.Ordinal);

    public static string ResolveDirectory(string? configured)
    {
        var candidates = new List<string>();
        if (!string.IsNullOrEmpty(configured))
        {
            candidates.Add(Path.GetFullPath(configured));
        }
        else
        {
            var env = Environment.GetEnvironmentVariable("YOUTU_NATIVE_DIR");
            if (!string.IsNullOrEmpty(env))
            {
                candidates.Add(env);
            }

            candidates.Add(Path.Combine(AppContext.BaseDirectory, "llama"));
            var asmDir = Path.GetDirectoryName(typeof(LlamaNativeLibrary).Assembly.Location);
            if (!string.IsNullOrEmpty(asmDir))
            {
                candidates.Add(Path.Combine(asmDir, "llama"));
            }
        }

        foreach (var c in candidates)
        {
            if (File.Exists(Path.Combine(c, "libggml-base.so")))
            {
                return c;
            }
        }

        throw new NativeLibraryException(
            $"llama.cpp libraries not found (looked in: {string.Join(", ", candidates)}). Run scripts/fetch-native.sh and rebuild.");
    }

    public static string Utf8(byte* p) => p == null ? "" : Marshal.PtrToStringUTF8((nint)p) ?? "";

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnLog(int level, byte* text, nint userData)
    {
        try
        {
            var s = Utf8(text);
            lock (PendingLine)
            {
                // GGML_LOG_LEVEL_CONT (5) continues the previous line; lines end with '\n'.
                PendingLine.Append(s);
                if (!s.EndsWith('\n'))
                {
                    return;
                }

                var line = PendingLine.ToString().TrimEnd('\n');
                PendingLine.Clear();
                var log = logger;
                if (log is null || line.Length == 0)
                {
                    return;
                }

                var lvl = level switch
                {
                    1 => LogLevel.Debug,
                    2 => LogLevel.Debug, // llama.cpp's INFO is chatty (per-tensor lines); keep it at Debug.
                    3 => LogLevel.Warning,
                    4 => LogLevel.Error,
                    _ => LogLevel.Debug,
                };
                if (log.IsEnabled(lvl))
                {
#pragma warning disable CA1848, CA2254 // native text is the message; this is not a hot path
                    log.Log(lvl, "llama.cpp: {Line}", line);
#pragma warning restore CA1848, CA2254
                }
            }
        }
        catch
        {
            // Never let an exception cross into native code.
        }
    }

    internal static Assembly BindingAssembly => typeof(NativeMethods).Assembly;
}

/// <summary>A ggml device: name (CUDA0, CPU), description (the GPU's or CPU's name), kind, memory in bytes.</summary>
public sealed record BackendDevice(string Name, string Description, string Kind, long FreeBytes, long TotalBytes)
{
    public bool IsGpu => Kind is "GPU" or "IGPU";

    public override string ToString() => IsGpu
        ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Name} ({Description}, {TotalBytes / 1073741824.0:F1} GiB, {FreeBytes / 1073741824.0:F1} GiB free)")
        : $"{Name} ({Description})";
}

public sealed class NativeLibraryException : Exception
{
    public NativeLibraryException(string message) : base(message) { }
    public NativeLibraryException() { }
    public NativeLibraryException(string message, Exception inner) : base(message, inner) { }
}
