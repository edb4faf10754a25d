using System.Buffers.Binary;
using YoutuServer.Engine.Gguf;

namespace YoutuServer.Engine.Tests.Gguf;

public sealed class GgufReaderWriterTests
{
    private static GgufFile RoundTrip(GgufWriter w)
    {
        using var ms = new MemoryStream();
        w.WriteTo(ms);
        Assert.Equal(w.FileLength, ms.Length);
        return GgufReader.Read(ms);
    }

    [Fact]
    public void Round_trips_every_value_type_including_nested_arrays()
    {
        var w = new GgufWriter();
        w.AddUInt8("u8", 200);
        w.AddInt8("i8", -100);
        w.AddUInt16("u16", 65000);
        w.AddInt16("i16", -32000);
        w.AddUInt32("u32", 4_000_000_000);
        w.AddInt32("i32", -2_000_000_000);
        w.AddUInt64("u64", ulong.MaxValue - 1);
        w.AddInt64("i64", long.MinValue + 1);
        w.AddFloat32("f32", 1.6e6f);
        w.AddFloat64("f64", Math.PI);
        w.AddBool("bool", true);
        w.AddString("str", "héllo <|User|> 世界");
        w.AddString("empty", "");
        w.AddStringArray("arr.str", ["a", "", "Ġthe", "<think>"]);
        w.AddInt32Array("arr.i32", [1, -2, 3]);
        w.AddUInt32Array("arr.u32", [7, 8]);
        w.AddFloat32Array("arr.f32", [0.5f, -0.25f]);
        w.AddArray("arr.u8", GgufArray.FromUInt8([1, 2, 255]));
        w.AddArray("arr.i8", GgufArray.FromInt8([-1, 2]));
        w.AddArray("arr.u16", GgufArray.FromUInt16([1, 65535]));
        w.AddArray("arr.i16", GgufArray.FromInt16([-1, 32767]));
        w.AddArray("arr.u64", GgufArray.FromUInt64([ulong.MaxValue]));
        w.AddArray("arr.i64", GgufArray.FromInt64([long.MinValue]));
        w.AddArray("arr.f64", GgufArray.FromFloat64([double.Epsilon]));
        w.AddArray("arr.bool", GgufArray.FromBool([true, false, true]));
        w.AddArray("arr.nested", GgufArray.FromArrays([GgufArray.FromInt32([1, 2]), GgufArray.FromStrings(["x"]), GgufArray.FromArrays([GgufArray.FromBool([false])])]));
        w.AddArray("arr.empty", GgufArray.FromInt32([]));

        var f = RoundTrip(w);
        Assert.Equal(3u, f.Version);
        Assert.Equal(32u, f.Alignment);
        Assert.Equal(w.KeyValueCount, f.Metadata.Count);
        Assert.Equal("u8", f.Metadata[0].Key); // file order preserved
        Assert.True(f.Find("u8")!.TryGetUInt8(out var u8) && u8 == 200);
        Assert.True(f.Find("i8")!.TryGetInt8(out var i8) && i8 == -100);
        Assert.True(f.Find("u16")!.TryGetUInt16(out var u16) && u16 == 65000);
        Assert.True(f.Find("i16")!.TryGetInt16(out var i16) && i16 == -32000);
        Assert.Equal(4_000_000_000u, f.GetUInt32("u32"));
        Assert.Equal(-2_000_000_000, f.GetInt32("i32"));
        Assert.Equal(ulong.MaxValue - 1, f.GetUInt64("u64"));
        Assert.True(f.Find("i64")!.TryGetInt64(out var i64) && i64 == long.MinValue + 1);
        Assert.Equal(1.6e6f, f.GetFloat32("f32"));
        Assert.True(f.Find("f64")!.TryGetFloat64(out var f64) && f64 == Math.PI);
        Assert.True(f.GetBool("bool"));
        Assert.Equal("héllo <|User|> 世界", f.GetString("str"));
        Assert.Equal("", f.GetString("empty"));
        Assert.Equal(["a", "", "Ġthe", "<think>"], f.GetArray("arr.str").Strings);
        Assert.Equal([1, -2, 3], f.GetArray("arr.i32").Int32s.ToArray());
        Assert.Equal([7u, 8u], f.GetArray("arr.u32").UInt32s.ToArray());
        Assert.Equal([0.5f, -0.25f], f.GetArray("arr.f32").Float32s.ToArray());
        Assert.Equal([1, 2, 255], f.GetArray("arr.u8").UInt8s.ToArray());
        Assert.Equal([(sbyte)-1, (sbyte)2], f.GetArray("arr.i8").Int8s.ToArray());
        Assert.Equal([(ushort)1, (ushort)65535], f.GetArray("arr.u16").UInt16s.ToArray());
        Assert.Equal([(short)-1, (short)32767], f.GetArray("arr.i16").Int16s.ToArray());
        Assert.Equal([ulong.MaxValue], f.GetArray("arr.u64").UInt64s.ToArray());
        Assert.Equal([long.MinValue], f.GetArray("arr.i64").Int64s.ToArray());
        Assert.Equal([double.Epsilon], f.GetArray("arr.f64").Float64s.ToArray());
        Assert.Equal([true, false, true], f.GetArray("arr.bool").Bools.ToArray());
        var nested = f.GetArray("arr.nested");
        Assert.Equal(GgufValueType.Array, nested.ElementType);
        Assert.Equal([1, 2], nested.Arrays[0].Int32s.ToArray());
        Assert.Equal(["x"], nested.Arrays[1].Strings);
        Assert.False(nested.Arrays[2].Arrays[0].Bools[0]);
        Assert.Equal(0, f.GetArray("arr.empty").Count);
        Assert.Equal("arr[i32]", f.Find("arr.i32")!.TypeName);
        Assert.Empty(f.Tensors);
    }

    [Fact]
    public void Large_strings_and_arrays_cross_buffer_boundaries()
    {
        var big = string.Concat(Enumerable.Range(0, 20_000).Select(i => $"tok{i} ü "));
        var many = Enumerable.Range(0, 100_000).Select(i => $"Ġt{i}").ToArray();
        var ints = Enumerable.Range(0, 70_000).ToArray();
        var w = new GgufWriter();
        w.AddString("big", big);
        w.AddStringArray("many", many);
        w.AddInt32Array("ints", ints);
        w.AddString("after", "end");
        var f = RoundTrip(w);
        Assert.True(big.Length > 100_000);
        Assert.Equal(big, f.GetString("big"));
        Assert.Equal(many, f.GetArray("many").Strings);
        Assert.Equal(ints, f.GetArray("ints").Int32s.ToArray());
        Assert.Equal("end", f.GetString("after"));
    }

    [Fact]
    public void Typed_accessors_report_missing_and_mistyped_keys_as_format_errors()
    {
        var w = new GgufWriter();
        w.AddInt32("n", 5);
        var f = RoundTrip(w);
        Assert.Contains("not found", Assert.Throws<GgufFormatException>(() => f.GetUInt32("missing")).Message, StringComparison.Ordinal);
        Assert.Contains("has type i32, expected u32", Assert.Throws<GgufFormatException>(() => f.GetUInt32("n")).Message, StringComparison.Ordinal);
        Assert.False(f.TryGetUInt32("n", out _));
        Assert.True(f.TryGetInt32("n", out var n) && n == 5);
        Assert.Throws<InvalidOperationException>(() => GgufArray.FromInt32([1]).Strings);
    }

    [Fact]
    public void Tensors_are_aligned_streamed_and_read_back_without_data()
    {
        var w = new GgufWriter();
        w.AddString("general.architecture", "test");
        var a = w.AddTensor("a", [3], GgmlType.F32, s => s.Write(new byte[12]));
        var b = w.AddTensor("b", [4, 2], GgmlType.F16, s => s.Write(Enumerable.Range(0, 16).Select(i => (byte)i).ToArray()));
        var c = w.AddTensor("c", [64, 2], GgmlType.Q8_0, s => s.Write(new byte[4 * 34]));
        Assert.Equal(0ul, a.Offset);
        Assert.Equal(32ul, b.Offset);
        Assert.Equal(64ul, c.Offset);
        Assert.Equal(3 + 8 + 128, w.ParameterCount);

        using var ms = new MemoryStream();
        w.WriteTo(ms);
        var f = GgufReader.Read(ms);
        Assert.Equal(3, f.Tensors.Count);
        Assert.Equal(0, f.DataOffset % 32);
        Assert.Equal([4L, 2L], f.Tensors[1].Dimensions);
        Assert.Equal(GgmlType.F16, f.Tensors[1].Type);
        Assert.Equal(16, f.Tensors[1].ByteSize);
        Assert.Equal(136, f.Tensors[2].ByteSize);
        Assert.Equal(139, f.ParameterCount);
        var data = ms.ToArray();
        Assert.Equal(5, data[f.DataOffset + 32 + 5]); // tensor b's bytes sit at its offset
        Assert.Equal(f.DataOffset + 64 + 160, data.Length); // last tensor padded to the alignment
    }

    [Fact]
    public void Writer_rejects_a_callback_that_writes_the_wrong_size_and_bad_tensors()
    {
        var w = new GgufWriter();
        w.AddTensor("t", [4], GgmlType.F32, s => s.Write(new byte[15]));
        Assert.Contains("wrote 15 bytes, expected 16", Assert.Throws<InvalidOperationException>(() => w.WriteTo(new MemoryStream())).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => w.AddTensor("t", [4], GgmlType.F32, _ => { }));
        Assert.Throws<ArgumentException>(() => w.AddTensor("q", [33], GgmlType.Q8_0, _ => { }));
        Assert.Throws<ArgumentException>(() => w.AddTensor(new string('x', 64), [1], GgmlType.F32, _ => { }));
        Assert.Throws<ArgumentException>(() => w.AddTensor("z", [0], GgmlType.F32, _ => { }));
        w.AddUInt32("k", 1);
        Assert.Throws<ArgumentException>(() => w.AddUInt32("k", 2));
    }

    [Fact]
    public void Writer_writes_to_a_path_atomically_and_custom_alignment_is_recorded()
    {
        var path = Path.Combine(Path.GetTempPath(), $"gguf-writer-{Guid.NewGuid():N}.gguf");
        try
        {
            var w = new GgufWriter(64);
            w.AddTensor("t", [5], GgmlType.F32, s => s.Write(new byte[20]));
            w.WriteTo(path);
            Assert.False(File.Exists(path + ".partial"));
            var f = GgufReader.Read(path);
            Assert.Equal(64u, f.Alignment);
            Assert.Equal(64u, f.GetUInt32("general.alignment"));
            Assert.Equal(0, f.DataOffset % 64);
            Assert.Equal(w.FileLength, new FileInfo(path).Length);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Reads_a_v2_file()
    {
        var w = new GgufWriter();
        w.AddString("k", "v");
        using var ms = new MemoryStream();
        w.WriteTo(ms);
        var bytes = ms.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 2);
        var f = GgufReader.Read(new MemoryStream(bytes));
        Assert.Equal(2u, f.Version);
        Assert.Equal("v", f.GetString("k"));
    }

    [Theory]
    [InlineData(new byte[] { }, GgufErrorKind.Truncated, "too short")]
    [InlineData(new byte[] { (byte)'G', (byte)'G' }, GgufErrorKind.Truncated, "too short")]
    [InlineData(new byte[] { (byte)'G', (byte)'G', (byte)'M', (byte)'L', 3, 0, 0, 0 }, GgufErrorKind.BadMagic, "invalid magic 'GGML'")]
    [InlineData(new byte[] { (byte)'G', (byte)'G', (byte)'U', (byte)'F', 1, 0, 0, 0 }, GgufErrorKind.UnsupportedVersion, "v1 is no longer supported")]
    [InlineData(new byte[] { (byte)'G', (byte)'G', (byte)'U', (byte)'F', 0, 0, 0, 3 }, GgufErrorKind.UnsupportedVersion, "big-endian")]
    [InlineData(new byte[] { (byte)'G', (byte)'G', (byte)'U', (byte)'F', 3, 0, 0 }, GgufErrorKind.Truncated, "file is truncated")]
    public void Rejects_bad_headers(byte[] bytes, GgufErrorKind kind, string fragment)
    {
        var e = Assert.Throws<GgufFormatException>(() => GgufReader.Read(new MemoryStream(bytes)));
        Assert.Equal(kind, e.Kind);
        Assert.Contains(fragment, e.Message, StringComparison.Ordinal);
        Assert.Contains("byte offset", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Hostile_counts_fail_fast_without_allocating()
    {
        static byte[] Header(ulong tensors, ulong kvs)
        {
            var b = new byte[24];
            "GGUF"u8.CopyTo(b);
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), 3);
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), tensors);
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), kvs);
            return b;
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        var e1 = Assert.Throws<GgufFormatException>(() => GgufReader.Read(new MemoryStream(Header(ulong.MaxValue, 0))));
        Assert.Equal(GgufErrorKind.LimitExceeded, e1.Kind);
        var e2 = Assert.Throws<GgufFormatException>(() => GgufReader.Read(new MemoryStream(Header(0, 1UL << 40))));
        Assert.Contains("exceeds the limit", e2.Message, StringComparison.Ordinal);
        var e3 = Assert.Throws<GgufFormatException>(() => GgufReader.Read(new MemoryStream(Header(0, 500_000))));
        Assert.Contains("truncated or corrupt", e3.Message, StringComparison.Ordinal);

        // One KV whose array claims 2^27 u64 elements in a tiny file.
        var kv = new List<byte>(Header(0, 1));
        kv.AddRange(BitConverter.GetBytes(1UL));
        kv.Add((byte)'k');
        kv.AddRange(BitConverter.GetBytes((uint)GgufValueType.Array));
        kv.AddRange(BitConverter.GetBytes((uint)GgufValueType.UInt64));
        kv.AddRange(BitConverter.GetBytes(1UL << 27));
        var e4 = Assert.Throws<GgufFormatException>(() => GgufReader.Read(new MemoryStream(kv.ToArray())));
        Assert.Equal(GgufErrorKind.Truncated, e4.Kind);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20, "hostile counts must not cause big allocations");
    }

    [Fact]
    public void Rejects_invalid_utf8_and_deep_nesting()
    {
        var b = new List<byte>();
        b.AddRange("GGUF"u8.ToArray());
        b.AddRange(BitConverter.GetBytes(3u));
        b.AddRange(BitConverter.GetBytes(0UL));
        b.AddRange(BitConverter.GetBytes(1UL));
        b.AddRange(BitConverter.GetBytes(2UL));
        b.AddRange(new byte[] { 0xC3, 0x28 });
        b.AddRange(BitConverter.GetBytes((uint)GgufValueType.UInt32));
        b.AddRange(BitConverter.GetBytes(1u));
        var e = Assert.Throws<GgufFormatException>(() => GgufReader.Read(new MemoryStream(b.ToArray())));
        Assert.Contains("not valid UTF-8", e.Message, StringComparison.Ordinal);

        var deep = GgufArray.FromInt32([1]);
        for (var i = 0; i < 12; i++)
        {
            deep = GgufArray.FromArrays([deep]);
        }

        var w = new GgufWriter();
        w.AddArray("deep", deep);
        using var ms = new MemoryStream();
        w.WriteTo(ms);
        var e2 = Assert.Throws<GgufFormatException>(() => GgufReader.Read(ms));
        Assert.Contains("nested deeper", e2.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_file_is_an_io_format_error()
    {
        var e = Assert.Throws<GgufFormatException>(() => GgufReader.Read("/nonexistent/dir/model.gguf"));
        Assert.Equal(GgufErrorKind.Io, e.Kind);
    }

    [Llama3VocabFact]
    public void Reads_the_real_llama3_vocabulary()
    {
        var f = GgufReader.Read(TestPaths.Llama3Vocab!);
        Assert.Equal(3u, f.Version);
        var tokens = f.GetArray("tokenizer.ggml.tokens").Strings;
        Assert.Equal(128_256, tokens.Count);
        Assert.Equal("<|begin_of_text|>", tokens[128000]);
        Assert.Equal("<|end_of_text|>", tokens[128001]);
        Assert.Equal(280_147, f.GetArray("tokenizer.ggml.merges").Count);
        Assert.Equal(128_256, f.GetArray("tokenizer.ggml.token_type").Int32s.Length);
        Assert.Equal("gpt2", f.GetString("tokenizer.ggml.model"));
    }
}
