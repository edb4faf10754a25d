namespace YoutuServer.Engine.Sampling;

/// <summary>
/// The repetition/frequency/presence penalties of llama.cpp's penalties sampler, kept in managed code so applying
/// them costs O(window) instead of a hash look-up per vocabulary entry: the last <c>lastN</c> accepted tokens
/// (a ring) and how often each occurs among them.
/// </summary>
/// <remarks>
/// Same arithmetic as <c>llama_sampler_penalties_apply</c> (llama.cpp de3ff815, src/llama-sampler.cpp): for a token
/// seen <c>count</c> &gt; 0 times in the window, a logit &lt;= 0 is multiplied by the repeat penalty and a positive one
/// divided by it, then <c>count * freq + present</c> is subtracted, all in float. Only per-sequence state, so
/// sequences can be penalized on different threads.
/// </remarks>
internal sealed class PenaltyWindow
{
    private readonly int lastN;
    private readonly float repeat;
    private readonly float freq;
    private readonly float present;
    private readonly Dictionary<int, int> counts;
    private int[] ring;
    private int head;
    private int size;

    public PenaltyWindow(int lastN, float repeat, float freq, float present)
    {
        this.lastN = lastN;
        this.repeat = repeat;
        this.freq = freq;
        this.present = present;
        var initial = Math.Min(lastN, 256);
        ring = new int[Math.Max(1, initial)];
        counts = new Dictionary<int, int>(initial);
    }

    /// <summary>Null when llama.cpp would build an empty sampler for these settings (window 0 or neutral values).</summary>
    public static PenaltyWindow? Create(SamplingParams p)
    {
        var lastN = Math.Max(p.PenaltyLastN, 0);
        return lastN == 0 || (p.RepetitionPenalty == 1f && p.FrequencyPenalty == 0f && p.PresencePenalty == 0f)
            ? null
            : new PenaltyWindow(lastN, p.RepetitionPenalty, p.FrequencyPenalty, p.PresencePenalty);
    }

    /// <summary>Distinct tokens in the window.</summary>
    public int DistinctCount => counts.Count;

    public void Accept(int token)
    {
        ref var c = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(counts, token, out _);
        c++;
        if (size >= lastN)
        {
            // Full: the oldest leaves the window.
            var old = ring[head];
            ref var oc = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(counts, old);
            if (--oc == 0)
            {
                counts.Remove(old);
            }

            ring[head] = token;
            head = (head + 1) % lastN;
            return;
        }

        if (size == ring.Length)
        {
            // Grow towards lastN (the ring is still contiguous from 0 while not full, so head stays 0).
            Array.Resize(ref ring, (int)Math.Min(lastN, (long)ring.Length * 2));
        }

        ring[size++] = token;
    }

    /// <summary>Writes the window's distinct tokens into <paramref name="dest"/> (at least <see cref="DistinctCount"/> long).</summary>
    public int CopyTokens(Span<int> dest)
    {
        var n = 0;
        foreach (var (t, _) in counts)
        {
            dest[n++] = t;
        }

        return n;
    }

    /// <summary>The penalized logit of <paramref name="token"/>; the same value when it is not in the window.</summary>
    public float Apply(int token, float logit)
    {
        if (!counts.TryGetValue(token, out var count))
        {
            return logit;
        }

        if (logit <= 0)
        {
            logit *= repeat;
        }
        else
        {
            logit /= repeat;
        }

        logit -= (float)count * freq + (count > 0 ? 1f : 0f) * present;
        return logit;
    }
}
