namespace YoutuServer.Chat.Grammar;

/// <summary>
/// A JSON schema (or tool / response_format definition) that cannot be turned into a grammar:
/// an unsupported keyword, an unsatisfiable combination, or a schema beyond the complexity limits.
/// The HTTP layer answers 400 with <see cref="Exception.Message"/>, which names the keyword and the JSON pointer.
/// </summary>
public sealed class UnsupportedSchemaException : Exception
{
    public UnsupportedSchemaException(string keyword, string path, string detail)
        : base(FormatMessage(keyword, path, detail))
    {
        Keyword = keyword;
        Path = path;
        Detail = detail;
    }

    /// <summary>The keyword at fault, e.g. <c>not</c>, <c>$ref</c>, <c>maxItems</c>.</summary>
    public string Keyword { get; }

    /// <summary>JSON pointer of the schema holding the keyword, e.g. <c>/properties/tags</c> (empty = the root).</summary>
    public string Path { get; }

    /// <summary>The reason, without keyword and path.</summary>
    public string Detail { get; }

    private static string FormatMessage(string keyword, string path, string detail)
    {
        var where = path.Length == 0 ? "/" : path;
        return $"Unsupported JSON schema: '{keyword}' at '{where}': {detail}";
    }
}

/// <summary>Maps System.Text.Json's complaints about the request's strings (lone UTF-16 surrogates) to a 400.</summary>
internal static class SchemaGuard
{
    public static T Run<T>(string path, Func<T> build)
    {
        try
        {
            return build();
        }
        catch (InvalidOperationException e) when (e.Source?.StartsWith("System.Text.Json", StringComparison.Ordinal) == true)
        {
            throw new UnsupportedSchemaException("schema", path, "a string is not valid UTF-16: " + e.Message);
        }
    }
}
