using System.Globalization;
using System.Text;

namespace YoutuServer.Operations;

/// <summary>
/// Renders <see cref="DownloadProgress"/> for a person: a redrawn bar with size, speed and ETA on a terminal, or a plain
/// line every few seconds when stderr goes to a log (container logs should not fill with carriage returns).
/// </summary>
internal sealed class DownloadProgressPrinter : IProgress<DownloadProgress>
{
    private const int BarWidth = 24;
    private readonly TextWriter writer;
    private readonly bool interactive;
    private readonly TimeProvider time;
    private readonly TimeSpan redrawInterval;
    private readonly Queue<(long Timestamp, long Bytes)> window = new();
    private long lastDraw;
    private DownloadPhase? lastPhase;
    private bool lineOpen;
    private int lastWidth;

    public DownloadProgressPrinter(TextWriter writer, bool interactive, TimeProvider? time = null)
    {
        this.writer = writer;
        this.interactive = interactive;
        this.time = time ?? TimeProvider.System;
        redrawInterval = interactive ? TimeSpan.FromMilliseconds(100) : TimeSpan.FromSeconds(5);
        lastDraw = this.time.GetTimestamp();
    }

    /// <summary>Speed is averaged over this trailing window, so the ETA follows the current rate.</summary>
    public TimeSpan SpeedWindow { get; init; } = TimeSpan.FromSeconds(5);

    public void Report(DownloadProgress value)
    {
        var now = time.GetTimestamp();
        var phaseChanged = value.Phase != lastPhase;
        if (phaseChanged)
        {
            window.Clear();
        }

        window.Enqueue((now, value.BytesDone));
        while (window.Count > 2 && time.GetElapsedTime(window.Peek().Timestamp, now) > SpeedWindow)
        {
            window.Dequeue();
        }

        var final = value.Phase == DownloadPhase.Done || (value.TotalBytes is { } t && value.BytesDone >= t);
        if (!phaseChanged && !final && time.GetElapsedTime(lastDraw, now) < redrawInterval)
        {
            return;
        }

        if (value.Phase == DownloadPhase.Done)
        {
            Finish();
            lastPhase = value.Phase;
            return;
        }

        if (phaseChanged && lineOpen)
        {
            Finish();
        }

        lastDraw = now;
        lastPhase = value.Phase;
        var line = Format(value, Speed());
        if (interactive)
        {
            // Pad over the previous, possibly longer, line.
            writer.Write("\r" + line.PadRight(lastWidth));
            lastWidth = line.Length;
            lineOpen = true;
        }
        else
        {
            writer.WriteLine(line);
        }

        writer.Flush();
    }

    /// <summary>Ends the redrawn line (call before printing anything else).</summary>
    public void Finish()
    {
        if (lineOpen)
        {
            writer.WriteLine();
            writer.Flush();
            lineOpen = false;
            lastWidth = 0;
        }
    }

    /// <summary>Bytes per second over the trailing window; null until there are two samples apart in time.</summary>
    private double? Speed()
    {
        if (window.Count < 2)
        {
            return null;
        }

        var (t0, b0) = window.Peek();
        var (t1, b1) = window.Last();
        var seconds = time.GetElapsedTime(t0, t1).TotalSeconds;
        return seconds > 0 ? (b1 - b0) / seconds : null;
    }

    public string Format(DownloadProgress p, double? bytesPerSecond)
    {
        var sb = new StringBuilder();
        sb.Append(p.Phase switch
        {
            DownloadPhase.CheckingPartial => "checking ",
            DownloadPhase.Verifying => "verifying",
            _ => "pulling  ",
        });
        if (p.TotalBytes is { } total && total > 0)
        {
            var fraction = Math.Clamp((double)p.BytesDone / total, 0, 1);
            if (interactive)
            {
                var filled = (int)Math.Round(fraction * BarWidth);
                sb.Append(" [").Append('#', filled).Append('-', BarWidth - filled).Append(']');
            }

            sb.Append(CultureInfo.InvariantCulture, $" {fraction * 100,5:0.0}% {FormatBytes(p.BytesDone)} / {FormatBytes(total)}");
            if (bytesPerSecond is double speed && speed > 0)
            {
                sb.Append(CultureInfo.InvariantCulture, $"  {FormatBytes((long)speed)}/s  ETA {FormatDuration(TimeSpan.FromSeconds((total - p.BytesDone) / speed))}");
            }
        }
        else
        {
            sb.Append(' ').Append(FormatBytes(p.BytesDone));
            if (bytesPerSecond is double speed && speed > 0)
            {
                sb.Append("  ").Append(FormatBytes((long)speed)).Append("/s");
            }
        }

        if (p.ResumedFrom > 0 && p.Phase == DownloadPhase.Downloading)
        {
            sb.Append("  (resumed at ").Append(FormatBytes(p.ResumedFrom)).Append(')');
        }

        return sb.ToString();
    }

    public static string FormatBytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = bytes;
        var u = 0;
        while (v >= 1024 && u < units.Length - 1)
        {
            v /= 1024;
            u++;
        }

        return u == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{v:0.0} {units[u]}");
    }

    public static string FormatDuration(TimeSpan d)
    {
        if (d.TotalDays >= 1 || d < TimeSpan.Zero)
        {
            return "--:--";
        }

        return d.TotalHours >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)d.TotalHours}:{d.Minutes:00}:{d.Seconds:00}")
            : string.Create(CultureInfo.InvariantCulture, $"{d.Minutes}:{d.Seconds:00}");
    }
}
