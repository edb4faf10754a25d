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
/// <para>The logit bias, the end-of-generation mask (ignore_eos, min_tokens), the UTF-8 guard and the grammar (a
/// sampler handle of its own, not part of the chain) are applied here, before llama.cpp's chain (penalties, top-k,
/// top-p, min-p, temperature, pick), so that when together they leave no token the sampler can relax them in a fixed
/// order instead of failing a satisfiable request. The grammar always wins (it is what the client parses):</para>
/// <list type="number">
/// <item>everything applied;</item>
/// <item>without the UTF-8 guard (a grammar that itself allows only invalid UTF-8, e.g. a lone surrogate);</item>
/// <item>when the end of generation was forbidden and the grammar (with the bias) allows only the end: the grammar is
/// complete, <see cref="Sample"/> returns <see cref="End"/> and the choice finishes with Stop, although ignore_eos
/// or min_tokens asked for more;</item>
/// <item>without the logit bias (it banned every token the grammar allows): the grammar's own choice for this step;</item>
/// <item>as 3, without the bias.</item>
/// </list>
/// <para>Without a grammar the same order applies (only a bias banning every token could empty the candidates). An
/// attempt that leaves no token returns before the chain runs, so a relaxed retry draws from the seed's stream exactly
/// where the failed attempt would have.</para>
/// <para>By default (<see cref="SamplerMode.Managed"/>) the stages whose llama.cpp implementation costs a pass over the
/// whole vocabulary are done here first, with the same float arithmetic, and the native chain gets only the rest:</para>
/// <list type="bullet">
/// <item>logit bias, the end mask and repetition/frequency/presence penalties touch only their own tokens (O(window),
/// not a hash look-up per candidate);</item>
/// <item>without a grammar, a chain that starts with top-k (k &lt;= 128) gets just those k candidates, chosen by the
/// same heap selection libstdc++'s std::partial_sort runs inside llama.cpp's top-k (so ties come out in the same
/// order), from one vectorised pass over the logits row instead of filling a 128k-entry candidate array;</item>
/// <item>greedy without a grammar is an arg-max over the adjusted row (llama.cpp's greedy keeps the first maximum).</item>
/// </list>
/// <para>With a grammar the full candidate array is built (the grammar and the UTF-8 guard mask it). In
/// <see cref="SamplerMode.LlamaChain"/> the penalties run in llama.cpp's chain over the full array (the bias, end mask
/// and grammar stay here, for the relaxation above); tests prove both modes pick the same tokens for the same seeds.
/// The logits row itself is never written, so several choices may read one row, and independent samplers may sample
/// on different threads (nothing here touches the llama_context; <see cref="GrammarAllows"/> and forced tokens stay on
/// the inference thread).</para>
/// </remarks>
internal sealed unsafe class SamplerChain : IDisposable
{
    /// <summary>Returned by <see cref="Sample"/>: the grammar allows only the end of generation, which the request forbade.</summary>
    public const int End = -2;

    /// <summary>Largest top-k done by heap selection: llama.cpp sorts k &lt;= 128 with std::partial_sort, larger ones by buckets.</summary>
    internal const int MaxHeapTopK = 128;

    private readonly SafeLlamaSamplerHandle chain;
    private readonly SafeLlamaSamplerHandle? grammar;
    private readonly int vocabSize;
    private readonly SamplerMode mode;
    private readonly int[] endTokens;
    private LlamaTokenData* candidates;

    // Plain greedy (no bias, penalties or grammar): the chain would only pick the arg-max, so do that directly.
    private readonly bool plainGreedy;

    // Managed mode: greedy without a grammar (arg-max over adjusted logits), or top-k first without a grammar.
    private readonly bool managedGreedy;
    private readonly int heapK;
    private LlamaTokenData* heap;

    // Logit bias (token, bias), applied here in both modes (so the relaxation can drop it); penalties in managed mode.
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

    private SamplerChain(SafeLlamaSamplerHandle chain, SafeLlamaSamplerHandle? grammar, int vocabSize, SamplerMode mode, int[] endTokens,
        bool plainGreedy, bool managedGreedy, int heapK, int[] biasTokens, float[] biasValues, PenaltyWindow? penalties, Utf8TokenGuard? utf8)
    {
        this.chain = chain;
        this.grammar = grammar;
        this.vocabSize = vocabSize;
        this.mode = mode;
        this.endTokens = endTokens;
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

    public bool HasGrammar => grammar is not null;

    /// <summary>
    /// Builds the sampler in llama-server's order: bias, penalties, grammar, top-k, top-p, min-p, temperature, pick
    /// (bias and grammar applied by this class, penalties by it or the chain depending on <paramref name="mode"/>, the
    /// rest by a llama.cpp chain; the grammar only masks, so running it before the penalties changes nothing).
    /// </summary>
    /// <remarks><paramref name="utf8"/> is used only when <paramref name="p"/> has a grammar; <paramref name="endOfGeneration"/>
    /// are the tokens <see cref="Sample"/> masks when the end is forbidden.</remarks>
    public static SamplerChain Create(nint vocab, int vocabSize, SamplingParams p, Utf8TokenGuard? utf8 = null,
        IReadOnlyList<int>? endOfGeneration = null, SamplerMode mode = SamplerMode.Managed)
    {
        var cp = NativeMethods.llama_sampler_chain_default_params();
        cp.NoPerf = true;
        var c = NativeMethods.llama_sampler_chain_init(cp);
        var handle = new SafeLlamaSamplerHandle(c);
        SafeLlamaSamplerHandle? grammar = null;
        var managed = mode == SamplerMode.Managed;
        var hasBias = p.LogitBias is { Count: > 0 };
        var hasPenalties = p.RepetitionPenalty != 1f || p.PresencePenalty != 0f || p.FrequencyPenalty != 0f;
        try
        {
            if (hasPenalties && !managed)
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

            var plain = p.IsGreedy && !hasBias && p.Grammar is null && !hasPenalties;
            var managedGreedy = managed && p.IsGreedy && p.Grammar is null && !plain;
            var heapK = managed && !p.IsGreedy && p.Grammar is null && p.TopK > 0 && p.TopK <= MaxHeapTopK && p.TopK < vocabSize ? p.TopK
                : managedGreedy ? 1 : 0;

            // llama.cpp adds each bias to the candidate whose id it names; ids outside the vocabulary match nothing.
            var kept = hasBias ? p.LogitBias!.Where(kv => kv.Key >= 0 && kv.Key < vocabSize).ToArray() : [];
            var ends = (endOfGeneration ?? []).Where(t => (uint)t < (uint)vocabSize).Distinct().ToArray();
            return new SamplerChain(handle, grammar, vocabSize, mode, ends, plain, managedGreedy, heapK,
                kept.Select(kv => kv.Key).ToArray(), kept.Select(kv => kv.Value).ToArray(),
                managed ? PenaltyWindow.Create(p) : null, p.Grammar is null ? null : utf8);
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
    /// Samples from the logits row (only read) and accepts the token into the sampler. <paramref name="endForbidden"/>
    /// masks the end-of-generation tokens (ignore_eos, min_tokens not reached). Returns the token; <see cref="End"/> when
    /// the grammar is complete and allows nothing but the forbidden end; -1 when no token is allowed at all.
    /// </summary>
    /// <remarks>Safe on any thread as long as no other thread uses this sampler (the row is not written).</remarks>
    public int Sample(float* logits, bool endForbidden = false)
    {
        if (plainGreedy && !endForbidden)
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

        // 1-2. With a grammar, prefer tokens that keep the bytes valid UTF-8. Where the grammar itself allows nothing
        // else (say a lone surrogate escape in a schema), fall back to its own choice rather than fail a satisfiable request.
        var token = PickRelaxingUtf8(logits, withBias: true, endForbidden);

        // 3. The grammar is complete and the request forbade the end: finish here (the caller reports Stop).
        if (token < 0 && endForbidden && EndAllowed(logits, withBias: true))
        {
            return End;
        }

        // 4-5. The bias banned every token the grammar allows: the grammar wins for this step.
        if (token < 0 && biasTokens.Length > 0)
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
        if (heapK > 0 || plainGreedy)
        {
            // No grammar (so no guard either): select from the row plus the few adjusted logits.
            var k = plainGreedy ? 1 : heapK;
            var nAdj = Adjust(logits, withBias, endForbidden);
            HeapSelect(logits, k, nAdj);
            if (!IsFinite(heap[0].Logit))
            {
                return -1; // the best candidate is masked, so all are: leave the chain (and its RNG) untouched
            }

            if (managedGreedy || plainGreedy)
            {
                return heap[0].Id;
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
            var nAdj = Adjust(logits, withBias, endForbidden);
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
            // The chain applies the penalties; the bias and the end mask stay here so that the relaxation can drop them.
            if (withBias)
            {
                for (var b = 0; b < biasTokens.Length; b++)
                {
                    candidates[biasTokens[b]].Logit += biasValues[b];
                }
            }

            if (endForbidden)
            {
                foreach (var t in endTokens)
                {
                    candidates[t].Logit = float.NegativeInfinity;
                }
            }
        }

        var arr = new LlamaTokenDataArray { Data = candidates, Size = (nuint)vocabSize, Selected = -1, Sorted = false };
        if (grammar is not null)
        {
            NativeMethods.llama_sampler_apply(grammar.DangerousGetHandle(), &arr);
        }

        // Nothing left: stop here rather than let the chain normalise a row of -inf (and draw from its RNG, which
        // would shift the seed's stream for the relaxed retry). The scan stops at the first live candidate.
        var any = false;
        for (var i = 0; i < (int)arr.Size && !any; i++)
        {
            any = IsFinite(arr.Data[i].Logit);
        }

        return any ? RunChain(&arr) : -1;
    }

    private static bool IsFinite(float logit) => !float.IsNegativeInfinity(logit) && !float.IsNaN(logit);

    private int RunChain(LlamaTokenDataArray* arr)
    {
        NativeMethods.llama_sampler_apply(chain.DangerousGetHandle(), arr);
        return arr->Selected < 0 || arr->Selected >= (long)arr->Size || float.IsNegativeInfinity(arr->Data[arr->Selected].Logit)
            ? -1
            : arr->Data[arr->Selected].Id;
    }

    /// <summary>
    /// The tokens whose logits the managed stages change this step, sorted by id, with their new values (the end mask
    /// sets -inf, then the bias adds, then the penalties apply: llama.cpp's order). Returns how many.
    /// </summary>
    private int Adjust(float* logits, bool withBias, bool endForbidden)
    {
        ReadOnlySpan<int> suppress = endForbidden ? endTokens : [];
        var nBias = withBias ? biasTokens.Length : 0;
        var cap = suppress.Length + nBias + (penalties?.DistinctCount ?? 0);
        if (adjTokens.Length < cap)
        {
            var size = Math.Max(cap, 64);
            adjTokens = new int[size];
            adjValues = new float[size];
        }

        var n = 0;
        foreach (var t in suppress)
        {
            adjTokens[n++] = t;
        }

        biasTokens.AsSpan(0, nBias).CopyTo(adjTokens.AsSpan(n));
        n += nBias;
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
            for (var b = 0; b < nBias; b++)
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


    /// <summary>Whether some end-of-generation token survives the grammar (and the bias): the grammar is complete.</summary>
    private bool EndAllowed(float* logits, bool withBias)
    {
        foreach (var t in endTokens)
        {
            var logit = logits[t];
            if (withBias)
            {
                for (var b = 0; b < biasTokens.Length; b++)
                {
                    if (biasTokens[b] == t)
                    {
                        logit += biasValues[b];
                    }
                }
            }

            if (IsFinite(logit) && GrammarAllows(t))
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
        penalties?.Accept(token);
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
    /// <summary>Bias, the end mask and penalties in managed code over the tokens they touch; top-k / greedy selected from the row.</summary>
    Managed,
    /// <summary>Penalties in llama.cpp's chain over a full candidate array (the previous path; reference for tests).</summary>
    LlamaChain,
}
