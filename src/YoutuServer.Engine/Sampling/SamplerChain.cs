using System.Runtime.InteropServices;
using System.Text;
using YoutuServer.Native;

namespace YoutuServer.Engine.Sampling;

/// <summary>
/// One sequence's sampler: a llama.cpp sampler chain plus a preallocated candidate array, so sampling a token
/// costs no allocation (llama_sampler_sample would allocate a vocabulary-sized vector every call) and an
/// impossible state (a grammar that rejects every token) becomes an error instead of a GGML_ASSERT abort.
/// Used only on the inference thread.
/// </summary>
/// <remarks>
/// The logit bias, the end-of-generation mask (ignore_eos, min_tokens), the UTF-8 guard and the grammar are applied
/// here, before the llama.cpp chain (penalties, top-k, top-p, min-p, temperature, pick), so that when together they
/// leave no token the sampler can relax them in a fixed order instead of failing a satisfiable request. The grammar
/// always wins (it is what the client parses):
/// <list type="number">
/// <item>everything applied;</item>
/// <item>without the UTF-8 guard (a grammar that itself allows only invalid UTF-8, e.g. a lone surrogate);</item>
/// <item>when the end of generation was forbidden and the grammar (with the bias) allows only the end: the grammar is
/// complete, <see cref="Sample"/> returns <see cref="End"/> and the choice finishes with Stop, although ignore_eos
/// or min_tokens asked for more;</item>
/// <item>without the logit bias (it banned every token the grammar allows): the grammar's own choice for this step;</item>
/// <item>as 3, without the bias.</item>
/// </list>
/// Without a grammar the same order applies (only a bias banning every token could empty the candidates).
/// </remarks>
internal sealed unsafe class SamplerChain : IDisposable
{
    /// <summary>Returned by <see cref="Sample"/>: the grammar allows only the end of generation, which the request forbade.</summary>
    public const int End = -2;

    private readonly SafeLlamaSamplerHandle chain;
    private readonly SafeLlamaSamplerHandle? grammar;
    private readonly int vocabSize;
    private readonly LlamaLogitBias[] bias;
    private readonly IReadOnlyList<int> endTokens;
    private LlamaTokenData* candidates;

    // Plain greedy (no bias, penalties or grammar): the chain would only pick the arg-max, so do that directly.
    private readonly bool plainGreedy;

    // With a grammar: refuses tokens that would make the output invalid UTF-8 (the grammar itself lets overlong forms
    // through), tracking where the accepted bytes stand.
    private readonly Utf8TokenGuard? utf8;
    private Utf8State utf8State = Utf8State.Boundary;

    private SamplerChain(SafeLlamaSamplerHandle chain, SafeLlamaSamplerHandle? grammar, int vocabSize, LlamaLogitBias[] bias,
        IReadOnlyList<int> endTokens, bool plainGreedy, Utf8TokenGuard? utf8)
    {
        this.chain = chain;
        this.grammar = grammar;
        this.vocabSize = vocabSize;
        this.bias = bias;
        this.endTokens = endTokens;
        this.plainGreedy = plainGreedy;
        this.utf8 = utf8;
        candidates = (LlamaTokenData*)NativeMemory.Alloc((nuint)vocabSize, (nuint)sizeof(LlamaTokenData));
    }

    public bool HasGrammar => grammar is not null;

    /// <summary>
    /// Builds the sampler in llama-server's order: bias, penalties, grammar, top-k, top-p, min-p, temperature, pick
    /// (bias and grammar applied by this class, the rest by a llama.cpp chain; the grammar only masks, so running it
    /// before the penalties changes nothing).
    /// </summary>
    /// <remarks><paramref name="utf8"/> is used only when <paramref name="p"/> has a grammar.</remarks>
    public static SamplerChain Create(nint vocab, int vocabSize, SamplingParams p, Utf8TokenGuard? utf8 = null, IReadOnlyList<int>? endOfGeneration = null)
    {
        var cp = NativeMethods.llama_sampler_chain_default_params();
        cp.NoPerf = true;
        var c = NativeMethods.llama_sampler_chain_init(cp);
        var handle = new SafeLlamaSamplerHandle(c);
        SafeLlamaSamplerHandle? grammar = null;
        try
        {
            var bias = p.LogitBias is { Count: > 0 } b
                ? b.Where(kv => (uint)kv.Key < (uint)vocabSize).Select(kv => new LlamaLogitBias { Token = kv.Key, Bias = kv.Value }).ToArray()
                : [];

            if (p.RepetitionPenalty != 1f || p.PresencePenalty != 0f || p.FrequencyPenalty != 0f)
            {
                Add(c, NativeMethods.llama_sampler_init_penalties(vocabSize, p.PenaltyLastN, p.RepetitionPenalty, p.FrequencyPenalty, p.PresencePenalty), "penalties");
            }

            if (p.Grammar is { } g)
            {
                grammar = new SafeLlamaSamplerHandle(CreateGrammar(vocab, g));
            }

            if (p.IsGreedy)
            {
                Add(c, NativeMethods.llama_sampler_init_greedy(), "greedy");
            }
            else
            {
                if (p.TopK > 0)
                {
                    Add(c, NativeMethods.llama_sampler_init_top_k(p.TopK), "top_k");
                }

                if (p.TopP < 1f)
                {
                    Add(c, NativeMethods.llama_sampler_init_top_p(p.TopP, 1), "top_p");
                }

                if (p.MinP > 0f)
                {
                    Add(c, NativeMethods.llama_sampler_init_min_p(p.MinP, 1), "min_p");
                }

                Add(c, NativeMethods.llama_sampler_init_temp(p.Temperature), "temp");
                Add(c, NativeMethods.llama_sampler_init_dist(p.Seed), "dist");
            }

            var plain = p.IsGreedy && bias.Length == 0 && p.Grammar is null
                && p.RepetitionPenalty == 1f && p.PresencePenalty == 0f && p.FrequencyPenalty == 0f;
            return new SamplerChain(handle, grammar, vocabSize, bias, endOfGeneration ?? [], plain, p.Grammar is null ? null : utf8);
        }
        catch
        {
            grammar?.Dispose();
            handle.Dispose();
            throw;
        }
    }

    private static void Add(nint chain, nint sampler, string what)
    {
        if (sampler == 0)
        {
            throw new EngineRejectedException(RejectionReason.InvalidRequest, $"llama.cpp refused the {what} sampler settings");
        }

        NativeMethods.llama_sampler_chain_add(chain, sampler);
    }

    private static nint CreateGrammar(nint vocab, GrammarConstraint g)
    {
        var gbnf = Encoding.UTF8.GetBytes(g.Gbnf + "\0");
        var root = Encoding.UTF8.GetBytes(g.Root + "\0");
        fixed (byte* gp = gbnf)
        fixed (byte* rp = root)
        {
            nint s;
            if (g.Lazy)
            {
                var patterns = g.TriggerPatterns ?? [];
                var ptrs = new nint[patterns.Count];
                try
                {
                    for (var i = 0; i < ptrs.Length; i++)
                    {
                        ptrs[i] = Marshal.StringToCoTaskMemUTF8(patterns[i]);
                    }

                    fixed (nint* pp = ptrs)
                    {
                        s = NativeMethods.llama_sampler_init_grammar_lazy_patterns(vocab, gp, rp, (byte**)pp, (nuint)ptrs.Length, null, 0);
                    }
                }
                finally
                {
                    foreach (var p in ptrs)
                    {
                        Marshal.FreeCoTaskMem(p);
                    }
                }
            }
            else
            {
                s = NativeMethods.llama_sampler_init_grammar(vocab, gp, rp);
            }

            return s != 0 ? s : throw new EngineRejectedException(RejectionReason.InvalidRequest, "the grammar could not be parsed by llama.cpp", RequestField.Grammar);
        }
    }

    /// <summary>
    /// Samples from the logits row (left unchanged) and accepts the token into the sampler. <paramref name="endForbidden"/>
    /// masks the end-of-generation tokens (ignore_eos, min_tokens not reached). Returns the token; <see cref="End"/> when
    /// the grammar is complete and allows nothing but the forbidden end; -1 when no token is allowed at all.
    /// </summary>
    public int Sample(float* logits, bool endForbidden = false)
    {
        if (plainGreedy)
        {
            return Greedy(logits, endForbidden);
        }

        if (utf8 is not null && utf8State.IsInvalid)
        {
            utf8State = Utf8State.Boundary; // only forced tokens get here unscreened; start afresh after them
        }

        var hasBias = bias.Length > 0;

        // 1-2. With a grammar, prefer tokens that keep the bytes valid UTF-8. Where the grammar itself allows nothing
        // else (say a lone surrogate escape in a schema), fall back to its own choice rather than fail a satisfiable request.
        var token = PickRelaxingUtf8(logits, withBias: true, endForbidden);

        // 3. The grammar is complete and the request forbade the end: finish here (the caller reports Stop).
        if (token < 0 && endForbidden && EndAllowed(logits, withBias: true))
        {
            return End;
        }

        // 4-5. The bias banned every token the grammar allows: the grammar wins for this step.
        if (token < 0 && hasBias)
        {
            token = PickRelaxingUtf8(logits, withBias: false, endForbidden);
            if (token < 0 && endForbidden && EndAllowed(logits, withBias: false))
            {
                return End;
            }
        }

        if (token < 0)
        {
            return -1; // every candidate was masked (e.g. grammar dead end)
        }

        Accept(token);
        return token;
    }

    private int Greedy(float* logits, bool endForbidden)
    {
        var span = new ReadOnlySpan<float>(logits, vocabSize);
        var best = -1;
        var max = float.NegativeInfinity;
        for (var i = 0; i < span.Length; i++)
        {
            if (span[i] > max && !(endForbidden && IsEnd(i)))
            {
                max = span[i];
                best = i;
            }
        }

        if (best < 0 && endForbidden)
        {
            return Greedy(logits, endForbidden: false) >= 0 ? End : -1; // only end-of-generation is finite
        }

        return best;
    }

    private bool IsEnd(int token)
    {
        foreach (var t in endTokens)
        {
            if (t == token)
            {
                return true;
            }
        }

        return false;
    }

    private int PickRelaxingUtf8(float* logits, bool withBias, bool endForbidden)
    {
        var token = Pick(logits, utf8, withBias, endForbidden);
        if (token < 0 && utf8 is not null)
        {
            token = Pick(logits, null, withBias, endForbidden);
        }

        return token;
    }

    /// <summary>Runs the constraints and the chain over the logits row; -1 when every candidate is masked.</summary>
    private int Pick(float* logits, Utf8TokenGuard? guard, bool withBias, bool endForbidden)
    {
        for (var i = 0; i < vocabSize; i++)
        {
            candidates[i] = new LlamaTokenData { Id = i, Logit = logits[i], P = 0f };
        }

        if (withBias)
        {
            foreach (var b in bias)
            {
                candidates[b.Token].Logit += b.Bias;
            }
        }

        if (endForbidden)
        {
            foreach (var t in endTokens)
            {
                if ((uint)t < (uint)vocabSize)
                {
                    candidates[t].Logit = float.NegativeInfinity;
                }
            }
        }

        guard?.Mask(utf8State, candidates, vocabSize);
        var arr = new LlamaTokenDataArray { Data = candidates, Size = (nuint)vocabSize, Selected = -1, Sorted = false };
        if (grammar is not null)
        {
            NativeMethods.llama_sampler_apply(grammar.DangerousGetHandle(), &arr);

            // Nothing left: stop here rather than let the chain normalise a row of -inf (and draw from its RNG, which
            // would shift the seed's stream for the relaxed retry). Without a grammar this cannot happen in practice
            // (a bias or the end mask never covers the vocabulary), and the check after the chain still catches it.
            var any = false;
            for (var i = 0; i < vocabSize && !any; i++)
            {
                any = !float.IsNegativeInfinity(candidates[i].Logit) && !float.IsNaN(candidates[i].Logit);
            }

            if (!any)
            {
                return -1;
            }
        }

        NativeMethods.llama_sampler_apply(chain.DangerousGetHandle(), &arr);
        return arr.Selected < 0 || arr.Selected >= (long)arr.Size || float.IsNegativeInfinity(arr.Data[arr.Selected].Logit)
            ? -1
            : arr.Data[arr.Selected].Id;
    }

    /// <summary>Whether some end-of-generation token survives the grammar (and the bias): the grammar is complete.</summary>
    private bool EndAllowed(float* logits, bool withBias)
    {
        foreach (var t in endTokens)
        {
            if ((uint)t >= (uint)vocabSize)
            {
                continue;
            }

            var logit = logits[t];
            if (withBias)
            {
                foreach (var b in bias)
                {
                    if (b.Token == t)
                    {
                        logit += b.Bias;
                    }
                }
            }

            if (!float.IsNegativeInfinity(logit) && !float.IsNaN(logit) && GrammarAllows(t))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Whether the grammar accepts <paramref name="token"/> next (always true without one). Tokens the engine writes
    /// itself must pass this first: accepting a token the grammar refuses throws inside llama.cpp and ends the process.
    /// </summary>
    public bool GrammarAllows(int token)
    {
        if ((uint)token >= (uint)vocabSize)
        {
            return false;
        }

        if (grammar is null)
        {
            return true;
        }

        var one = new LlamaTokenData { Id = token, Logit = 0f, P = 0f };
        var arr = new LlamaTokenDataArray { Data = &one, Size = 1, Selected = -1, Sorted = false };
        NativeMethods.llama_sampler_apply(grammar.DangerousGetHandle(), &arr);
        return arr.Size == 1 && !float.IsNegativeInfinity(one.Logit);
    }

    /// <summary>Feeds a token to the sampler (also one it did not choose, e.g. forced text) so penalties, grammar and the UTF-8 state stay in step.</summary>
    /// <remarks>A token the grammar refuses must not get here (see <see cref="GrammarAllows"/>).</remarks>
    public void Accept(int token)
    {
        if (grammar is not null)
        {
            NativeMethods.llama_sampler_accept(grammar.DangerousGetHandle(), token);
        }

        NativeMethods.llama_sampler_accept(chain.DangerousGetHandle(), token);
        if (utf8 is not null)
        {
            utf8State = utf8.Advance(utf8State, token);
        }
    }

    public void Dispose()
    {
        grammar?.Dispose();
        chain.Dispose();
        if (candidates != null)
        {
            NativeMemory.Free(candidates);
            candidates = null;
        }
    }
}
