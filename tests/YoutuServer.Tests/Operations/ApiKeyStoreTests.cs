using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using YoutuServer.Cli;
using YoutuServer.Hosting;
using YoutuServer.Operations;

namespace YoutuServer.Tests.Operations;

public sealed class ApiKeyStoreTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("youtu-keys-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void No_keys_means_an_open_server()
    {
        var store = ApiKeyStore.FromConfiguration(new ServerOptions(), new ConfigurationBuilder().Build());
        Assert.False(store.Enabled);
        Assert.False(store.TryValidate("anything", out _));
    }

    [Fact]
    public void Keys_from_options_file_and_the_environment_list_are_merged()
    {
        var file = Path.Combine(dir, "keys.txt");
        File.WriteAllText(file, "# rotated 2026-01\n  sk-file-one  \n\n# sk-commented-out\nsk-file-two\n");
        var options = new ServerOptions { ApiKeys = ["sk-cli"], ApiKeysFile = file };
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [ApiKeyStore.EnvironmentList] = "sk-env-a, sk-env-b,,",
        }).Build();

        var store = ApiKeyStore.FromConfiguration(options, config);

        Assert.True(store.Enabled);
        Assert.Equal(5, store.Count);
        foreach (var key in new[] { "sk-cli", "sk-file-one", "sk-file-two", "sk-env-a", "sk-env-b" })
        {
            Assert.True(store.TryValidate(key, out var id), key);
            Assert.Equal("key:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..32], id);
        }

        foreach (var key in new[] { "", "sk-commented-out", "# rotated 2026-01", "sk-cl", "sk-cli ", "SK-CLI" })
        {
            Assert.False(store.TryValidate(key, out _), key);
        }
    }

    [Fact]
    public void A_missing_or_empty_keys_file_refuses_to_start()
    {
        Assert.Throws<YoutuServer.Hosting.ConfigurationException>(() => new ApiKeyStore([], Path.Combine(dir, "nope.txt")));
        var empty = Path.Combine(dir, "empty.txt");
        File.WriteAllText(empty, "# nothing here\n\n");
        Assert.Throws<YoutuServer.Hosting.ConfigurationException>(() => new ApiKeyStore([], empty));
    }

    [Theory]
    [InlineData("GET", "/health/live", false, false)]
    [InlineData("GET", "/health/ready", false, false)]
    [InlineData("GET", "/health", false, false)]
    [InlineData("GET", "/metrics", false, false)]
    [InlineData("GET", "/metrics", true, true)]
    [InlineData("GET", "/v1/models", false, true)]
    [InlineData("POST", "/v1/chat/completions", false, true)]
    [InlineData("POST", "/tokenize", false, true)]
    [InlineData("OPTIONS", "/v1/chat/completions", false, false)]
    [InlineData("GET", "/", false, false)]
    public void Which_routes_need_a_key(string method, string path, bool metricsRequireKey, bool expected)
    {
        var http = new DefaultHttpContext();
        http.Request.Method = method;
        http.Request.Path = path;
        Assert.Equal(expected, Routes.RequiresKey(http.Request, metricsRequireKey));
    }

    [Theory]
    [InlineData("Bearer sk-1", "sk-1")]
    [InlineData("bearer   sk-1 ", "sk-1")]
    [InlineData("Basic abc", "")]
    public void The_key_comes_from_authorization_first(string authorization, string expected)
    {
        var http = new DefaultHttpContext();
        http.Request.Headers.Authorization = authorization;
        http.Request.Headers["x-api-key"] = "sk-other";
        Assert.Equal(expected, ApiKeyMiddleware.PresentedKey(http.Request));
    }

    [Fact]
    public void The_key_comes_from_x_api_key_without_authorization()
    {
        var http = new DefaultHttpContext();
        Assert.Null(ApiKeyMiddleware.PresentedKey(http.Request));
        http.Request.Headers["x-api-key"] = "sk-2";
        Assert.Equal("sk-2", ApiKeyMiddleware.PresentedKey(http.Request));
    }

    [Theory]
    [InlineData(10, 10, 1, 6.0)]
    [InlineData(60, 60, 1, 1.0)]
    [InlineData(100, 100, 2, 1.2)]
    [InlineData(6000, 6000, 100, 1.0)]
    public void The_token_bucket_refills_the_per_minute_budget_evenly(int perMinute, int limit, int tokens, double periodSeconds)
    {
        var o = Observability.BucketOptions(perMinute);
        Assert.Equal(limit, o.TokenLimit);
        Assert.Equal(tokens, o.TokensPerPeriod);
        Assert.Equal(periodSeconds, o.ReplenishmentPeriod.TotalSeconds, 6);
        Assert.Equal(perMinute, o.TokensPerPeriod * (60 / o.ReplenishmentPeriod.TotalSeconds), 6);
        Assert.Equal(0, o.QueueLimit);
    }
}
