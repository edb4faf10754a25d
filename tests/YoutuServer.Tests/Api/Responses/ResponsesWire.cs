using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace YoutuServer.Tests.Api.Responses;

/// <summary>Raw HTTP helpers for the Responses tests: posting bodies and reading SSE events.</summary>
internal static class ResponsesWire
{
    public const string WeatherTool = """
        {"type":"function","name":"get_weather","description":"Weather of a city","parameters":{"type":"object",
         "properties":{"city":{"type":"string","enum":["Paris","Rome"]}},"required":["city"],"additionalProperties":false}}
        """;

    public static StringContent Body(string json) => new(json, Encoding.UTF8, "application/json");

    public static async Task<(HttpStatusCode Status, JsonNode Json, HttpResponseMessage Response)> PostAsync(HttpClient client, string json)
    {
        var res = await client.PostAsync("/v1/responses", Body(json));
        var text = await res.Content.ReadAsStringAsync();
        return (res.StatusCode, JsonNode.Parse(text)!, res);
    }

    public static async Task<JsonNode> OkAsync(HttpClient client, string json)
    {
        var (status, node, _) = await PostAsync(client, json);
        Assert.True(status == HttpStatusCode.OK, node.ToJsonString());
        return node;
    }

    /// <summary>The SSE events of a stream: (event line, parsed data), in order.</summary>
    public static async Task<List<(string Event, JsonNode Data)>> StreamAsync(HttpClient client, string json)
    {
        var res = await client.PostAsync("/v1/responses", Body(json));
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        Assert.Equal("text/event-stream", res.Content.Headers.ContentType!.MediaType);
        var text = await res.Content.ReadAsStringAsync();
        var events = new List<(string, JsonNode)>();
        foreach (var block in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            var lines = block.Split('\n');
            if (lines.All(l => l.StartsWith(':')))
            {
                continue; // keep-alive comment
            }

            Assert.StartsWith("event: ", lines[0], StringComparison.Ordinal);
            Assert.StartsWith("data: ", lines[1], StringComparison.Ordinal);
            events.Add((lines[0]["event: ".Length..], JsonNode.Parse(lines[1]["data: ".Length..])!));
        }

        return events;
    }

    public static int Usage(JsonNode response, string path) => path switch
    {
        "input" => response["usage"]!["input_tokens"]!.GetValue<int>(),
        "cached" => response["usage"]!["input_tokens_details"]!["cached_tokens"]!.GetValue<int>(),
        "output" => response["usage"]!["output_tokens"]!.GetValue<int>(),
        "reasoning" => response["usage"]!["output_tokens_details"]!["reasoning_tokens"]!.GetValue<int>(),
        _ => response["usage"]!["total_tokens"]!.GetValue<int>(),
    };

    public static async Task<int> TokenIdAsync(HttpClient client, string text)
    {
        var res = await client.PostAsync("/tokenize", Body(JsonSerializer.Serialize(new { content = text })));
        var tokens = JsonNode.Parse(await res.Content.ReadAsStringAsync())!["tokens"]!.AsArray();
        Assert.Single(tokens);
        return tokens[0]!.GetValue<int>();
    }

    /// <summary>
    /// The text with a suffix of its own for each test (a hash of the calling test and the text): no two tests send the
    /// same prompt, and every run sends the same one, so no outcome depends on a random draw.
    /// </summary>
    public static string Unique(string text, [CallerMemberName] string test = "")
        => text + " " + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(test + "\n" + text)))[..8];
}
