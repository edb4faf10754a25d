using Microsoft.AspNetCore.Hosting;
using YoutuServer.Tests.Api;

namespace YoutuServer.Tests.Operations;

/// <summary>
/// The real server on the tiny model with every guard on: API keys (metrics protected too), a CORS allow-list,
/// a 4 KiB body limit and 100 requests per minute per key.
/// </summary>
public sealed class SecuredServerFixture : TinyServerFactory
{
    public const string ModelId = "ops-secured";
    public const string KeyA = "sk-test-alpha-0123456789";
    public const string KeyB = "sk-test-beta-9876543210";
    /// <summary>Only the rate-limit test uses this key, so its bucket is its own.</summary>
    public const string RateKey = "sk-test-rate-limit";
    public const string AllowedOrigin = "https://app.example";
    public const int RatePerMinute = 100;
    public const int MaxBody = 4096;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        UseTinyModel(builder, OpsTinyModel.File, ModelId, parallel: 2, ctxSize: 2048, threads: 2);
        UseList(builder, "ApiKeys", KeyA, KeyB, RateKey);
        builder.UseSetting("Youtu:MetricsRequireKey", "true");
        builder.UseSetting("Youtu:CorsOrigins:0", AllowedOrigin);
        builder.UseSetting("Youtu:MaxRequestBodyBytes", MaxBody.ToString(System.Globalization.CultureInfo.InvariantCulture));
        builder.UseSetting("Youtu:RateLimitPerMinute", RatePerMinute.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
