using System.Globalization;
using static YoutuServer.Chat.Tests.Grammar.SchemaTestHelper;

namespace YoutuServer.Chat.Tests.Grammar;

public sealed class IntegerRangeTests
{
    public static TheoryData<long?, long?> Ranges => new()
    {
        { 0, 5 }, { 1, 100 }, { -5, 3 }, { -120, -7 }, { 15, 1015 }, { 7, 7 }, { -1, 0 }, { 99, 100 },
        { 0, null }, { 1, null }, { 37, null }, { -42, null }, { null, 0 }, { null, -1 }, { null, 250 }, { null, -250 },
    };

    [Theory]
    [MemberData(nameof(Ranges))]
    public void Accepts_exactly_the_integers_in_range(long? lo, long? hi)
    {
        var min = lo is null ? "" : $", \"minimum\": {lo}";
        var max = hi is null ? "" : $", \"maximum\": {hi}";
        var gbnf = Gbnf($$"""{"type": "integer"{{min}}{{max}}}""");
        var grammar = GrammarAssert.Parse(gbnf);
        for (var n = -1200L; n <= 1200; n++)
        {
            var inRange = (lo is null || n >= lo) && (hi is null || n <= hi);
            var text = n.ToString(CultureInfo.InvariantCulture);
            GrammarAssert.Expect(gbnf, grammar, text, inRange, $"{text} in [{lo}, {hi}]: expected {inRange}");
        }

        foreach (var big in new[] { 123456789012345678L, -123456789012345678L, long.MaxValue / 10 })
        {
            var inRange = (lo is null || big >= lo) && (hi is null || big <= hi);
            Assert.Equal(inRange, grammar.Accepts(big.ToString(CultureInfo.InvariantCulture)));
        }

        Assert.False(grammar.Accepts("007"));
        Assert.False(grammar.Accepts("-"));
        Assert.False(grammar.Accepts(""));
    }

    [Fact]
    public void Exclusive_and_fractional_bounds()
    {
        var g = GrammarAssert.Parse(Gbnf("""{"type": "integer", "exclusiveMinimum": 2.5, "exclusiveMaximum": 6}"""));
        Assert.Equal([3, 4, 5], Enumerable.Range(-10, 30).Where(n => g.Accepts(n.ToString(CultureInfo.InvariantCulture))));
        var draft4 = GrammarAssert.Parse(Gbnf("""{"type": "integer", "minimum": 2, "exclusiveMinimum": true, "maximum": 6, "exclusiveMaximum": true}"""));
        Assert.Equal([3, 4, 5], Enumerable.Range(-10, 30).Where(n => draft4.Accepts(n.ToString(CultureInfo.InvariantCulture))));
        var frac = GrammarAssert.Parse(Gbnf("""{"type": "integer", "minimum": -2.5, "maximum": 1.5}"""));
        Assert.Equal([-2, -1, 0, 1], Enumerable.Range(-10, 30).Where(n => frac.Accepts(n.ToString(CultureInfo.InvariantCulture))));
    }

    [Fact]
    public void Large_bounds_work_digit_by_digit()
    {
        var g = GrammarAssert.Parse(Gbnf("""{"type": "integer", "minimum": 1000000007, "maximum": 9223372036854775807}"""));
        Assert.True(g.Accepts("1000000007"));
        Assert.True(g.Accepts("9223372036854775807"));
        Assert.False(g.Accepts("1000000006"));
        Assert.False(g.Accepts("9223372036854775808"));
        Assert.False(g.Accepts("999999999"));
    }
}
