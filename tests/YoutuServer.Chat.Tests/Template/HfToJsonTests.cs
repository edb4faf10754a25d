using System.Text;
using System.Text.Json;
using YoutuServer.Chat.Messages;
using YoutuServer.Chat.Templates;

namespace YoutuServer.Chat.Tests.Template;

/// <summary>Expected values are what Python prints for <c>json.dumps(json.loads(input), ensure_ascii=False)</c>.</summary>
public sealed class HfToJsonTests
{
    private static string Dump(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return HfToJson.Serialize(doc.RootElement);
    }

    [Theory]
    [InlineData("0", "0")]
    [InlineData("7", "7")]
    [InlineData("-12", "-12")]
    [InlineData("-0", "0")]
    [InlineData("9007199254740993", "9007199254740993")]
    [InlineData("123456789012345678901234567890", "123456789012345678901234567890")]
    [InlineData("-98765432109876543210", "-98765432109876543210")]
    public void Integers_are_echoed_like_python_ints(string input, string expected) => Assert.Equal(expected, Dump(input));

    [Theory]
    [InlineData("1.5", "1.5")]
    [InlineData("-2.25", "-2.25")]
    [InlineData("1.0", "1.0")]
    [InlineData("100.50", "100.5")]
    [InlineData("0.0", "0.0")]
    [InlineData("-0.0", "-0.0")]
    [InlineData("0.1", "0.1")]
    [InlineData("0.30000000000000004", "0.30000000000000004")]
    [InlineData("1e5", "100000.0")]
    [InlineData("1E5", "100000.0")]
    [InlineData("2.5E+3", "2500.0")]
    [InlineData("1e15", "1000000000000000.0")]
    [InlineData("1e16", "1e+16")]
    [InlineData("9999999999999998.0", "9999999999999998.0")]
    [InlineData("12345678901234567.0", "1.2345678901234568e+16")]
    [InlineData("1e22", "1e+22")]
    [InlineData("1e100", "1e+100")]
    [InlineData("0.0001", "0.0001")]
    [InlineData("0.00001", "1e-05")]
    [InlineData("1.5e-7", "1.5e-07")]
    [InlineData("0.000123", "0.000123")]
    [InlineData("123456789.123456789", "123456789.12345679")]
    [InlineData("1234567890123456.7", "1234567890123456.8")]
    [InlineData("5e-324", "5e-324")]
    [InlineData("2.2250738585072014e-308", "2.2250738585072014e-308")]
    [InlineData("1.7976931348623157e308", "1.7976931348623157e+308")]
    [InlineData("1e400", "Infinity")]
    [InlineData("-1e400", "-Infinity")]
    [InlineData("1e-400", "0.0")]
    [InlineData("-1e-400", "-0.0")]
    [InlineData("0.5e1", "5.0")]
    [InlineData("1e0", "1.0")]
    public void Floats_use_python_repr(string input, string expected) => Assert.Equal(expected, Dump(input));

    [Fact]
    public void Python_float_layout_for_computed_doubles()
    {
        var sb = new StringBuilder();
        HfToJson.AppendPythonFloat(sb, double.NaN);
        sb.Append(' ');
        HfToJson.AppendPythonFloat(sb, 1.0 / 3);
        sb.Append(' ');
        HfToJson.AppendPythonFloat(sb, -1e-10);
        sb.Append(' ');
        HfToJson.AppendPythonFloat(sb, 123e300);
        Assert.Equal("NaN 0.3333333333333333 -1e-10 1.23e+302", sb.ToString());
    }

    [Theory]
    [InlineData("true", "true")]
    [InlineData("false", "false")]
    [InlineData("null", "null")]
    [InlineData("[]", "[]")]
    [InlineData("{}", "{}")]
    [InlineData("[1,2 , 3]", "[1, 2, 3]")]
    [InlineData("{\"b\":1,\"a\":[true,null,{\"c\":\"d\"}]}", "{\"b\": 1, \"a\": [true, null, {\"c\": \"d\"}]}")]
    [InlineData("[[],[[]],{\"x\":{}}]", "[[], [[]], {\"x\": {}}]")]
    public void Literals_and_containers_use_python_separators(string input, string expected) => Assert.Equal(expected, Dump(input));

    [Theory]
    [InlineData("\"plain\"", "\"plain\"")]
    [InlineData("\"say \\\"hi\\\"\"", "\"say \\\"hi\\\"\"")]
    [InlineData("\"C:\\\\dir\"", "\"C:\\\\dir\"")]
    [InlineData("\"a\\nb\\tc\\rd\\be\\ff\"", "\"a\\nb\\tc\\rd\\be\\ff\"")]
    [InlineData("\"\\u0001\\u001f\\u0000\\u000b\"", "\"\\u0001\\u001f\\u0000\\u000b\"")]
    [InlineData("\"\\u001B\"", "\"\\u001b\"")]
    [InlineData("\"a\\/b\"", "\"a/b\"")]
    [InlineData("\"\\u00e9\\u4e2d\"", "\"é中\"")]
    public void Strings_escape_only_quote_backslash_and_controls(string input, string expected) => Assert.Equal(expected, Dump(input));

    [Fact]
    public void Non_ascii_is_kept_raw_including_line_separators_and_astral_chars()
    {
        // DEL, U+2028/U+2029, BOM and surrogate pairs pass through untouched (ensure_ascii=False).
        Assert.Equal("\"\u007f\u2028\u2029\ufeff😀𝄞東京\"", Dump("\"\\u007f\\u2028\\u2029\\ufeff\\ud83d\\ude00𝄞東京\""));
    }

    [Fact]
    public void Object_keys_are_escaped_and_order_is_kept()
    {
        Assert.Equal("{\"z\": 1, \"k\\\"e\\ny\": 2, \"\": 3, \"a\": 4}", Dump("{\"z\":1,\"k\\\"e\\ny\":2,\"\":3,\"a\":4}"));
    }

    [Fact]
    public void Duplicate_keys_keep_first_position_and_last_value_like_a_python_dict()
    {
        Assert.Equal("{\"a\": 3, \"b\": null, \"c\": {\"x\": [2]}}", Dump("{\"a\":1,\"b\":2,\"a\":3,\"c\":{\"x\":1,\"x\":[2]},\"b\":null}"));
        // Escaped and unescaped spellings of the same key are the same dict key.
        Assert.Equal("{\"a\": 2}", Dump("{\"a\":1,\"\\u0061\":2}"));
    }

    [Fact]
    public void Undefined_element_cannot_be_serialized()
    {
        Assert.Throws<ChatTemplateException>(() => HfToJson.Serialize(default));
    }

    [Fact]
    public void Append_writes_into_an_existing_builder()
    {
        using var doc = JsonDocument.Parse("{\"q\":\"x\"}");
        var sb = new StringBuilder("prefix:");
        HfToJson.Append(sb, doc.RootElement);
        Assert.Equal("prefix:{\"q\": \"x\"}", sb.ToString());
    }
}
