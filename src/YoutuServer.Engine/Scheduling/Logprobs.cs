namespace YoutuServer.Engine.Scheduling;

/// <summary>Log-probabilities from the raw logits row (before sampling transforms), as OpenAI reports them.</summary>
internal readonly unsafe struct Logprobs
{
    private readonly float logSumExp;

    private Logprobs(float lse, TokenLogprob[]? top)
    {
        logSumExp = lse;
        Top = top;
    }

    public TokenLogprob[]? Top { get; }

    public static Logprobs Prepare(float* logits, int n, int topK)
    {
        var max = float.NegativeInfinity;
        for (var i = 0; i < n; i++)
        {
            if (logits[i] > max)
            {
                max = logits[i];
            }
        }

        double sum = 0;
        for (var i = 0; i < n; i++)
        {
            sum += Math.Exp(logits[i] - max);
        }

        var lse = max + (float)Math.Log(sum);
        TokenLogprob[]? top = null;
        if (topK > 0)
        {
            // Partial selection: keep the k best in a small sorted array.
            top = new TokenLogprob[Math.Min(topK, n)];
            var count = 0;
            for (var i = 0; i < n; i++)
            {
                var v = logits[i];
                if (count == top.Length && v <= top[count - 1].Logprob)
                {
                    continue;
                }

                var pos = count < top.Length ? count++ : count - 1;
                while (pos > 0 && top[pos - 1].Logprob < v)
                {
                    top[pos] = top[pos - 1];
                    pos--;
                }

                top[pos] = new TokenLogprob(i, v);
            }

            for (var i = 0; i < top.Length; i++)
            {
                top[i] = top[i] with { Logprob = top[i].Logprob - lse };
            }
        }

        return new Logprobs(lse, top);
    }

    public float Of(float* logits, int token) => logits[token] - logSumExp;
}
