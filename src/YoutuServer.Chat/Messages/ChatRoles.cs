namespace YoutuServer.Chat.Messages;

/// <summary>The OpenAI role names the chat model understands. Roles are compared ordinally (case-sensitive), as Jinja does.</summary>
public static class ChatRoles
{
    public const string System = "system";

    /// <summary>OpenAI's newer name for system instructions; formatters treat it exactly like <see cref="System"/>.</summary>
    public const string Developer = "developer";

    public const string User = "user";
    public const string Assistant = "assistant";
    public const string Tool = "tool";
}
