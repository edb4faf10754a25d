using YoutuServer.Hosting;

namespace YoutuServer.State;

/// <summary>Registers the state services: in memory, bounded by the serve options, on /metrics (<see cref="StateMetrics"/>).</summary>
internal static class StateServices
{
    public static IServiceCollection AddStateServices(this IServiceCollection services)
    {
        services.AddSingleton<IResponseStore>(sp =>
        {
            var o = sp.GetRequiredService<ServerOptions>();
            return new InMemoryResponseStore(CacheBounds.Of(o.ResponsesStoreItems, o.ResponsesStoreBytes, o.StateTenantShare));
        });
        services.AddSingleton<IOutputMemory>(sp =>
        {
            var o = sp.GetRequiredService<ServerOptions>();
            return new InMemoryOutputMemory(CacheBounds.Of(o.OutputMemoryItems, o.OutputMemoryBytes, o.StateTenantShare));
        });
        services.AddSingleton<IToolUseMemory>(sp =>
        {
            var o = sp.GetRequiredService<ServerOptions>();
            return new InMemoryToolUseMemory(CacheBounds.Of(o.ToolUseMemoryItems, o.ToolUseMemoryBytes, o.StateTenantShare));
        });
        return services;
    }
}
