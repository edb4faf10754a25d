using System.Diagnostics.CodeAnalysis;
using System.Text.Json;

namespace YoutuServer.Chat.Messages;

/// <summary>A function call made by the assistant in an earlier turn.</summary>
public sealed record ChatToolCall
{
    public ChatToolCall()
    {
    }

    [SetsRequiredMembers]
    public ChatToolCall(string? id, string name, JsonElement arguments)
    {
        Id = id;
        Name = name;
        Arguments = arguments;
    }

    public string? Id { get; init; }

    public required string Name { get; init; }

    /// <summary>
    /// The call arguments as they arrived. A JSON string (the OpenAI wire form) is inserted verbatim;
    /// any other JSON value is rendered with HF-style <c>tojson</c>. <c>default(JsonElement)</c> means "missing"
    /// and cannot be rendered.
    /// </summary>
    public JsonElement Arguments { get; init; }

    /// <summary>Builds a call whose arguments are the raw OpenAI argument string, inserted into prompts verbatim.</summary>
    public static ChatToolCall FromArgumentsString(string? id, string name, string arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        return new ChatToolCall(id, name, JsonStringElement(arguments));
    }

    private static JsonElement JsonStringElement(string value)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(value.Length + 16);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStringValue(value);
        }

        using var doc = JsonDocument.Parse(buffer.WrittenMemory);
        return doc.RootElement.Clone();
    }
}
