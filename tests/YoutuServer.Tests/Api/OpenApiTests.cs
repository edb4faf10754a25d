using System.Net;
using System.Text.Json.Nodes;

namespace YoutuServer.Tests.Api;

[Collection("server")]
public sealed class OpenApiTests(ServerFixture server)
{
    [Fact]
    public async Task Openapi_document_describes_the_chat_route_with_request_response_and_sse()
    {
        using var client = server.CreateClient();
        var doc = JsonNode.Parse(await client.GetStringAsync("/openapi/v1.json"))!;
        Assert.StartsWith("3.", doc["openapi"]!.GetValue<string>(), StringComparison.Ordinal);
        var post = doc["paths"]!["/v1/chat/completions"]!["post"]!;
        Assert.NotNull(post["requestBody"]!["content"]!["application/json"]);
        var ok = post["responses"]!["200"]!["content"]!;
        Assert.NotNull(ok["application/json"]);
        Assert.NotNull(ok["text/event-stream"]);
        Assert.NotNull(post["responses"]!["400"]);
        var schemas = doc["components"]!["schemas"]!.AsObject();
        Assert.Contains(schemas, kv => kv.Key.Contains("ChatCompletionRequest", StringComparison.Ordinal));
        Assert.NotNull(doc["paths"]!["/v1/models"]);
    }

    [Fact]
    public async Task Swagger_ui_is_served()
    {
        using var client = server.CreateClient();
        var res = await client.GetAsync("/swagger/index.html");
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        Assert.Contains("swagger", await res.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
    }
}
