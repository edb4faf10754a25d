using System.Collections.Frozen;
using System.Reflection;
using System.Security.Cryptography;

namespace YoutuServer.Web;

/// <summary>
/// The built-in chat page at / (it talks to POST /chat, see Api/Simple).
/// </summary>
/// <remarks>
/// The page's files (src/YoutuServer/wwwroot) are embedded in the assembly as "wwwroot/NAME" resources, so
/// `dotnet run`, a published build and WebApplicationFactory all serve the same bytes with no file-system
/// lookup. Each file is an explicit endpoint, so it wins over the API's 404 fallback.
/// </remarks>
internal static class WebUi
{
    private const string ResourcePrefix = "wwwroot/";

    /// <summary>The page talks to its own origin only: no CDN, no inline script.</summary>
    internal const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly Lazy<FrozenDictionary<string, StaticFile>> Files = new(LoadFiles);

    public static void Map(WebApplication app)
    {
        foreach (var (name, file) in Files.Value)
        {
            var route = name == "index.html" ? "/" : "/" + name;
            app.MapMethods(route, [HttpMethods.Get, HttpMethods.Head], (HttpContext http) => Serve(http, file))
                .WithName("WebUi:" + name)
                .ExcludeFromDescription()
                .AllowAnonymous();
        }
    }

    /// <summary>Names of the embedded page files ("index.html", "app.js", ...), for tests.</summary>
    internal static IEnumerable<string> FileNames => Files.Value.Keys;

    private static IResult Serve(HttpContext http, StaticFile file)
    {
        var headers = http.Response.Headers;
        headers.ETag = file.ETag;
        // Revalidate every time: a new server build must never run with a stale script.
        headers.CacheControl = "no-cache";
        headers.XContentTypeOptions = "nosniff";
        if (file.IsHtml)
        {
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers["Referrer-Policy"] = "no-referrer";
            headers.XFrameOptions = "DENY";
        }

        if (http.Request.Headers.IfNoneMatch.Any(v => v is not null && v.Split(',').Any(t => t.Trim() == file.ETag || t.Trim() == "*")))
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        if (HttpMethods.IsHead(http.Request.Method))
        {
            http.Response.ContentType = file.ContentType;
            http.Response.ContentLength = file.Bytes.Length;
            return Results.Empty;
        }

        return Results.Bytes(file.Bytes, file.ContentType);
    }

    private static FrozenDictionary<string, StaticFile> LoadFiles()
    {
        var assembly = typeof(WebUi).Assembly;
        var files = new Dictionary<string, StaticFile>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(ResourcePrefix, StringComparison.Ordinal))
            {
                continue;
            }

            var name = resource[ResourcePrefix.Length..].Replace('\\', '/');
            files[name] = StaticFile.Load(assembly, resource, name);
        }

        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private sealed record StaticFile(byte[] Bytes, string ContentType, string ETag, bool IsHtml)
    {
        public static StaticFile Load(Assembly assembly, string resource, string name)
        {
            using var stream = assembly.GetManifestResourceStream(resource)
                ?? throw new InvalidOperationException($"embedded resource '{resource}' is missing");
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var bytes = buffer.ToArray();
            var etag = "\"" + Convert.ToHexStringLower(SHA256.HashData(bytes).AsSpan(0, 12)) + "\"";
            var type = Path.GetExtension(name).ToLowerInvariant() switch
            {
                ".html" => "text/html; charset=utf-8",
                ".js" or ".mjs" => "text/javascript; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                ".svg" => "image/svg+xml",
                ".png" => "image/png",
                ".ico" => "image/x-icon",
                ".json" or ".webmanifest" => "application/json",
                ".txt" => "text/plain; charset=utf-8",
                _ => "application/octet-stream",
            };
            return new StaticFile(bytes, type, etag, type.StartsWith("text/html", StringComparison.Ordinal));
        }
    }
}
