using YoutuServer.Engine.Synthesis;

namespace YoutuServer.Hosting;

/// <summary>The embedded default when no real weights are present: a tiny Youtu-shaped model with random weights.</summary>
internal static class DemoModel
{
    public const string FileName = "youtu-demo-tiny.gguf";

    /// <summary>The model the demo stands in for when there is no models.json to name a default.</summary>
    public const string DefaultModelId = "youtu-llm-2b";

    /// <summary>
    /// While the demo model is served, every response (errors included) carries <c>x-youtu-demo-model: true</c>: the
    /// start-up warning, repeated where a client can see it.
    /// </summary>
    public static void UseWarningHeader(WebApplication app) => app.Use((http, next) =>
    {
        var host = http.RequestServices.GetRequiredService<EngineHost>();
        if (host.IsDemoModel)
        {
            // OnStarting: the exception handler clears headers when it writes an error body; this runs after it.
            http.Response.OnStarting(static state =>
            {
                ((HttpResponse)state).Headers[EngineHost.DemoModelHeader] = "true";
                return Task.CompletedTask;
            }, http.Response);
        }

        return next(http);
    });

    public static string CacheDirectory(string? modelsDir)
    {
        if (!string.IsNullOrEmpty(modelsDir))
        {
            return modelsDir;
        }

        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var root = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(string.IsNullOrEmpty(home) ? Path.GetTempPath() : home, ".cache");
        return Path.Combine(root, "youtu-server");
    }

    /// <summary>Synthesizes the demo model once (atomically) and returns its path.</summary>
    public static string EnsureSynthesized(string? modelsDir)
    {
        var dir = CacheDirectory(modelsDir);
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, FileName);
        if (File.Exists(path))
        {
            return path;
        }

        var tmp = path + "." + Environment.ProcessId + ".tmp";
        YoutuSynthesizer.Synthesize(new SynthOptions { Preset = SynthPreset.Tiny, OutPath = tmp, Seed = 42 });
        File.Move(tmp, path, overwrite: true);
        return path;
    }
}
