namespace YoutuServer.Chat.Messages;

/// <summary>Turns a conversation into the exact prompt text a model's chat template would produce.</summary>
public interface IChatFormatter
{
    /// <summary>A short stable identifier, e.g. "youtu".</summary>
    string Name { get; }

    /// <exception cref="ChatTemplateException">The conversation cannot be rendered by this template.</exception>
    string Render(IReadOnlyList<ChatMessage> messages, ChatRenderOptions options);
}
