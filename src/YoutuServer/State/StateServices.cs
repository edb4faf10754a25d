using YoutuServer.Hosting;

namespace YoutuServer.State;

/// <summary>
/// Registers the state services: in memory, bounded by the serve options, on /metrics (<see cref="StateMetrics"/>);
/// or, with <c>--state-store redis://...</c>, on the shared store (<see cref="Redis.RedisStateConnection"/>), keyed by
/// tenant and served model, bounded per tenant by the same options.
/// </summary>
internal static class StateServices
{
    public static IServiceCollection AddStateServices(this IServiceCollection services)
    {
        services.AddSingleton<IResponseStore>(sp => Shared(sp) is { } s
            ? new Redis.RedisResponseStore(s.Connection, s.Model, ResponsesBounds(s.Options), s.Ttl)
            : InMemoryResponses(sp));
        services.AddSingleton<IOutputMemory>(sp => Shared(sp) is { } s
            ? new Redis.RedisOutputMemory(s.Connection, s.Model, OutputBounds(s.Options), s.Ttl)
            : InMemoryOutputs(sp));
        services.AddSingleton<IToolUseMemory>(sp => Shared(sp) is { } s
            ? new Redis.RedisToolUseMemory(s.Connection, s.Model, ToolUseBounds(s.Options), s.Ttl)
            : InMemoryToolUses(sp));
        return services;
    }

    /// <summary>The stored responses' bounds, the same on every backend: a tenant holds at most its share of them.</summary>
    public static CacheBounds ResponsesBounds(ServerOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        return CacheBounds.Of(o.ResponsesStoreItems, o.ResponsesStoreBytes, o.EffectiveStateTenantShare);
    }

    private static CacheBounds OutputBounds(ServerOptions o) => CacheBounds.Of(o.OutputMemoryItems, o.OutputMemoryBytes, o.EffectiveStateTenantShare);

    private static CacheBounds ToolUseBounds(ServerOptions o) => CacheBounds.Of(o.ToolUseMemoryItems, o.ToolUseMemoryBytes, o.EffectiveStateTenantShare);

    private sealed record SharedStore(Redis.RedisStateConnection Connection, Func<string> Model, ServerOptions Options, TimeSpan Ttl);

    private static SharedStore? Shared(IServiceProvider sp)
    {
        if (sp.GetService<StateStoreStatus>()?.Connection is not { } connection)
        {
            return null;
        }

        var options = sp.GetRequiredService<ServerOptions>();
        var host = sp.GetRequiredService<EngineHost>();
        return new SharedStore(connection, () => host.ServedModelId, options, TimeSpan.FromSeconds(Math.Max(1, options.StateTtlSeconds)));
    }

    private static InMemoryResponseStore InMemoryResponses(IServiceProvider sp)
    {
        var o = sp.GetRequiredService<ServerOptions>();
        return new InMemoryResponseStore(ResponsesBounds(o));
    }

    private static InMemoryOutputMemory InMemoryOutputs(IServiceProvider sp)
    {
        var o = sp.GetRequiredService<ServerOptions>();
        return new InMemoryOutputMemory(OutputBounds(o));
    }

    private static InMemoryToolUseMemory InMemoryToolUses(IServiceProvider sp)
    {
        var o = sp.GetRequiredService<ServerOptions>();
        return new InMemoryToolUseMemory(ToolUseBounds(o));
    }
}
