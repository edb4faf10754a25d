using System.Text;

namespace YoutuServer.Tests.Api;

/// <summary>Request bodies for the HTTP tests (<c>using static</c>).</summary>
internal static class HttpJson
{
    /// <summary><paramref name="json"/> as an application/json body.</summary>
    public static StringContent Body(string json) => new(json, Encoding.UTF8, "application/json");
}
