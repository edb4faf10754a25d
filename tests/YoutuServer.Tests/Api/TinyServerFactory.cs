using System.Globalization;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.Api;

/// <summary>
/// The server in process on a tiny model, as the fixtures with settings of their own start it: every client gets the
/// test timeouts, and <see cref="UseTinyModel"/> sets what they all set (model, the <see cref="ColdEngine"/> seed,
/// alias, slots, KV cells, threads).
/// </summary>
public abstract class TinyServerFactory : WebApplicationFactory<Program>
{
    protected override void ConfigureClient(HttpClient client)
    {
        base.ConfigureClient(client);
        TestTimeouts.Apply(client);
    }

    protected static void UseTinyModel(IWebHostBuilder builder, string file, string alias, int parallel, int ctxSize, int threads)
    {
        builder.UseSetting("Youtu:Model", file);
        builder.UseSetting("Youtu:Seed", ColdEngine.Seed);
        builder.UseSetting("Youtu:ModelAlias", alias);
        builder.UseSetting("Youtu:Parallel", parallel.ToString(CultureInfo.InvariantCulture));
        builder.UseSetting("Youtu:CtxSize", ctxSize.ToString(CultureInfo.InvariantCulture));
        builder.UseSetting("Youtu:Threads", threads.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>The list setting <c>Youtu:{name}:0</c>, <c>:1</c>, ... (API keys, alias map entries).</summary>
    protected static void UseList(IWebHostBuilder builder, string name, params string[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            builder.UseSetting($"Youtu:{name}:{i}", values[i]);
        }
    }
}
