using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;
using YoutuServer.State;
using YoutuServer.State.Redis;
using YoutuServer.TestSupport;

namespace YoutuServer.Tests.State;

/// <summary>
/// The Redis-protocol backend's contract against a real server (Garnet in process): two connections stand for two
/// replicas. Bounds are per tenant and model, reads count as use, a half-written or newer entry is never read as
/// valid, a dead store is a <see cref="StateUnavailableException"/> and the connection comes back by itself.
/// </summary>
public sealed class RedisStateMapTests : IAsyncLifetime
{
    private const string Model = "tiny-youtu";
    private GarnetProcess garnet = null!;
    private RedisStateConnection a = null!;
    private RedisStateConnection b = null!;

    public async Task InitializeAsync()
    {
        garnet = GarnetProcess.Start();
        a = await RedisStateConnection.ConnectAsync(StateStoreSettings.Parse(garnet.StateStore), NullLogger.Instance);
        b = await RedisStateConnection.ConnectAsync(StateStoreSettings.Parse(garnet.StateStore), NullLogger.Instance);
        using var cts = new CancellationTokenSource(TestTimeouts.Seconds(30));
        await a.WaitUpAsync(cts.Token);
        await b.WaitUpAsync(cts.Token);
    }

    public async Task DisposeAsync()
    {
        await a.DisposeAsync();
        await b.DisposeAsync();
        await garnet.DisposeAsync();
    }

    private static RedisStateMap<Note> Map(RedisStateConnection c, int items = 100, long bytes = 1 << 20, string kind = "note", IStateCodec<Note>? codec = null) =>
        new(c, kind, codec ?? new NoteCodec(), TimeSpan.FromMinutes(5), items, bytes);

    [Fact]
    public async Task Several_records_are_read_in_one_batch_in_order_null_where_absent()
    {
        Assert.Equal(StatePut.Stored, await Map(a).PutAsync("key:aaaa", Model, "m1", new Note("one", [1], null)));
        Assert.Equal(StatePut.Stored, await Map(a).PutAsync("key:aaaa", Model, "m3", new Note("three", [3], "x")));
        var read = await Map(b).GetManyAsync("key:aaaa", Model, ["m1", "m2", "m3"]);
        Assert.Equal(3, read.Length);
        Assert.Equal("one", read[0]!.Text);
        Assert.Null(read[1]);
        Assert.Equal("three", read[2]!.Text);
        Assert.Equal("x", read[2]!.Extra);
        Assert.All(await Map(b).GetManyAsync("key:bbbb", Model, ["m1", "m3"]), Assert.Null);
        Assert.Empty(await Map(b).GetManyAsync("key:aaaa", Model, []));
    }

    [Fact]
    public async Task What_one_replica_stores_another_reads_exactly_and_deletes()
    {
        var note = new Note("héllo 🧠", [1, -2, 150_000, int.MaxValue], null);
        Assert.Equal(StatePut.Stored, await Map(a).PutAsync("key:aaaa", Model, "n1", note));
        var read = await Map(b).GetAsync("key:aaaa", Model, "n1");
        Assert.NotNull(read);
        Assert.Equal(note.Text, read.Text);
        Assert.Equal(note.Tokens, read.Tokens);
        Assert.Null(read.Extra);

        // Another tenant or model does not see it.
        Assert.Null(await Map(b).GetAsync("key:bbbb", Model, "n1"));
        Assert.Null(await Map(b).GetAsync(null, Model, "n1"));
        Assert.Null(await Map(b).GetAsync("key:aaaa", "other-model", "n1"));

        Assert.True(await Map(b).DeleteAsync("key:aaaa", Model, "n1"));
        Assert.Null(await Map(a).GetAsync("key:aaaa", Model, "n1"));
        Assert.False(await Map(a).DeleteAsync("key:aaaa", Model, "n1"));
        Assert.Equal(0, await Map(a).CountAsync("key:aaaa", Model));
    }

    [Fact]
    public async Task Put_if_absent_and_compare_and_set_settle_a_race_between_replicas()
    {
        var first = new Note("first", [], null);
        Assert.Equal(StatePut.Stored, await Map(a).PutAsync(null, Model, "x", first, ifAbsent: true));
        Assert.Equal(StatePut.Exists, await Map(b).PutAsync(null, Model, "x", new Note("second", [], null), ifAbsent: true));
        Assert.Equal("first", (await Map(b).GetAsync(null, Model, "x"))!.Text);

        Assert.True(await Map(b).ReplaceAsync(null, Model, "x", first, new Note("by b", [], null)));
        Assert.False(await Map(a).ReplaceAsync(null, Model, "x", first, new Note("by a, stale", [], null)));
        Assert.Equal("by b", (await Map(a).GetAsync(null, Model, "x"))!.Text);
    }

    [Fact]
    public async Task Bounds_are_per_tenant_so_one_key_cannot_evict_another_and_reads_count_as_use()
    {
        var noisy = Map(a, items: 3);
        var quiet = Map(b, items: 3);
        Assert.Equal(StatePut.Stored, await quiet.PutAsync("key:quiet", Model, "q", new Note("keep me", [], null)));
        for (var i = 0; i < 3; i++)
        {
            await noisy.PutAsync("key:noisy", Model, "n" + i, new Note("n" + i, [], null));
        }

        // n0 read (used) last: n1 is the least recently used when two more arrive.
        Assert.NotNull(await noisy.GetAsync("key:noisy", Model, "n0"));
        await noisy.PutAsync("key:noisy", Model, "n3", new Note("n3", [], null));
        await noisy.PutAsync("key:noisy", Model, "n4", new Note("n4", [], null));
        Assert.Equal(3, await noisy.CountAsync("key:noisy", Model));
        Assert.NotNull(await noisy.GetAsync("key:noisy", Model, "n0"));
        Assert.Null(await noisy.GetAsync("key:noisy", Model, "n1"));
        Assert.Null(await noisy.GetAsync("key:noisy", Model, "n2"));
        Assert.NotNull(await noisy.GetAsync("key:noisy", Model, "n4"));
        Assert.Equal("keep me", (await quiet.GetAsync("key:quiet", Model, "q"))!.Text);

        // Bytes: a value over the tenant's byte bound is refused; filling the bytes evicts the oldest.
        var small = Map(a, items: 100, bytes: 400);
        Assert.Equal(StatePut.TooLarge, await small.PutAsync("key:bytes", Model, "big", new Note(new string('x', 500), [], null)));
        await small.PutAsync("key:bytes", Model, "b1", new Note(new string('1', 150), [], null));
        await small.PutAsync("key:bytes", Model, "b2", new Note(new string('2', 150), [], null));
        await small.PutAsync("key:bytes", Model, "b3", new Note(new string('3', 150), [], null));
        Assert.Null(await small.GetAsync("key:bytes", Model, "b1"));
        Assert.NotNull(await small.GetAsync("key:bytes", Model, "b2"));
        Assert.NotNull(await small.GetAsync("key:bytes", Model, "b3"));
    }

    [Fact]
    public async Task A_half_written_altered_or_foreign_value_is_never_read_as_valid()
    {
        var map = Map(a);
        await map.PutAsync("key:c", Model, "whole", new Note("whole", [7, 8, 9], null));
        var db = a.Database;
        var key = RedisKeys.Scope("note", "key:c", Model) + RedisKeys.EntryMark + "whole";
        var frame = (byte[])(await db.StringGetAsync(key))!;
        Assert.NotNull(await map.GetAsync("key:c", Model, "whole"));

        // Truncated (a write cut short), one byte flipped, and a value some other program left under our key.
        await db.StringSetAsync(key, frame.AsSpan(0, frame.Length - 5).ToArray());
        Assert.Null(await map.GetAsync("key:c", Model, "whole"));
        var flipped = (byte[])frame.Clone();
        flipped[14] ^= 0x40;
        await db.StringSetAsync(key, flipped);
        Assert.Null(await map.GetAsync("key:c", Model, "whole"));
        await db.StringSetAsync(key, "plain text"u8.ToArray());
        Assert.Null(await map.GetAsync("key:c", Model, "whole"));

        // A record of another kind under this map's key (a bug elsewhere) is not read as ours either.
        await db.StringSetAsync(key, StateEnvelope.Wrap(99, 1, 0, "x"u8));
        Assert.Null(await map.GetAsync("key:c", Model, "whole"));
    }

    [Fact]
    public async Task Versions_a_newer_replica_reads_an_older_ones_entries_and_a_newer_major_is_ignored_cleanly()
    {
        // v1.0 writes (no Extra field); v1.1 reads it with the field defaulted, and v1.0 reads v1.1's, stopping early.
        await Map(a, codec: new NoteCodec(minor: 0)).PutAsync(null, Model, "old", new Note("old", [1], "dropped by v1.0"));
        var byNewer = await Map(b, codec: new NoteCodec(minor: 1)).GetAsync(null, Model, "old");
        Assert.Equal("old", byNewer!.Text);
        Assert.Null(byNewer.Extra);

        await Map(b, codec: new NoteCodec(minor: 1)).PutAsync(null, Model, "new", new Note("new", [2], "extra"));
        Assert.Equal("extra", (await Map(b, codec: new NoteCodec(minor: 1)).GetAsync(null, Model, "new"))!.Extra);
        var byOlder = await Map(a, codec: new NoteCodec(minor: 0)).GetAsync(null, Model, "new");
        Assert.Equal("new", byOlder!.Text);
        Assert.Equal([2], byOlder.Tokens);

        // Major 2 means another layout: a major-1 replica treats it as absent (no exception, no garbage).
        await Map(b, codec: new NoteCodec(major: 2)).PutAsync(null, Model, "v2", new Note("v2", [], null));
        Assert.Null(await Map(a).GetAsync(null, Model, "v2"));
    }

    [Fact]
    public async Task Ids_cannot_reach_the_index_and_keys_are_namespaced_by_tenant_and_model()
    {
        var map = Map(a);
        await map.PutAsync("key:{evil}", "m|x", "id", new Note("t", [], null));
        Assert.Null(await map.GetAsync("key:{evil}", "m|x", "#index"));
        Assert.Null(await map.GetAsync("key:{evil}", "m|x", "#sizes"));
        Assert.Equal("youtu:resp:{key:_evil_|m_x}:", RedisKeys.Scope("resp", "key:{evil}", "m|x"));
        Assert.Equal("youtu:resp:{-|tiny}:", RedisKeys.Scope("resp", null, "tiny"));
    }

    [Fact]
    public async Task A_dead_store_is_a_clear_unavailable_error_and_the_connection_comes_back_by_itself()
    {
        var map = Map(a);
        await map.PutAsync(null, Model, "before", new Note("before", [], null));
        garnet.Stop();
        var e = await Assert.ThrowsAsync<StateUnavailableException>(() => map.GetAsync(null, Model, "before"));
        Assert.Contains("unavailable", e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<StateUnavailableException>(() => map.PutAsync(null, Model, "during", new Note("x", [], null)));
        Assert.Null(await a.PingAsync());

        garnet.Restart();
        using var cts = new CancellationTokenSource(TestTimeouts.Seconds(60));
        await a.WaitUpAsync(cts.Token);
        Assert.True(a.IsUp);
        Assert.Equal(StatePut.Stored, await map.PutAsync(null, Model, "after", new Note("after", [], null)));
        await b.WaitUpAsync(cts.Token); // a connection still down fails at once (no queueing), so b must be back too
        Assert.Equal("after", (await Map(b).GetAsync(null, Model, "after"))?.Text);
    }

    [Theory]
    [InlineData("memory", false, "memory")]
    [InlineData("", false, "memory")]
    [InlineData("redis://valkey:6379", true, "redis://valkey:6379")]
    [InlineData("redis://:s3cret@valkey:6379,defaultDatabase=2", true, "redis://valkey:6379")]
    [InlineData("rediss://cache.example:6380,password=s3cret", true, "rediss://cache.example:6380")]
    public void The_state_store_setting_is_memory_or_a_redis_address_and_never_aborts_on_connect(string value, bool redis, string display)
    {
        var s = StateStoreSettings.Parse(value);
        Assert.Equal(redis, s.IsRedis);
        Assert.Equal(display, s.Display);
        Assert.DoesNotContain("s3cret", s.Display, StringComparison.Ordinal);
        if (redis)
        {
            Assert.False(s.Redis!.AbortOnConnectFail);
            Assert.Equal(value.StartsWith("rediss", StringComparison.Ordinal), s.Redis.Ssl);
        }

        if (value.Contains("s3cret", StringComparison.Ordinal))
        {
            Assert.Equal("s3cret", s.Redis!.Password);
        }
    }

    [Theory]
    [InlineData("valkey:6379")]
    [InlineData("redis://valkey")]
    [InlineData("redis://valkey:notaport")]
    [InlineData("http://valkey:6379")]
    public void A_malformed_state_store_setting_is_refused_at_start(string value)
    {
        var e = Assert.Throws<YoutuServer.Hosting.ConfigurationException>(() => StateStoreSettings.Parse(value));
        Assert.Contains("--state-store", e.Message, StringComparison.Ordinal);
    }

    private sealed record Note(string Text, int[] Tokens, string? Extra);

    [Fact]
    public async Task A_store_without_scripting_is_a_clear_unavailable_error_that_says_why_not_a_crash()
    {
        // garnet-server starts without Lua unless told --lua: every bounded write (one EVAL) is refused.
        await using var noLua = GarnetProcess.Start(lua: false);
        await using var c = await RedisStateConnection.ConnectAsync(StateStoreSettings.Parse(noLua.StateStore), NullLogger.Instance);
        using (var cts = new CancellationTokenSource(TestTimeouts.Seconds(30)))
        {
            await c.WaitUpAsync(cts.Token);
        }

        Assert.False(await c.CheckScriptingAsync());
        var e = await Assert.ThrowsAsync<StateUnavailableException>(() => Map(c).PutAsync("key:aaaa", Model, "n1", new Note("x", [1], null)));
        Assert.Contains("refused", e.Message, StringComparison.Ordinal);
        Assert.Contains("Lua", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(RedisStateConnection.RetryAfterSeconds, e.RetryAfterSeconds);
        Assert.True(await a.CheckScriptingAsync()); // the scripting store of the other tests runs them
    }

    private sealed class NoteCodec(byte major = 1, byte minor = 1) : IStateCodec<Note>
    {
        public byte Kind => 42;
        public byte Major => major;
        public byte Minor => minor;

        public void Write(Note value, CompactWriter writer)
        {
            writer.WriteString(value.Text);
            writer.WriteInts(value.Tokens);
            if (minor >= 1)
            {
                writer.WriteString(value.Extra);
            }
        }

        public Note Read(ref CompactReader reader, byte writtenMinor)
        {
            var text = reader.ReadString() ?? "";
            var tokens = reader.ReadInts();
            var extra = writtenMinor >= 1 && minor >= 1 && !reader.AtEnd ? reader.ReadString() : null;
            return new Note(text, tokens, extra);
        }
    }
}
