namespace YoutuServer.Chat.Messages;

/// <summary>
/// The conversation is one the chat template cannot render (the reference Jinja template would raise).
/// The HTTP layer reports it as a 400 invalid_request_error.
/// </summary>
public sealed class ChatTemplateException : Exception
{
    public ChatTemplateException()
    {
    }

    public ChatTemplateException(string message)
        : base(message)
    {
    }

    public ChatTemplateException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
