using System.Text.Json;
using YoutuServer.Http;

namespace YoutuServer.Api.Common;

/// <summary>The OpenAI family's <c>stop</c> field (a string or an array of strings), for every format that has it.</summary>
internal static class StopSequences
{
    /// <summary>OpenAI's own bound on stop strings.</summary>
    public const int MaxStop = 4;

    public static List<string> Parse(JsonElement? stop)
    {
        if (stop is not { } s || s.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return [];
        }

        if (s.ValueKind == JsonValueKind.String)
        {
            var v = s.GetString()!;
            return v.Length == 0 ? throw ApiException.BadRequest("'stop' strings must not be empty.", "stop") : [v];
        }

        if (s.ValueKind != JsonValueKind.Array)
        {
            throw ApiException.BadRequest("'stop' must be a string or an array of up to 4 strings.", "stop");
        }

        var list = new List<string>();
        foreach (var e in s.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.String || e.GetString() is not { Length: > 0 } str)
            {
                throw ApiException.BadRequest("'stop' must contain non-empty strings only.", "stop");
            }

            list.Add(str);
        }

        return list.Count > MaxStop ? throw ApiException.BadRequest($"'stop' may hold at most {MaxStop} strings, got {list.Count}.", "stop") : list;
    }
}
