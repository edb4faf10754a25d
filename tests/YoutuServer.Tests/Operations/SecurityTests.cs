using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace YoutuServer.Tests.Operations;

/// <summary>API keys, health left open, /metrics protection, CORS, the body limit and per-key rate limiting.</summary>
public sealed class SecurityTests(SecuredServerFixture server) : IClassFixture<SecuredServerFixture>
{
    private static HttpRequestMessage Get(string path, string? bearer = null, string? xApiKey = null, string? origin = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (bearer is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        if (xApiKey is not null)
        {
            request.Headers.Add("x-api-key", xApiKey);
        }

        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        return request;
    }

    private static async Task AssertOpenAiErrorAsync(HttpResponseMessage res, HttpStatusCode status, string type, string code)
    {
        Assert.Equal(status, res.StatusCode);
        Assert.Equal("application/json", res.Content.Headers.ContentType?.MediaType);
        var json = JsonNode.Parse(await res.Content.ReadAsStringAsync())!.AsObject();
        Assert.Equal(["error"], json.Select(p => p.Key));
        var error = json["error"]!.AsObject();
        Assert.Equal(["message", "type", "param", "code"], error.Select(p => p.Key));
        Assert.False(string.IsNullOrWhiteSpace(error["message"]!.GetValue<string>()));
        Assert.Equal(type, error["type"]!.GetValue<string>());
        Assert.Null(error["param"]);
        Assert.Equal(code, error["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task Missing_key_is_401_in_the_openai_shape()
    {
        using var client = server.CreateClient();
        using var res = await client.SendAsync(Get("/v1/models"));
        await AssertOpenAiErrorAsync(res, HttpStatusCode.Unauthorized, "invalid_request_error", "invalid_api_key");
        Assert.Equal("Bearer", res.Headers.WwwAuthenticate.ToString());
    }

    [Theory]
    [InlineData("bearer")]
    [InlineData("x-api-key")]
    public async Task Wrong_key_is_401_with_incorrect_api_key_message(string how)
    {
        using var client = server.CreateClient();
        var wrong = SecuredServerFixture.KeyA + "x";
        using var res = await client.SendAsync(how == "bearer" ? Get("/v1/models", bearer: wrong) : Get("/v1/models", xApiKey: wrong));
        await AssertOpenAiErrorAsync(res, HttpStatusCode.Unauthorized, "invalid_request_error", "invalid_api_key");
        var body = await res.Content.ReadAsStringAsync();
        Assert.Contains("Incorrect API key provided", body, StringComparison.Ordinal);
        Assert.DoesNotContain(wrong, body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Non_bearer_authorization_is_refused()
    {
        using var client = server.CreateClient();
        var request = Get("/v1/models");
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("u:" + SecuredServerFixture.KeyA)));
        using var res = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, res.StatusCode);
    }

    [Fact]
    public async Task Bearer_and_x_api_key_are_both_accepted_for_every_configured_key()
    {
        using var client = server.CreateClient();
        foreach (var request in new[]
        {
            Get("/v1/models", bearer: SecuredServerFixture.KeyA),
            Get("/v1/models", xApiKey: SecuredServerFixture.KeyA),
            Get("/v1/models", bearer: SecuredServerFixture.KeyB),
            Get("/v1/models", xApiKey: SecuredServerFixture.KeyB),
        })
        {
            using var res = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
            Assert.Contains(SecuredServerFixture.ModelId, await res.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_real_completion_works_with_a_key()
    {
        using var client = server.CreateClient();
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent("""{"messages":[{"role":"user","content":"Hi"}],"max_tokens":4,"ignore_eos":true}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", SecuredServerFixture.KeyB);
        using var res = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        Assert.Equal(4, JsonNode.Parse(await res.Content.ReadAsStringAsync())!["usage"]!["completion_tokens"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("/health/live")]
    [InlineData("/health/ready")]
    [InlineData("/health")]
    public async Task Health_probes_need_no_key(string path)
    {
        using var client = server.CreateClient();
        using var res = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
    }

    [Fact]
    public async Task Metrics_need_a_key_when_MetricsRequireKey_is_set()
    {
        using var client = server.CreateClient();
        using (var res = await client.SendAsync(Get("/metrics")))
        {
            await AssertOpenAiErrorAsync(res, HttpStatusCode.Unauthorized, "invalid_request_error", "invalid_api_key");
        }

        using (var res = await client.SendAsync(Get("/metrics", bearer: SecuredServerFixture.KeyA)))
        {
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
            Assert.Contains("youtu_queue_depth", await res.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Cors_preflight_from_an_allowed_origin_gets_the_allow_headers_without_a_key()
    {
        using var client = server.CreateClient();
        var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions");
        preflight.Headers.Add("Origin", SecuredServerFixture.AllowedOrigin);
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        preflight.Headers.Add("Access-Control-Request-Headers", "authorization,content-type");
        using var res = await client.SendAsync(preflight);
        Assert.True(res.IsSuccessStatusCode, $"preflight answered {(int)res.StatusCode}");
        Assert.Equal(SecuredServerFixture.AllowedOrigin, res.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Contains("POST", string.Join(',', res.Headers.GetValues("Access-Control-Allow-Methods")), StringComparison.Ordinal);
        Assert.Contains("authorization", string.Join(',', res.Headers.GetValues("Access-Control-Allow-Headers")), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Cors_headers_go_to_allowed_origins_only()
    {
        using var client = server.CreateClient();
        using (var res = await client.SendAsync(Get("/v1/models", bearer: SecuredServerFixture.KeyA, origin: SecuredServerFixture.AllowedOrigin)))
        {
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
            Assert.Equal(SecuredServerFixture.AllowedOrigin, res.Headers.GetValues("Access-Control-Allow-Origin").Single());
        }

        // A browser page of the allowed origin can read the 401 too.
        using (var res = await client.SendAsync(Get("/v1/models", origin: SecuredServerFixture.AllowedOrigin)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, res.StatusCode);
            Assert.True(res.Headers.Contains("Access-Control-Allow-Origin"));
        }

        using (var res = await client.SendAsync(Get("/v1/models", bearer: SecuredServerFixture.KeyA, origin: "https://evil.example")))
        {
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
            Assert.False(res.Headers.Contains("Access-Control-Allow-Origin"));
        }

        var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions");
        preflight.Headers.Add("Origin", "https://evil.example");
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        using (var res = await client.SendAsync(preflight))
        {
            Assert.False(res.Headers.Contains("Access-Control-Allow-Origin"));
        }
    }

    [Fact]
    public async Task An_oversized_body_is_413_in_the_openai_shape()
    {
        using var client = server.CreateClient();
        var big = new string('x', SecuredServerFixture.MaxBody * 2);
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent($$"""{"messages":[{"role":"user","content":"{{big}}"}],"max_tokens":4}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", SecuredServerFixture.KeyA);
        using var res = await client.SendAsync(request);
        await AssertOpenAiErrorAsync(res, HttpStatusCode.RequestEntityTooLarge, "invalid_request_error", "request_too_large");
    }

    [Fact]
    public async Task Rate_limit_is_per_key_and_answers_429_with_retry_after()
    {
        using var client = server.CreateClient();
        HttpResponseMessage? limited = null;
        var allowed = 0;
        for (var i = 0; i < SecuredServerFixture.RatePerMinute * 3 && limited is null; i++)
        {
            var res = await client.SendAsync(Get("/v1/models", bearer: SecuredServerFixture.RateKey));
            if (res.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited = res;
            }
            else
            {
                Assert.Equal(HttpStatusCode.OK, res.StatusCode);
                allowed++;
                res.Dispose();
            }
        }

        Assert.NotNull(limited);
        using (limited)
        {
            // The bucket holds a minute's budget; a little refills while the loop runs.
            Assert.InRange(allowed, SecuredServerFixture.RatePerMinute, SecuredServerFixture.RatePerMinute + 20);
            await AssertOpenAiErrorAsync(limited, HttpStatusCode.TooManyRequests, "rate_limit_error", "rate_limit_exceeded");
            var retryAfter = int.Parse(limited.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(retryAfter, 1, 60);
        }

        // Another key has its own bucket, and probes are never limited.
        using (var other = await client.SendAsync(Get("/v1/models", bearer: SecuredServerFixture.KeyA)))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }

        using (var health = await client.GetAsync("/health/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }
    }
}
