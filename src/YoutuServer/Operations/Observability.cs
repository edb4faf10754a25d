using YoutuServer.Hosting;

namespace YoutuServer.Operations;

/// <summary>Logging, metrics and traces wiring (filled in by the operations work).</summary>
internal static class Observability
{
    public static void Configure(WebApplicationBuilder builder, ServerOptions options)
    {
        _ = builder;
        _ = options;
    }

    public static void Use(WebApplication app, ServerOptions options)
    {
        _ = app;
        _ = options;
    }
}
