namespace YoutuServer.Engine.Sampling;

/// <summary>A grammar the sampler must obey (GBNF). Lazy grammars engage only once a trigger pattern matches.</summary>
public sealed record GrammarConstraint(string Gbnf, string Root = "root", IReadOnlyList<string>? TriggerPatterns = null, bool Lazy = false);

/// <summary>Sampling settings of one completion. Temperature 0 means greedy.</summary>
public sealed record SamplingParams
{
    public float Temperature { get; init; } = 0.8f;
    public float TopP { get; init; } = 1f;
    /// <summary>0 = off.</summary>
    public int TopK { get; init; }
    public float MinP { get; init; }
    /// <summary>Multiplicative repetition penalty; 1 = off.</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    public float PresencePenalty { get; init; }
    public float FrequencyPenalty { get; init; }
    /// <summary>How many recent tokens the penalties look at.</summary>
    public int PenaltyLastN { get; init; } = 64;
    public uint Seed { get; init; } = 0xFFFFFFFF;
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }
    public GrammarConstraint? Grammar { get; init; }

    public bool IsGreedy => Temperature <= 0f;
}
