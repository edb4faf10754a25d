using System.Text;
using YoutuServer.Chat.Parsing;

namespace YoutuServer.Chat.Tests.Parsing;

/// <summary>The JSON scanner of a tool-call body on its own, without the tag machine around it.</summary>
public sealed class ToolCallJsonScannerTests
{
    private sealed class Recorder : IToolCallJsonListener
    {
        public List<string> Log { get; } = [];
        public StringBuilder Streamed { get; } = new();
        public bool Accept { get; set; } = true;
        public ToolCallJsonScanner? Scanner { get; set; }

        public void ArgumentsBeginning() => Log.Add("begin:" + Scanner!.Name);

        public void ArgumentsAppended(char c) => Streamed.Append(c);

        public void ScalarArgumentsEnded() => Log.Add("scalar:" + Scanner!.Arguments);

        public bool ObjectClosed()
        {
            Log.Add("closed:" + Scanner!.BodyIsValidJson());
            return Accept;
        }
    }

    private static (Recorder Recorder, ToolCallJsonScanner Scanner, int Accepted) Scan(string body)
    {
        var recorder = new Recorder();
        var scanner = new ToolCallJsonScanner(recorder);
        recorder.Scanner = scanner;
        scanner.Reset();
        var accepted = 0;
        foreach (var c in body)
        {
            if (!scanner.Step(c))
            {
                break;
            }

            accepted++;
        }

        return (recorder, scanner, accepted);
    }

    [Fact]
    public void Name_first_announces_the_call_when_the_arguments_begin_and_streams_them_as_written()
    {
        var (r, s, accepted) = Scan("""  {"name": "get_weather", "arguments": {"city": "Pa}ris", "n": [1, {"x": 2}]}}""");
        Assert.Equal(["begin:get_weather", "closed:True"], r.Log);
        Assert.Equal("""{"city": "Pa}ris", "n": [1, {"x": 2}]}""", r.Streamed.ToString());
        Assert.True(s.ArgumentsDone);
        Assert.Equal(78, accepted); // the whole body, leading whitespace included
    }

    [Fact]
    public void Arguments_before_the_name_are_kept_and_not_announced()
    {
        var (r, s, _) = Scan("""{"arguments": "{\"a\":1}", "name": "f"}""");
        Assert.Equal(["closed:True"], r.Log);
        Assert.Equal("f", s.Name);
        Assert.Equal("""{"a":1}""", s.Arguments.ToString()); // a string value is decoded
        Assert.True(s.ArgumentsDone);
    }

    [Fact]
    public void A_null_scalar_becomes_empty_arguments()
    {
        var (r, s, _) = Scan("""{"name": "f", "arguments": null}""");
        Assert.Equal(["begin:f", "scalar:{}", "closed:True"], r.Log);
        Assert.Equal("{}", s.Arguments.ToString());
    }

    [Theory]
    [InlineData("""x{"name": "f"}""", 0)]
    [InlineData("""{"name": "f" "arguments": {}}""", 13)]
    [InlineData("""{"name": "f", "arguments": {"a": 1]}""", 34)]
    [InlineData("""{"name": "f", "arguments": after}""", 27)]
    public void A_structural_error_stops_at_the_offending_char(string body, int accepted)
    {
        var (_, _, scanned) = Scan(body);
        Assert.Equal(accepted, scanned);
    }

    [Fact]
    public void The_listener_may_reject_the_closed_object()
    {
        var recorder = new Recorder { Accept = false };
        var scanner = new ToolCallJsonScanner(recorder);
        recorder.Scanner = scanner;
        scanner.Reset();
        var results = """{"name": "f"}""".Select(scanner.Step).ToList();
        Assert.False(results[^1]);
        Assert.All(results[..^1], Assert.True);
    }
}
