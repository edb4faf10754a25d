using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace YoutuServer.Http;

/// <summary>
/// Reads a JSON body with our own error mapping: malformed JSON, invalid UTF-8, nesting beyond 64 levels and
/// wrong types all become 400s whose param names the offending field (from the reader's JSON path).
/// </summary>
internal static class RequestBody
{
    public static async Task<T> ReadAsync<T>(HttpContext http, JsonTypeInfo<T> typeInfo) where T : class
    {
        if (http.Request.ContentType is { } ct && !ct.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            throw ApiException.BadRequest($"Unsupported content type '{ct}': send application/json.");
        }

        T? value;
        try
        {
            value = await JsonSerializer.DeserializeAsync(http.Request.Body, typeInfo, http.RequestAborted);
        }
        catch (JsonException e)
        {
            var param = ParamFromPath(e.Path);
            var what = e.InnerException is InvalidOperationException or FormatException || e.Message.Contains("could not be converted", StringComparison.Ordinal)
                ? param is null ? "The request body has a value of the wrong type." : $"Invalid type or value for '{param}'."
                : $"The request body is not valid JSON ({Short(e.Message)}).";
            throw new ApiException(400, what, "invalid_request_error", param, param is null ? "invalid_json" : "invalid_type");
        }
        catch (Exception e) when (e is InvalidOperationException or System.Text.DecoderFallbackException or ArgumentException)
        {
            // System.Text.Json reports invalid UTF-8 inside strings this way.
            throw new ApiException(400, "The request body is not valid UTF-8 JSON.", "invalid_request_error", null, "invalid_json");
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new ApiException(413, "The request body is too large.", "invalid_request_error", null, "request_too_large");
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e)
        {
            // Typically the client went away while sending its body ("Unexpected end of request content"):
            // a client error, never a 500 with an error log.
            throw new ApiException(e.StatusCode is >= 400 and < 500 ? e.StatusCode : 400, $"The request body could not be read: {e.Message}", "invalid_request_error", null, "invalid_body");
        }

        return value ?? throw ApiException.BadRequest("The request body must be a JSON object.");
    }

    /// <summary>"$.messages[0].content" → "messages[0].content".</summary>
    public static string? ParamFromPath(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$")
        {
            return null;
        }

        return path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
    }

    private static string Short(string message)
    {
        var i = message.IndexOf(" Path:", StringComparison.Ordinal);
        return i > 0 ? message[..i] : message;
    }
}
