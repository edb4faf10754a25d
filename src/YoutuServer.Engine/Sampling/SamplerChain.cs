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
internal sealed unsafe class SamplerChain : IDisposable
{
    private readonly SafeLlamaSamplerHandle chain;
    private readonly int vocabSize;
    private LlamaTokenData* candidates;

    // Plain greedy (no bias, penalties or grammar): the chain would only pick the arg-max, so do that directly.
    private readonly bool plainGreedy;

    // With a grammar: refuses tokens that would make the output invalid UTF-8 (the grammar itself lets overlong forms
    // through), tracking where the accepted bytes stand.
    private readonly Utf8TokenGuard? utf8;
    private Utf8State utf8State = Utf8State.Boundary;

    private SamplerChain(SafeLlamaSamplerHandle chain, int vocabSize, bool plainGreedy, Utf8TokenGuard? utf8)
    {
        this.chain = chain;
        this.vocabSize = vocabSize;
        this.plainGreedy = plainGreedy;
        this.utf8 = utf8;
        candidates = (LlamaTokenData*)NativeMemory.Alloc((nuint)vocabSize, (nuint)sizeof(LlamaTokenData));
    }

    /// <summary>Builds the chain in llama-server's order: bias, penalties, grammar, top-k, top-p, min-p, temperature, pick.</summary>
    /// <remarks><paramref name="utf8"/> is used only when <paramref name="p"/> has a grammar.</remarks>
    public static SamplerChain Create(nint vocab, int vocabSize, SamplingParams p, Utf8TokenGuard? utf8 = null)
    {
        var cp = NativeMethods.llama_sampler_chain_default_params();
        cp.NoPerf = true;
        var c = NativeMethods.llama_sampler_chain_init(cp);
        var handle = new SafeLlamaSamplerHandle(c);
        try
        {
            if (p.LogitBias is { Count: > 0 } bias)
            {
                var arr = bias.Select(kv => new LlamaLogitBias { Token = kv.Key, Bias = kv.Value }).ToArray();
                fixed (LlamaLogitBias* b = arr)
                {
                    Add(c, NativeMethods.llama_sampler_init_logit_bias(vocabSize, arr.Length, b), "logit_bias");
                }
            }

            if (p.RepetitionPenalty != 1f || p.PresencePenalty != 0f || p.FrequencyPenalty != 0f)
            {
                Add(c, NativeMethods.llama_sampler_init_penalties(vocabSize, p.PenaltyLastN, p.RepetitionPenalty, p.FrequencyPenalty, p.PresencePenalty), "penalties");
            }

            if (p.Grammar is { } g)
            {
                Add(c, CreateGrammar(vocab, g), "grammar");
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

            var plain = p.IsGreedy && p.LogitBias is not { Count: > 0 } && p.Grammar is null
                && p.RepetitionPenalty == 1f && p.PresencePenalty == 0f && p.FrequencyPenalty == 0f;
            return new SamplerChain(handle, vocabSize, plain, p.Grammar is null ? null : utf8);
        }
        catch
        {
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

    /// <summary>Samples from the logits row and accepts the token into the chain; -1 when no token is allowed.</summary>
    public int Sample(float* logits)
    {
        if (plainGreedy)
        {
            var span = new ReadOnlySpan<float>(logits, vocabSize);
            var best = 0;
            var max = float.NegativeInfinity;
            for (var i = 0; i < span.Length; i++)
            {
                if (span[i] > max)
                {
                    max = span[i];
                    best = i;
                }
            }

            return float.IsNegativeInfinity(max) ? -1 : best;
        }

        if (utf8 is not null && utf8State.IsInvalid)
        {
            utf8State = Utf8State.Boundary; // only forced tokens get here unscreened; start afresh after them
        }

        // With a grammar, prefer tokens that keep the bytes valid UTF-8. Where the grammar itself allows nothing else
        // (say a lone surrogate escape in a schema), fall back to its own choice rather than fail a satisfiable request.
        var token = Pick(logits, utf8);
        if (token < 0 && utf8 is not null)
        {
            token = Pick(logits, null);
        }

        if (token < 0)
        {
            return -1; // every candidate was masked (e.g. grammar dead end)
        }

        Accept(token);
        return token;
    }

    /// <summary>Runs the chain over the logits row (masked by the guard when given); -1 when every candidate is masked.</summary>
    private int Pick(float* logits, Utf8TokenGuard? guard)
    {
        for (var i = 0; i < vocabSize; i++)
        {
            candidates[i] = new LlamaTokenData { Id = i, Logit = logits[i], P = 0f };
        }

        guard?.Mask(utf8State, candidates, vocabSize);
        var arr = new LlamaTokenDataArray { Data = candidates, Size = (nuint)vocabSize, Selected = -1, Sorted = false };
        NativeMethods.llama_sampler_apply(chain.DangerousGetHandle(), &arr);
        return arr.Selected < 0 || arr.Selected >= (long)arr.Size || float.IsNegativeInfinity(arr.Data[arr.Selected].Logit)
            ? -1
            : arr.Data[arr.Selected].Id;
    }

    /// <summary>Feeds a token to the chain (also one it did not choose, e.g. forced text) so penalties, grammar and the UTF-8 state stay in step.</summary>
    public void Accept(int token)
    {
        NativeMethods.llama_sampler_accept(chain.DangerousGetHandle(), token);
        if (utf8 is not null)
        {
            utf8State = utf8.Advance(utf8State, token);
        }
    }

    public void Dispose()
    {
        chain.Dispose();
        if (candidates != null)
        {
            NativeMemory.Free(candidates);
            candidates = null;
        }
    }
}
