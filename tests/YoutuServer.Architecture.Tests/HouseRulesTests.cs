using System.Reflection;
using Microsoft.Extensions.Logging;

namespace YoutuServer.Architecture.Tests;

/// <summary>House rules checked on the compiled assemblies.</summary>
public sealed class HouseRulesTests
{
    public static TheoryData<string> OurAssemblies() => new(Assemblies.Keys);

    private static readonly Dictionary<string, Assembly> Assemblies = new[]
    {
        typeof(Program).Assembly,
        typeof(YoutuServer.Engine.EngineOptions).Assembly,
        typeof(YoutuServer.Chat.Parsing.AssistantOutputParser).Assembly,
        typeof(YoutuServer.Native.NativeLibraryException).Assembly,
    }.ToDictionary(a => a.GetName().Name!);

    /// <summary>
    /// Every <c>[LoggerMessage]</c> carries an EventId, unique in its assembly, so a log query can select one event.
    /// Ranges per room: docs/operations.md, "Log event ids".
    /// </summary>
    [Theory]
    [MemberData(nameof(OurAssemblies))]
    public void Every_logger_message_has_a_unique_event_id(string assembly)
    {
        var messages = Assemblies[assembly].GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(x => x.Attribute is not null)
            .Select(x => (Name: $"{x.Method.DeclaringType!.FullName}.{x.Method.Name}", x.Attribute!.EventId))
            .ToArray();

        var missing = messages.Where(m => m.EventId <= 0).Select(m => m.Name).ToArray();
        Assert.True(missing.Length == 0, "[LoggerMessage] without an EventId: " + string.Join(", ", missing));
        var duplicates = messages.GroupBy(m => m.EventId).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => m.Name))}").ToArray();
        Assert.True(duplicates.Length == 0, "EventIds used twice: " + string.Join("; ", duplicates));
    }

    [Fact]
    public void The_logger_messages_are_seen()
    {
        // Guards the reflection above: the host and the engine do log through [LoggerMessage].
        foreach (var assembly in new[] { "youtu-server", "YoutuServer.Engine" })
        {
            Assert.Contains(Assemblies[assembly].GetTypes().SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.DeclaredOnly)),
                m => m.GetCustomAttribute<LoggerMessageAttribute>() is not null);
        }
    }
}
