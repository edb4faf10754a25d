using System.Text;
using System.Text.Json.Nodes;

namespace YoutuServer.Tests.Api.Anthropic;

/// <summary>Helpers for raw Messages API calls: bodies, SSE parsing into (event, data) pairs.</summary>
internal static class AnthropicWire
{
    /// <summary>A tool whose input the grammar pins down to {"city": "Paris"|"Rome"}.</summary>
    public const string CityTool = """
        {"name":"get_weather","description":"Weather of a city","input_schema":{"type":"object",
          "properties":{"city":{"type":"string","enum":["Paris","Rome"]}},"required":["city"],"additionalProperties":false}}
        """;

    public static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    public static HttpRequestMessage Post(string path, string body, string? apiKey = null)
    {
        var req = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(body) };
        req.Headers.Add("anthropic-version", "2023-06-01");
        req.Headers.Add("anthropic-beta", "interleaved-thinking-2025-05-14,mid-conversation-system-2026-04-07");
        if (apiKey is not null)
        {
            req.Headers.Add("x-api-key", apiKey);
        }

        return req;
    }

    /// <summary>Parses an SSE body into its events; asserts every event has an event: line whose name matches data.type.</summary>
    public static List<(string Event, JsonNode Data)> Events(string sse)
    {
        var list = new List<(string, JsonNode)>();
        foreach (var record in sse.Replace("\r\n", "\n", StringComparison.Ordinal).Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string? name = null;
            string? data = null;
            foreach (var line in record.Split('\n'))
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    name = line["event: ".Length..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    data = line["data: ".Length..];
                }
            }

            Assert.NotNull(name);
            Assert.NotNull(data);
            var node = JsonNode.Parse(data!)!;
            Assert.Equal(name, node["type"]!.GetValue<string>());
            list.Add((name!, node));
        }

        return list;
    }

    /// <summary>Reads SSE events as they arrive until <paramref name="until"/> says stop (or the stream ends).</summary>
    public static async Task<List<(string Event, JsonNode Data)>> ReadUntilAsync(StreamReader reader, Func<string, bool> until, CancellationToken ct)
    {
        var list = new List<(string, JsonNode)>();
        var record = new StringBuilder();
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (line.Length > 0)
            {
                record.Append(line).Append('\n');
                continue;
            }

            if (record.Length == 0)
            {
                continue;
            }

            var e = Events(record.ToString())[0];
            record.Clear();
            list.Add(e);
            if (until(e.Item1))
            {
                break;
            }
        }

        return list;
    }
}
