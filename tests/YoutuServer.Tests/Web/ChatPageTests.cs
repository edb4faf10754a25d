using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YoutuServer.Tests.Api;

namespace YoutuServer.Tests.Web;

/// <summary>The chat page's files as the server serves them (the browser tests in tests/browser drive the page itself).</summary>
[Collection("server")]
public sealed partial class ChatPageTests(ServerFixture server)
{
    [Fact]
    public async Task Root_serves_the_page_with_a_same_origin_policy()
    {
        using var client = server.CreateClient();
        var res = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        Assert.Equal("text/html", res.Content.Headers.ContentType!.MediaType);
        var csp = string.Join(";", res.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.Equal("nosniff", res.Headers.GetValues("X-Content-Type-Options").Single());
        var html = await res.Content.ReadAsStringAsync();
        Assert.Contains("<title>Youtu chat</title>", html, StringComparison.Ordinal);
        Assert.Contains("<html lang=\"en\">", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_file_the_page_references_is_served_with_its_type()
    {
        using var client = server.CreateClient();
        var html = await client.GetStringAsync("/");
        var refs = AssetReference().Matches(html).Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.Contains("app.js", refs);
        Assert.Contains("app.css", refs);
        foreach (var r in refs)
        {
            var res = await client.GetAsync("/" + r);
            Assert.True(res.StatusCode == HttpStatusCode.OK, $"{r}: {res.StatusCode}");
            var expected = Path.GetExtension(r) switch
            {
                ".js" => "text/javascript",
                ".css" => "text/css",
                ".svg" => "image/svg+xml",
                _ => throw new InvalidOperationException($"unexpected asset {r}"),
            };
            Assert.Equal(expected, res.Content.Headers.ContentType!.MediaType);
        }
    }

    [Fact]
    public async Task Nothing_is_loaded_from_another_origin()
    {
        using var client = server.CreateClient();
        foreach (var name in YoutuServer.Web.WebUi.FileNames)
        {
            var text = await client.GetStringAsync(name == "index.html" ? "/" : "/" + name);
            // The SVG's XML namespace is the only absolute URL allowed: it is an identifier, never fetched.
            var urls = AbsoluteUrl().Matches(text).Select(m => m.Value).Where(u => u != "http://www.w3.org/2000/svg").ToList();
            Assert.True(urls.Count == 0, $"{name} references {string.Join(", ", urls)}");
        }
    }

    [Fact]
    public async Task Files_carry_an_etag_and_answer_304_when_unchanged()
    {
        using var client = server.CreateClient();
        var first = await client.GetAsync("/app.js");
        var etag = first.Headers.ETag!;
        Assert.Equal("no-cache", first.Headers.CacheControl!.ToString());
        using var again = new HttpRequestMessage(HttpMethod.Get, "/app.js");
        again.Headers.IfNoneMatch.Add(etag);
        var second = await client.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, second.StatusCode);
        Assert.Empty(await second.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Head_gives_the_length_without_a_body()
    {
        using var client = server.CreateClient();
        var get = await client.GetByteArrayAsync("/app.css");
        var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/app.css"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(get.Length, head.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task Unknown_routes_stay_json_404s()
    {
        using var client = server.CreateClient();
        var res = await client.GetAsync("/v1/not-a-route");
        Assert.Equal(HttpStatusCode.NotFound, res.StatusCode);
        Assert.Equal("not_found", JsonNode.Parse(await res.Content.ReadAsStringAsync())!["error"]!["code"]!.GetValue<string>());
    }

    [GeneratedRegex("(?:src|href)=\"([^\"#:]+)\"")]
    private static partial Regex AssetReference();

    [GeneratedRegex("https?://[^\\s\"'<>)]+")]
    private static partial Regex AbsoluteUrl();
}
