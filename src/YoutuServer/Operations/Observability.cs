using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;
using YoutuServer.Http;
using YoutuServer.Hosting;

namespace YoutuServer.Operations;

/// <summary>
/// Operations wiring of `serve`: Serilog logs, OpenTelemetry metrics (/metrics, OTLP) and traces, API keys, CORS,
/// the body limit, per-key rate limiting and the graceful drain.
/// </summary>
/// <remarks>
/// Pipeline (outermost first): exception handler → <see cref="RequestObserver"/> (request id, 413 on an oversized
/// Content-Length, drain accounting, span, log line, metrics) → CORS → API keys (401) → rate limiter (429) →
/// endpoints. Health probes pass every check; /metrics needs a key only with Youtu:MetricsRequireKey.
/// </remarks>
internal static class Observability
{
    public const string ServiceName = "youtu-server";

    private const string CorsPolicy = "youtu";

    public static void Configure(WebApplicationBuilder builder, ServerOptions options)
    {
        var services = builder.Services;
        ConfigureLogging(builder, options);

        var keys = ApiKeyStore.FromConfiguration(options, builder.Configuration);
        services.AddSingleton(keys);

        services.AddSingleton<DrainCoordinator>();
        services.AddHostedService(sp => sp.GetRequiredService<DrainCoordinator>());
        // Kestrel waits for in-flight requests up to this long; the drain itself ends streams at DrainTimeoutSeconds.
        services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(Math.Max(0, options.DrainTimeoutSeconds)) + DrainCoordinator.ShutdownMargin);

        ConfigureTelemetry(builder, options);

        if (options.CorsOrigins.Count > 0)
        {
            var origins = options.CorsOrigins.Select(o => o.Trim().TrimEnd('/')).Where(o => o.Length > 0).ToArray();
            services.AddCors(o => o.AddPolicy(CorsPolicy, p =>
            {
                if (origins.Contains("*"))
                {
                    p.AllowAnyOrigin();
                }
                else
                {
                    p.WithOrigins(origins);
                }

                p.AllowAnyHeader().AllowAnyMethod()
                    .WithExposedHeaders(RequestObserver.RequestIdHeader, "Retry-After")
                    .SetPreflightMaxAge(TimeSpan.FromMinutes(10));
            }));
        }

        if (options.RateLimitPerMinute > 0)
        {
            services.AddRateLimiter(o =>
            {
                o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
                o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http => PerKeyPartition(http, options.RateLimitPerMinute));
                o.OnRejected = (context, _) => OnRateLimitedAsync(context, options.RateLimitPerMinute);
            });
        }
    }

    public static void Use(WebApplication app, ServerOptions options)
    {
        var host = app.Services.GetRequiredService<EngineHost>();
        var gauges = ServerMetrics.AddSource(() => host.IsReady ? (host.ServedModelId, host.Engine.Stats) : null);
        app.Lifetime.ApplicationStopped.Register(gauges.Dispose);

        app.UseMiddleware<RequestObserver>();
        if (options.CorsOrigins.Count > 0)
        {
            app.UseCors(CorsPolicy);
        }

        app.UseMiddleware<ApiKeyMiddleware>();
        if (options.RateLimitPerMinute > 0)
        {
            app.UseRateLimiter();
        }

        app.MapPrometheusScrapingEndpoint("/metrics");
    }

    // ------------------------------------------------------------------ logs

    private static void ConfigureLogging(WebApplicationBuilder builder, ServerOptions options)
    {
        var configuration = builder.Configuration;
        builder.Services.AddSerilog((_, log) =>
        {
            log.MinimumLevel.Information()
                // ASP.NET's own "Request starting/finished" lines: RequestObserver writes one line per request instead.
                .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
                .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
                .Enrich.FromLogContext();
            // llama.cpp's native log (category "llama.cpp") arrives at Debug, its INFO being per-tensor chatter, so the
            // Information default hides it. A "Serilog" section changes levels, e.g. the environment variable
            // Serilog__MinimumLevel__Override__llama.cpp=Debug.
            if (configuration.GetSection("Serilog").Exists())
            {
                log.ReadFrom.Configuration(configuration);
            }

            if (options.LogJson)
            {
                log.WriteTo.Console(new RenderedCompactJsonFormatter());
            }
            else
            {
                log.WriteTo.Console(
                    outputTemplate: "[{Timestamp:HH:mm:ss.fff} {Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}",
                    formatProvider: CultureInfo.InvariantCulture);
            }
        }, preserveStaticLogger: true);
    }

    // ------------------------------------------------------------------ metrics and traces

    private static void ConfigureTelemetry(WebApplicationBuilder builder, ServerOptions options)
    {
        var version = typeof(Observability).Assembly.GetName().Version?.ToString();
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(ServiceName, serviceVersion: version))
            .WithMetrics(m => m
                .AddMeter(ServerMetrics.MeterName)
                .AddAspNetCoreInstrumentation()
                .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));

        if (string.IsNullOrWhiteSpace(options.OtlpEndpoint))
        {
            return;
        }

        if (!Uri.TryCreate(options.OtlpEndpoint, UriKind.Absolute, out var endpoint) || endpoint.Scheme is not ("http" or "https"))
        {
            throw new ConfigurationException($"--otlp-endpoint '{options.OtlpEndpoint}' must be an absolute http(s) URL, e.g. http://otel-collector:4317");
        }

        // gRPC on 4317 unless told otherwise (OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf, or the HTTP port 4318).
        var protocol = builder.Configuration["OTEL_EXPORTER_OTLP_PROTOCOL"] is "http/protobuf" || endpoint.Port == 4318
            ? OtlpExportProtocol.HttpProtobuf
            : OtlpExportProtocol.Grpc;
        otel.WithTracing(t => t
                .AddSource(RequestTrace.SourceName)
                .AddAspNetCoreInstrumentation(o => o.Filter = http => Routes.IsApi(http.Request)))
            .UseOtlpExporter(protocol, endpoint);
    }

    // ------------------------------------------------------------------ rate limiting

    /// <summary>A token bucket per API key (or client address without keys): the per-minute budget refills evenly.</summary>
    private static RateLimitPartition<string> PerKeyPartition(HttpContext http, int perMinute)
    {
        if (!Routes.IsApi(http.Request))
        {
            return RateLimitPartition.GetNoLimiter("unlimited");
        }

        var key = http.Features.Get<State.ITenantFeature>()?.Tenant.Value
            ?? "ip:" + (http.Connection.RemoteIpAddress?.ToString() ?? "unknown");
        return RateLimitPartition.GetTokenBucketLimiter(key, _ => BucketOptions(perMinute));
    }

    /// <summary>
    /// Burst up to the per-minute budget; refills in steps of at least a second (the partitioned limiter's timer
    /// ticks every 100 ms, so shorter periods would under-refill): n/min → ceil(n/60) tokens every 60·ceil(n/60)/n s.
    /// </summary>
    internal static TokenBucketRateLimiterOptions BucketOptions(int perMinute)
    {
        var tokens = (perMinute + 59) / 60;
        return new TokenBucketRateLimiterOptions
        {
            TokenLimit = perMinute,
            TokensPerPeriod = tokens,
            ReplenishmentPeriod = TimeSpan.FromSeconds(60.0 * tokens / perMinute),
            QueueLimit = 0,
            AutoReplenishment = true,
        };
    }

    private static async ValueTask OnRateLimitedAsync(OnRejectedContext context, int perMinute)
    {
        var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait)
            ? (int)Math.Max(1, Math.Ceiling(wait.TotalSeconds))
            : 1;
        ServerMetrics.Rejected("rate_limited");
        await ErrorWriter.WriteAsync(context.HttpContext, new ApiException(429,
            $"Rate limit reached: this server allows {perMinute} requests per minute per API key. Retry after {retryAfter} s.",
            "rate_limit_error", null, "rate_limit_exceeded", retryAfter));
    }
}
