using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using YoutuServer.Hosting;
using YoutuServer.Tests.Operations;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Api;

/// <summary>
/// The server as `dotnet run --project src/YoutuServer` starts it on a fresh machine: no --model, the repository's
/// models.json, and a models directory without the default's weights, so the synthesized demo model is served.
/// </summary>
public sealed class EmbeddedDefaultServer : WebApplicationFactory<Program>
{
    private readonly string modelsDir = Path.Combine(Path.GetTempPath(), "youtu-tests", $"fresh-{Environment.ProcessId}-{Guid.NewGuid():N}");

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        Directory.CreateDirectory(modelsDir);
        builder.UseSetting("Youtu:ModelsFile", RepoFiles.PathOf("models.json"));
        builder.UseSetting("Youtu:ModelsDir", modelsDir);
        builder.UseSetting("Youtu:Seed", YoutuServer.Tests.Api.ColdEngine.Seed);
        builder.UseSetting("Youtu:Parallel", "1");
        builder.UseSetting("Youtu:CtxSize", "1024");
        builder.UseSetting("Youtu:Threads", "1");
    }

    protected override void ConfigureClient(HttpClient client)
    {
        base.ConfigureClient(client);
        TestTimeouts.Apply(client);
        ColdEngine.Reset(Services);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        try
        {
            Directory.Delete(modelsDir, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}

public sealed partial class DemoModelTests(EmbeddedDefaultServer server) : IClassFixture<EmbeddedDefaultServer>
{
    private const string DefaultId = "youtu-llm-2b";
    private const string DemoId = "youtu-demo-tiny";

    /// <summary>The README's requests (the curls under "First requests" that post a body), as written there.</summary>
    private static List<(string Path, string ContentType, string Body)> ReadmeCurls()
    {
        var readme = RepoFiles.Read("README.md");
        var found = CurlExample().Matches(readme).Select(m => (m.Groups["path"].Value, m.Groups["ct"].Value, m.Groups["body"].Value)).ToList();
        Assert.True(found.Count >= 3, "README.md no longer has the three curl examples (chat, responses, messages) this test runs");
        return found;
    }

    [GeneratedRegex(@"curl -s localhost:8080(?<path>/\S+) -H '[Cc]ontent-[Tt]ype: (?<ct>[^']+)' \\\s*\n\s*-d '(?<body>[^']+)'")]
    private static partial Regex CurlExample();

    [Fact]
    public async Task The_readme_curl_examples_work_verbatim_against_the_embedded_default()
    {
        using var client = server.CreateClient();
        foreach (var (path, contentType, body) in ReadmeCurls())
        {
            Assert.Contains($"\"model\":\"{DefaultId}\"", body, StringComparison.Ordinal);
            using var content = new StringContent(body, Encoding.UTF8);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
            using var res = await client.PostAsync(path, content);
            var text = await res.Content.ReadAsStringAsync();
            Assert.True(res.StatusCode == HttpStatusCode.OK, path + ": " + text);
            Assert.Equal("true", Assert.Single(res.Headers.GetValues(EngineHost.DemoModelHeader)));
            var json = JsonNode.Parse(text)!;
            switch (path)
            {
                case "/v1/chat/completions":
                    Assert.Equal("chat.completion", json["object"]!.GetValue<string>());
                    Assert.NotNull(json["choices"]![0]!["message"]!["content"]);
                    Assert.InRange(json["usage"]!["completion_tokens"]!.GetValue<int>(), 0, 32);
                    break;
                case "/v1/responses":
                    Assert.Equal("response", json["object"]!.GetValue<string>());
                    Assert.InRange(json["usage"]!["output_tokens"]!.GetValue<int>(), 0, 32);
                    break;
                case "/v1/messages":
                    Assert.Equal("message", json["type"]!.GetValue<string>());
                    Assert.InRange(json["usage"]!["output_tokens"]!.GetValue<int>(), 0, 32);
                    break;
                default:
                    Assert.Fail("a README example this test does not know: " + path);
                    break;
            }
        }
    }

    [Fact]
    public async Task Models_lists_the_demo_and_the_default_it_stands_in_for()
    {
        using var client = server.CreateClient();
        using var res = await client.GetAsync("/v1/models");
        Assert.Equal("true", Assert.Single(res.Headers.GetValues(EngineHost.DemoModelHeader)));
        var list = JsonNode.Parse(await res.Content.ReadAsStringAsync())!;
        var ids = list["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()).ToList();
        Assert.Equal([DemoId, DefaultId], ids);
        Assert.Contains("demo", list["data"]![1]!["description"]!.GetValue<string>(), StringComparison.Ordinal);

        foreach (var id in new[] { DemoId, DefaultId, "Youtu-LLM-2B" })
        {
            var card = await client.GetFromJsonAsync<JsonNode>($"/v1/models/{id}");
            Assert.NotNull(card);
        }

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/v1/models/{DefaultId}")).StatusCode);
    }

    [Fact]
    public async Task The_demo_answers_its_own_id_and_the_defaults_aliases_and_refuses_others_with_the_warning_header()
    {
        using var client = server.CreateClient();
        foreach (var id in new[] { DemoId, "Youtu-LLM-2B" })
        {
            using var ok = await client.PostAsync("/v1/completions", new StringContent(
                $$"""{"model":"{{id}}","prompt":"Hi","max_tokens":2,"seed":1}""", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using var missing = await client.PostAsync("/v1/chat/completions", new StringContent(
            """{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}],"max_tokens":2}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("true", Assert.Single(missing.Headers.GetValues(EngineHost.DemoModelHeader)));
    }
}
