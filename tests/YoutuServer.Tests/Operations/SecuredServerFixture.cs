using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Operations;

/// <summary>
/// The real server on the tiny model with every guard on: API keys (metrics protected too), a CORS allow-list,
/// a 4 KiB body limit and 100 requests per minute per key.
/// </summary>
public sealed class SecuredServerFixture : WebApplicationFactory<Program>
{
    protected override void ConfigureClient(HttpClient client)
    {
        base.ConfigureClient(client);
        TestTimeouts.Apply(client);
    }

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
        builder.UseSetting("Youtu:Model", OpsTinyModel.File);
        builder.UseSetting("Youtu:Seed", YoutuServer.Tests.Api.ColdEngine.Seed);
        builder.UseSetting("Youtu:ModelAlias", ModelId);
        builder.UseSetting("Youtu:Parallel", "2");
        builder.UseSetting("Youtu:CtxSize", "2048");
        builder.UseSetting("Youtu:Threads", "2");
        builder.UseSetting("Youtu:ApiKeys:0", KeyA);
        builder.UseSetting("Youtu:ApiKeys:1", KeyB);
        builder.UseSetting("Youtu:ApiKeys:2", RateKey);
        builder.UseSetting("Youtu:MetricsRequireKey", "true");
        builder.UseSetting("Youtu:CorsOrigins:0", AllowedOrigin);
        builder.UseSetting("Youtu:MaxRequestBodyBytes", MaxBody.ToString(System.Globalization.CultureInfo.InvariantCulture));
        builder.UseSetting("Youtu:RateLimitPerMinute", RatePerMinute.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
