using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;
using YoutuServer.Native;

namespace YoutuServer.Engine.Sampling;

/// <summary>
/// One sequence's sampler: llama.cpp's sampler chain fed from a preallocated candidate array, so sampling a token
/// costs no allocation (llama_sampler_sample would allocate a vocabulary-sized vector every call) and an
/// impossible state (a grammar that rejects every token) becomes an error instead of a GGML_ASSERT abort.
/// </summary>
/// <remarks>
/// <para>By default (<see cref="SamplerMode.Managed"/>) the stages whose llama.cpp implementation costs a pass over the
/// whole vocabulary are done here first, with the same float arithmetic, and the native chain gets only the rest:</para>
/// <list type="bullet">
/// <item>logit bias, suppressed tokens (EOS under ignore_eos/min_tokens) and repetition/frequency/presence penalties
/// touch only their own tokens (O(window), not a hash look-up per candidate);</item>
/// <item>without a grammar, a chain that starts with top-k (k &lt;= 128) gets just those k candidates, chosen by the
/// same heap selection libstdc++'s std::partial_sort runs inside llama.cpp's top-k (so ties come out in the same
/// order), from one vectorised pass over the logits row instead of filling a 128k-entry candidate array;</item>
/// <item>greedy without a grammar is an arg-max over the adjusted row (llama.cpp's greedy keeps the first maximum).</item>
/// </list>
/// <para><see cref="SamplerMode.LlamaChain"/> is the previous path, everything in llama.cpp's chain; tests prove both
/// pick the same tokens for the same seeds. The logits row itself is never written, so several choices may read one
/// row, and independent chains may sample on different threads (nothing here touches the llama_context).</para>
/// </remarks>
internal sealed unsafe class SamplerChain : IDisposable
{
    /// <summary>Largest top-k done by heap selection: llama.cpp sorts k &lt;= 128 with std::partial_sort, larger ones by buckets.</summary>
    internal const int MaxHeapTopK = 128;

    private readonly SafeLlamaSamplerHandle chain;
    private readonly int vocabSize;
    private readonly SamplerMode mode;
    private LlamaTokenData* candidates;

    // Plain greedy (no bias, penalties or grammar): the chain would only pick the arg-max, so do that directly.
    private readonly bool plainGreedy;

    // Managed mode: greedy without a grammar (arg-max over adjusted logits), or top-k first without a grammar.
    private readonly bool managedGreedy;
    private readonly int heapK;
    private LlamaTokenData* heap;

    // Managed mode: logit bias (token, bias) and penalties; both applied before the native chain.
    private readonly int[] biasTokens;
    private readonly float[] biasValues;
    private readonly PenaltyWindow? penalties;
    // Scratch for the tokens whose logits differ from the row this step (sorted ids, adjusted values).
    private int[] adjTokens = [];
    private float[] adjValues = [];

    // With a grammar: refuses tokens that would make the output invalid UTF-8 (the grammar itself lets overlong forms
    // through), tracking where the accepted bytes stand.
    private readonly Utf8TokenGuard? utf8;
    private Utf8State utf8State = Utf8State.Boundary;

    private SamplerChain(SafeLlamaSamplerHandle chain, int vocabSize, SamplerMode mode, bool plainGreedy, bool managedGreedy, int heapK,
        int[] biasTokens, float[] biasValues, PenaltyWindow? penalties, Utf8TokenGuard? utf8)
    {
        this.chain = chain;
        this.vocabSize = vocabSize;
        this.mode = mode;
        this.plainGreedy = plainGreedy;
        this.managedGreedy = managedGreedy;
        this.heapK = heapK;
        this.biasTokens = biasTokens;
        this.biasValues = biasValues;
        this.penalties = penalties;
        this.utf8 = utf8;
        heap = (LlamaTokenData*)NativeMemory.Alloc((nuint)Math.Max(1, heapK), (nuint)sizeof(LlamaTokenData));
    }

    public SamplerMode Mode => mode;

    /// <summary>Builds the chain in llama-server's order: bias, penalties, grammar, top-k, top-p, min-p, temperature, pick.</summary>
    /// <remarks><paramref name="utf8"/> is used only when <paramref name="p"/> has a grammar.</remarks>
    public static SamplerChain Create(nint vocab, int vocabSize, SamplingParams p, Utf8TokenGuard? utf8 = null, SamplerMode mode = SamplerMode.Managed)
    {
        var cp = NativeMethods.llama_sampler_chain_default_params();
        cp.NoPerf = true;
        var c = NativeMethods.llama_sampler_chain_init(cp);
        var handle = new SafeLlamaSamplerHandle(c);
        var managed = mode == SamplerMode.Managed;
        var hasBias = p.LogitBias is { Count: > 0 };
        var hasPenalties = p.RepetitionPenalty != 1f || p.PresencePenalty != 0f || p.FrequencyPenalty != 0f;
        try
        {
            if (hasBias && !managed)
            {
                var arr = p.LogitBias!.Select(kv => new LlamaLogitBias { Token = kv.Key, Bias = kv.Value }).ToArray();
                fixed (LlamaLogitBias* b = arr)
                {
                    Add(c, NativeMethods.llama_sampler_init_logit_bias(vocabSize, arr.Length, b), "logit_bias");
                }
            }

            if (hasPenalties && !managed)
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

            var plain = p.IsGreedy && !hasBias && p.Grammar is null && !hasPenalties;
            var managedGreedy = managed && p.IsGreedy && p.Grammar is null && !plain;
            var heapK = managed && !p.IsGreedy && p.Grammar is null && p.TopK > 0 && p.TopK <= MaxHeapTopK && p.TopK < vocabSize ? p.TopK
                : managedGreedy ? 1 : 0;
            int[] biasTokens = [];
            float[] biasValues = [];
            if (managed && hasBias)
            {
                // llama.cpp adds each bias to the candidate whose id it names; ids outside the vocabulary match nothing.
                var kept = p.LogitBias!.Where(kv => kv.Key >= 0 && kv.Key < vocabSize).ToArray();
                biasTokens = kept.Select(kv => kv.Key).ToArray();
                biasValues = kept.Select(kv => kv.Value).ToArray();
            }

            return new SamplerChain(handle, vocabSize, mode, plain, managedGreedy, heapK, biasTokens, biasValues,
                managed ? PenaltyWindow.Create(p) : null, p.Grammar is null ? null : utf8);
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

            return s != 0 ? s : throw new EngineRejectedException(RejectionReason.InvalidRequest, "the grammar could not be parsed by llama.cpp", "grammar");
        }
    }

    /// <summary>
    /// Samples from the logits row and accepts the token into the chain; -1 when no token is allowed. The row is only
    /// read. <paramref name="suppress"/>: tokens that must not be picked (as if their logits were -inf).
    /// </summary>
    public int Sample(float* logits, ReadOnlySpan<int> suppress = default)
    {
        if (plainGreedy && suppress.IsEmpty)
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
        var token = Pick(logits, suppress, utf8);
        if (token < 0 && utf8 is not null)
        {
            token = Pick(logits, suppress, null);
        }

        if (token < 0)
        {
            return -1; // every candidate was masked (e.g. grammar dead end)
        }

        Accept(token);
        return token;
    }

    /// <summary>Runs the chain over the logits row (masked by the guard when given); -1 when every candidate is masked.</summary>
    private int Pick(float* logits, ReadOnlySpan<int> suppress, Utf8TokenGuard? guard)
    {
        if (heapK > 0 || plainGreedy)
        {
            // No grammar (so no guard either): select from the row plus the few adjusted logits.
            var k = plainGreedy ? 1 : heapK;
            var nAdj = Adjust(logits, suppress);
            HeapSelect(logits, k, nAdj);
            if (managedGreedy || plainGreedy)
            {
                return float.IsNegativeInfinity(heap[0].Logit) ? -1 : heap[0].Id;
            }

            var top = new LlamaTokenDataArray { Data = heap, Size = (nuint)k, Selected = -1, Sorted = true };
            return RunChain(&top);
        }

        if (candidates == null)
        {
            candidates = (LlamaTokenData*)NativeMemory.Alloc((nuint)vocabSize, (nuint)sizeof(LlamaTokenData));
        }

        for (var i = 0; i < vocabSize; i++)
        {
            candidates[i] = new LlamaTokenData { Id = i, Logit = logits[i], P = 0f };
        }

        guard?.Mask(utf8State, candidates, vocabSize);
        if (mode == SamplerMode.Managed)
        {
            var nAdj = Adjust(logits, suppress);
            for (var j = 0; j < nAdj; j++)
            {
                var t = adjTokens[j];
                // The guard's -inf stays -inf under bias and penalties, as it did when the chain applied them after it.
                if (!float.IsNegativeInfinity(candidates[t].Logit))
                {
                    candidates[t].Logit = adjValues[j];
                }
            }
        }
        else
        {
            foreach (var t in suppress)
            {
                if ((uint)t < (uint)vocabSize)
                {
                    candidates[t].Logit = float.NegativeInfinity;
                }
            }
        }

        var arr = new LlamaTokenDataArray { Data = candidates, Size = (nuint)vocabSize, Selected = -1, Sorted = false };
        return RunChain(&arr);
    }

    private int RunChain(LlamaTokenDataArray* arr)
    {
        NativeMethods.llama_sampler_apply(chain.DangerousGetHandle(), arr);
        return arr->Selected < 0 || arr->Selected >= (long)arr->Size || float.IsNegativeInfinity(arr->Data[arr->Selected].Logit)
            ? -1
            : arr->Data[arr->Selected].Id;
    }

    /// <summary>
    /// The tokens whose logits the managed stages change this step, sorted by id, with their new values (suppress
    /// sets -inf, then bias adds, then penalties apply: llama.cpp's order). Returns how many.
    /// </summary>
    private int Adjust(float* logits, ReadOnlySpan<int> suppress)
    {
        var cap = suppress.Length + biasTokens.Length + (penalties?.DistinctCount ?? 0);
        if (adjTokens.Length < cap)
        {
            var size = Math.Max(cap, 64);
            adjTokens = new int[size];
            adjValues = new float[size];
        }

        var n = 0;
        foreach (var t in suppress)
        {
            if ((uint)t < (uint)vocabSize)
            {
                adjTokens[n++] = t;
            }
        }

        biasTokens.CopyTo(adjTokens.AsSpan(n));
        n += biasTokens.Length;
        if (penalties is not null)
        {
            n += penalties.CopyTokens(adjTokens.AsSpan(n));
        }

        if (n == 0)
        {
            return 0;
        }

        var toks = adjTokens.AsSpan(0, n);
        toks.Sort();
        var u = 0;
        for (var i = 0; i < n; i++)
        {
            if (u == 0 || toks[i] != toks[u - 1])
            {
                toks[u++] = toks[i];
            }
        }

        for (var i = 0; i < u; i++)
        {
            var t = toks[i];
            var v = suppress.Contains(t) ? float.NegativeInfinity : logits[t];
            for (var b = 0; b < biasTokens.Length; b++)
            {
                if (biasTokens[b] == t)
                {
                    v += biasValues[b];
                }
            }

            if (penalties is not null)
            {
                v = penalties.Apply(t, v);
            }

            adjValues[i] = v;
        }

        return u;
    }

    /// <summary>
    /// The k best candidates of the adjusted row into <see cref="heap"/>, sorted descending, exactly as llama.cpp's
    /// top-k leaves them: std::partial_sort(data, data + k, data + n, logit greater), which in libstdc++ is a heap
    /// selection (__heap_select: make_heap over the first k, then every later element strictly greater than the
    /// heap's top replaces it) followed by __sort_heap. With k = 1 this is greedy's "first maximum".
    /// </summary>
    private void HeapSelect(float* logits, int k, int nAdj)
    {
        var h = heap;
        var ai = 0;
        for (var i = 0; i < k; i++)
        {
            var v = logits[i];
            if (ai < nAdj && adjTokens[ai] == i)
            {
                v = adjValues[ai++];
            }

            h[i] = new LlamaTokenData { Id = i, Logit = v, P = 0f };
        }

        MakeHeap(h, k);
        var pos = k;
        while (true)
        {
            var segEnd = ai < nAdj ? adjTokens[ai] : vocabSize;
            ScanRow(logits, pos, segEnd, k);
            if (segEnd >= vocabSize)
            {
                break;
            }

            Offer(segEnd, adjValues[ai], k);
            ai++;
            pos = segEnd + 1;
        }

        // __sort_heap: pop the top (smallest) to the end, k-1 times.
        for (var last = k; last > 1;)
        {
            last--;
            var value = h[last];
            h[last] = h[0];
            AdjustHeap(h, 0, last, value);
        }
    }

    /// <summary>Offers every row entry in [from, to) to the heap, skipping vectors with nothing above its top.</summary>
    private void ScanRow(float* logits, int from, int to, int k)
    {
        var i = from;
        if (Vector256.IsHardwareAccelerated)
        {
            while (i + Vector256<float>.Count <= to)
            {
                var v = Vector256.Load(logits + i);
                if (Vector256.GreaterThanAny(v, Vector256.Create(heap[0].Logit)))
                {
                    for (var j = i; j < i + Vector256<float>.Count; j++)
                    {
                        Offer(j, logits[j], k);
                    }
                }

                i += Vector256<float>.Count;
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            while (i + Vector128<float>.Count <= to)
            {
                var v = Vector128.Load(logits + i);
                if (Vector128.GreaterThanAny(v, Vector128.Create(heap[0].Logit)))
                {
                    for (var j = i; j < i + Vector128<float>.Count; j++)
                    {
                        Offer(j, logits[j], k);
                    }
                }

                i += Vector128<float>.Count;
            }
        }

        for (; i < to; i++)
        {
            Offer(i, logits[i], k);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Offer(int id, float logit, int k)
    {
        // __heap_select: if (comp(i, first)) __pop_heap(first, middle, i) with comp = "logit greater".
        if (logit > heap[0].Logit)
        {
            AdjustHeap(heap, 0, k, new LlamaTokenData { Id = id, Logit = logit, P = 0f });
        }
    }

    /// <summary>libstdc++ std::__make_heap with comp = "logit greater" (a min-heap by logit).</summary>
    private static void MakeHeap(LlamaTokenData* h, int len)
    {
        if (len < 2)
        {
            return;
        }

        for (var parent = (len - 2) / 2; ; parent--)
        {
            AdjustHeap(h, parent, len, h[parent]);
            if (parent == 0)
            {
                return;
            }
        }
    }

    /// <summary>libstdc++ std::__adjust_heap followed by std::__push_heap, comp(a, b) = a.logit &gt; b.logit.</summary>
    private static void AdjustHeap(LlamaTokenData* h, int hole, int len, LlamaTokenData value)
    {
        var top = hole;
        var child = hole;
        while (child < (len - 1) / 2)
        {
            child = 2 * (child + 1);
            if (h[child].Logit > h[child - 1].Logit)
            {
                child--;
            }

            h[hole] = h[child];
            hole = child;
        }

        if ((len & 1) == 0 && child == (len - 2) / 2)
        {
            child = 2 * (child + 1);
            h[hole] = h[child - 1];
            hole = child - 1;
        }

        var parent = (hole - 1) / 2;
        while (hole > top && h[parent].Logit > value.Logit)
        {
            h[hole] = h[parent];
            hole = parent;
            parent = (hole - 1) / 2;
        }

        h[hole] = value;
    }

    /// <summary>Feeds a token to the chain (also one it did not choose, e.g. forced text) so penalties, grammar and the UTF-8 state stay in step.</summary>
    public void Accept(int token)
    {
        NativeMethods.llama_sampler_accept(chain.DangerousGetHandle(), token);
        penalties?.Accept(token);
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

        if (heap != null)
        {
            NativeMemory.Free(heap);
            heap = null;
        }
    }
}

/// <summary>Where the sampling stages run.</summary>
public enum SamplerMode
{
    /// <summary>Bias, suppression and penalties in managed code over the tokens they touch; top-k / greedy selected from the row.</summary>
    Managed,
    /// <summary>Every stage in llama.cpp's chain over a full candidate array (the previous path; reference for tests).</summary>
    LlamaChain,
}
