using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static YoutuServer.Tests.Api.HttpJson;

namespace YoutuServer.Tests.Api;

/// <summary>
/// Requests whose constraints can leave no token to sample (a complete grammar under ignore_eos / min_tokens, a
/// reasoning budget ending inside a grammar) answer 200 with finish_reason stop or length, never a 500
/// generation_failed. Every request carries its own seed, so the outcome does not depend on other tests.
/// </summary>
[Collection("server")]
public sealed class ConstraintConflictHttpTests(ServerFixture server)
{
    // Fuzz case #372 (seed 20251124) verbatim but for the model name and a seed: json_schema with recursive $refs,
    // thinking on, reasoning_budget 2, ignore_eos, min_tokens 1, max_completion_tokens 4. On fresh clones it answered
    // 500 "no token is allowed by the grammar at this point" whenever the drawn seed completed the JSON early.
    private const string FuzzCase372 =
        """{"model":"MODEL","messages":[{"role":"developer","content":[{"type":"text","text":"rules"}]},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"input_text","text":"again"}],"name":"bob"}],"max_completion_tokens":4,"reasoning_effort":"low","chat_template_kwargs":{"enable_thinking":true},"reasoning_budget":2,"ignore_eos":true,"min_tokens":1,"user":"u1","response_format":{"type":"json_schema","json_schema":{"name":"bomb","schema":{"$defs":{"a":{"type":"object","properties":{"b":{"$ref":"#/$defs/b"}}},"b":{"anyOf":[{"$ref":"#/$defs/a"},{"type":"array","items":{"$ref":"#/$defs/b"}}]}},"$ref":"#/$defs/a"}}},"unknown_215":1E+308,"seed":SEED}""";

    [Fact]
    public async Task Fuzz_case_372_answers_200_for_every_seed_streaming_and_not()
    {
        using var client = server.CreateClient();
        var bad = new List<string>();
        for (var seed = 0; seed < 16; seed++)
        {
            var body = FuzzCase372.Replace("MODEL", ServerFixture.ModelId, StringComparison.Ordinal)
                .Replace("SEED", seed.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
            if (seed % 4 == 3)
            {
                body = body.TrimEnd('}') + ",\"stream\":true}";
            }

            using var res = await client.PostAsync("/v1/chat/completions", Body(body));
            var text = await res.Content.ReadAsStringAsync();
            if (res.StatusCode != HttpStatusCode.OK || text.Contains("\"error\"", StringComparison.Ordinal))
            {
                bad.Add($"seed {seed}: {(int)res.StatusCode} {text[..Math.Min(300, text.Length)]}");
            }
        }

        Assert.True(bad.Count == 0, string.Join("\n", bad));
    }

    [Theory]
    [InlineData(",\"ignore_eos\":true")]
    [InlineData(",\"min_tokens\":30")]
    [InlineData(",\"ignore_eos\":true,\"min_tokens\":30,\"stream\":true")]
    public async Task A_json_answer_that_is_complete_stops_although_the_request_forbids_the_end(string extra)
    {
        using var client = server.CreateClient();
        var body = "{\"model\":\"" + ServerFixture.ModelId + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Yes or no?\"}],\"max_tokens\":40,\"seed\":11,"
            + "\"enable_thinking\":false,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"b\",\"schema\":{\"type\":\"boolean\"}}}" + extra + "}";
        using var res = await client.PostAsync("/v1/chat/completions", Body(body));
        var text = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.OK, text);
        string content;
        string? finish;
        if (extra.Contains("stream", StringComparison.Ordinal))
        {
            var sb = new StringBuilder();
            finish = null;
            foreach (var line in text.Split('\n').Where(l => l.StartsWith("data: {", StringComparison.Ordinal)))
            {
                Assert.DoesNotContain("\"error\"", line, StringComparison.Ordinal);
                var choice = JsonNode.Parse(line[6..])!["choices"]!.AsArray().FirstOrDefault();
                sb.Append(choice?["delta"]?["content"]?.GetValue<string>());
                finish ??= choice?["finish_reason"]?.GetValue<string>();
            }

            content = sb.ToString();
        }
        else
        {
            var choice = JsonNode.Parse(text)!["choices"]![0]!;
            content = choice["message"]!["content"]!.GetValue<string>();
            finish = choice["finish_reason"]!.GetValue<string>();
        }

        Assert.Equal("stop", finish);
        using var doc = JsonDocument.Parse(content);
        Assert.True(doc.RootElement.ValueKind is JsonValueKind.True or JsonValueKind.False, content);
    }
}
