using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using YoutuServer.Hosting;
using YoutuServer.State;
using YoutuServer.State.Redis;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.State;

/// <summary>
/// The default per-tenant share of the state bounds: with API keys on, one key filling the stored responses keeps to
/// its share and evicts only its own, on both backends (in memory and on the shared store); without keys the one
/// anonymous tenant may use the whole store.
/// </summary>
public sealed class TenantFairnessTests
{
    private const int Items = 8;
    private static readonly TenantId A = new("key:aaaa");
    private static readonly TenantId B = new("key:bbbb");

    private static ServerOptions Options(bool keys) => new()
    {
        ResponsesStoreItems = Items,
        ApiKeys = keys ? ["sk-tenant-a-0123456789", "sk-tenant-b-0123456789"] : [],
    };

    private static StoredResponse Response(string id) => new() { Id = id, Body = "{}"u8.ToArray() };

    [Fact]
    public void The_share_defaults_to_a_quarter_with_keys_and_all_without_and_an_explicit_one_wins()
    {
        Assert.Equal(1.0, Options(keys: false).EffectiveStateTenantShare);
        Assert.Equal(ServerOptions.KeyedTenantShare, Options(keys: true).EffectiveStateTenantShare);
        Assert.True(ServerOptions.KeyedTenantShare < 1.0);
        Assert.Equal(ServerOptions.KeyedTenantShare, new ServerOptions { ApiKeysFile = "/keys.txt" }.EffectiveStateTenantShare);
        var explicitShare = Options(keys: true);
        explicitShare.StateTenantShare = 0.5;
        Assert.Equal(0.5, explicitShare.EffectiveStateTenantShare);
        Assert.Equal(Items / 4, StateServices.ResponsesBounds(Options(keys: true)).TenantMaxItems);
        Assert.Equal(Items, StateServices.ResponsesBounds(Options(keys: false)).TenantMaxItems);
    }

    [Fact]
    public async Task In_memory_with_keys_one_key_filling_the_store_does_not_evict_another_keys_responses()
    {
        using var services = new ServiceCollection().AddSingleton(Options(keys: true)).AddStateServices().BuildServiceProvider();
        var store = services.GetRequiredService<IResponseStore>();
        Assert.IsType<InMemoryResponseStore>(store);
        await FillAsync(store);
    }

    [Fact]
    public async Task In_memory_without_keys_the_one_tenant_may_use_the_whole_store()
    {
        using var services = new ServiceCollection().AddSingleton(Options(keys: false)).AddStateServices().BuildServiceProvider();
        var store = services.GetRequiredService<IResponseStore>();
        for (var i = 0; i < Items; i++)
        {
            Assert.True(await store.PutAsync(TenantId.Anonymous, Response($"resp_{i}"), default));
        }

        for (var i = 0; i < Items; i++)
        {
            Assert.NotNull(await store.GetAsync(TenantId.Anonymous, $"resp_{i}", default));
        }
    }

    [Fact]
    public async Task On_the_shared_store_with_keys_one_key_filling_its_share_does_not_evict_another_keys_responses()
    {
        await using var garnet = GarnetProcess.Start();
        await using var connection = await RedisStateConnection.ConnectAsync(StateStoreSettings.Parse(garnet.StateStore), NullLogger.Instance);
        using (var cts = new CancellationTokenSource(TestTimeouts.Seconds(30)))
        {
            await connection.WaitUpAsync(cts.Token);
        }

        var store = new RedisResponseStore(connection, () => "tiny-youtu", StateServices.ResponsesBounds(Options(keys: true)), TimeSpan.FromMinutes(5));
        await FillAsync(store);
    }

    /// <summary>B stores two; A then stores the store's whole bound and more: B keeps both, A holds only its share.</summary>
    private static async Task FillAsync(IResponseStore store)
    {
        Assert.True(await store.PutAsync(B, Response("resp_b1"), default));
        Assert.True(await store.PutAsync(B, Response("resp_b2"), default));
        for (var i = 0; i < Items * 3; i++)
        {
            Assert.True(await store.PutAsync(A, Response($"resp_a{i}"), default));
        }

        Assert.NotNull(await store.GetAsync(B, "resp_b1", default));
        Assert.NotNull(await store.GetAsync(B, "resp_b2", default));
        var held = 0;
        for (var i = 0; i < Items * 3; i++)
        {
            held += await store.GetAsync(A, $"resp_a{i}", default) is null ? 0 : 1;
        }

        Assert.Equal(Items / 4, held);
        // A's newest survive (least recently used out first).
        Assert.NotNull(await store.GetAsync(A, $"resp_a{(Items * 3) - 1}", default));
    }
}
