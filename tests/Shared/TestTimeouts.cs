namespace YoutuServer.TestSupport;

/// <summary>
/// The bounds the tests keep. Tests wait on events (a stream's end, a stats snapshot, a finish event), never on how
/// fast something happened; a bound only stops a test that would otherwise hang, so it is generous. On a slower or
/// busier machine every bound grows with one environment variable: <c>YOUTU_TEST_TIMEOUT_SCALE</c> (a positive
/// number, default 1; e.g. <c>YOUTU_TEST_TIMEOUT_SCALE=4 dotnet test YoutuServer.sln</c>). Linked into every test
/// project (tests/Shared).
/// </summary>
internal static class TestTimeouts
{
    public const string Variable = "YOUTU_TEST_TIMEOUT_SCALE";

    /// <summary>The factor from <see cref="Variable"/>; 1 when unset, not a number or not positive.</summary>
    public static double Scale { get; } =
        double.TryParse(Environment.GetEnvironmentVariable(Variable), System.Globalization.NumberStyles.Float,
            System.Globalization.CultureInfo.InvariantCulture, out var s) && s > 0 ? s : 1;

    /// <summary>A bound of <paramref name="seconds"/>, scaled.</summary>
    public static TimeSpan Seconds(double seconds) => TimeSpan.FromSeconds(seconds * Scale);

    /// <summary>A bound, scaled.</summary>
    public static TimeSpan Of(TimeSpan bound) => bound * Scale;

    /// <summary>
    /// One HTTP request to a test server (HttpClient's own default, 100 s, failed requests on a loaded 2-core machine):
    /// 10 minutes, scaled. Every test client and SDK transport uses it.
    /// </summary>
    public static TimeSpan Request => Seconds(600);

    /// <summary>Sets <see cref="Request"/> on a client a test server hands out.</summary>
    public static HttpClient Apply(HttpClient client)
    {
        client.Timeout = Request;
        return client;
    }
}
