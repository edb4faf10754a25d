namespace YoutuServer.Generation;

/// <summary>
/// A client's reasoning effort (Responses' <c>reasoning.effort</c>, Anthropic's <c>output_config.effort</c>) as a
/// thinking budget in tokens: one mapping for every wire format.
/// </summary>
internal static class ThinkingEffort
{
    public const int Low = 512;
    public const int Medium = 2048;
    public const int High = 8192;

    /// <summary>True for the efforts this server knows: none, minimal, low, medium, high.</summary>
    public static bool IsKnown(string? effort) => effort is "none" or "minimal" or "low" or "medium" or "high";

    /// <summary>False when the effort turns thinking off (none, minimal).</summary>
    public static bool Enables(string effort) => effort is not ("none" or "minimal");

    /// <summary>
    /// The thinking budget in tokens for an effort: low 512, medium 2048, high 8192, and -1 (unlimited) for the top
    /// levels (Responses' xhigh, Anthropic's max); null when it turns thinking off or is unknown.
    /// </summary>
    public static int? Budget(string? effort) => effort switch
    {
        "low" => Low,
        "medium" => Medium,
        "high" => High,
        "xhigh" or "max" => -1,
        _ => null,
    };
}
