using YoutuServer.Operations;

namespace YoutuServer.Tests.Operations;

public sealed class DownloadProgressPrinterTests
{
    private const long MiB = 1024 * 1024;

    /// <summary>A clock the test moves by hand (timestamps in milliseconds).</summary>
    private sealed class ManualClock : TimeProvider
    {
        public long Now { get; set; }
        public override long TimestampFrequency => 1000;
        public override long GetTimestamp() => Now;
    }

    [Theory]
    [InlineData(0, "0 B")]
    [InlineData(1023, "1023 B")]
    [InlineData(1536, "1.5 KiB")]
    [InlineData(2_147_483_648, "2.0 GiB")]
    public void Bytes_are_formatted_in_binary_units(long bytes, string expected) =>
        Assert.Equal(expected, DownloadProgressPrinter.FormatBytes(bytes));

    [Fact]
    public void Durations_are_formatted_as_clock_time() =>
        Assert.Equal(("0:07", "12:05", "1:02:03", "--:--"), (
            DownloadProgressPrinter.FormatDuration(TimeSpan.FromSeconds(7)),
            DownloadProgressPrinter.FormatDuration(TimeSpan.FromSeconds(725)),
            DownloadProgressPrinter.FormatDuration(new TimeSpan(1, 2, 3)),
            DownloadProgressPrinter.FormatDuration(TimeSpan.FromDays(2))));

    [Fact]
    public void A_terminal_gets_a_redrawn_bar_with_size_speed_and_eta()
    {
        var clock = new ManualClock();
        using var output = new StringWriter();
        var printer = new DownloadProgressPrinter(output, interactive: true, clock);

        printer.Report(new DownloadProgress(DownloadPhase.Downloading, 0, 100 * MiB, 0));
        clock.Now = 1000;
        printer.Report(new DownloadProgress(DownloadPhase.Downloading, 10 * MiB, 100 * MiB, 0));
        clock.Now = 2000;
        printer.Report(new DownloadProgress(DownloadPhase.Downloading, 20 * MiB, 100 * MiB, 0));
        printer.Report(new DownloadProgress(DownloadPhase.Done, 100 * MiB, 100 * MiB, 0));

        var text = output.ToString();
        Assert.StartsWith("\r", text, StringComparison.Ordinal);
        var last = text.Split('\r')[^1];
        Assert.Contains("[#####-------------------]  20.0% 20.0 MiB / 100.0 MiB  10.0 MiB/s  ETA 0:08", last, StringComparison.Ordinal);
        Assert.EndsWith(Environment.NewLine, text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_log_gets_plain_lines_every_few_seconds()
    {
        var clock = new ManualClock();
        using var output = new StringWriter();
        var printer = new DownloadProgressPrinter(output, interactive: false, clock);

        for (var s = 0; s <= 12; s++)
        {
            clock.Now = s * 1000;
            printer.Report(new DownloadProgress(DownloadPhase.Downloading, s * 4 * MiB, 48 * MiB, 0));
        }

        var lines = output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.DoesNotContain('\r', output.ToString());
        Assert.Equal(4, lines.Length); // at 0 s (first), 5 s, 10 s, and 12 s (complete)
        Assert.Contains("100.0% 48.0 MiB / 48.0 MiB  4.0 MiB/s  ETA 0:00", lines[^1], StringComparison.Ordinal);
        Assert.DoesNotContain("[", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public void A_resumed_download_says_where_it_resumed()
    {
        using var output = new StringWriter();
        var printer = new DownloadProgressPrinter(output, interactive: false);

        printer.Report(new DownloadProgress(DownloadPhase.Downloading, 5 * MiB, 10 * MiB, 4 * MiB));

        Assert.Contains("(resumed at 4.0 MiB)", output.ToString(), StringComparison.Ordinal);
    }
}
