namespace YoutuServer.Hosting;

/// <summary>A setting the server cannot start with (a missing keys file, a bad endpoint URL); the message says which.</summary>
internal sealed class ConfigurationException : Exception
{
    public ConfigurationException(string message) : base(message) { }
    public ConfigurationException() { }
    public ConfigurationException(string message, Exception inner) : base(message, inner) { }
}
