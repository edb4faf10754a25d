using System.Text;
using YoutuServer.Engine.Model;
using YoutuServer.Engine.Sampling;
using YoutuServer.Engine.Text;

namespace YoutuServer.Engine.Scheduling;

/// <summary>
/// One KV sequence. While a job runs on it, it holds that choice's sampler and text state; when idle, its
/// <see cref="Tokens"/> still describe the cells left in the cache, which later prompts can reuse.
/// Touched only by the inference thread.
/// </summary>
internal sealed class Slot
{
    private readonly byte[] piece = new byte[256];
    private readonly StringBuilder reasoningTail = new();
    private readonly StringBuilder outputTail = new();
    private ReasoningState reasoning;
    private int reasoningTokens;

    public Slot(int seqId) => SeqId = seqId;

    public int SeqId { get; }
    /// <summary>Exactly the tokens whose cells the KV cache holds for this sequence, in position order.</summary>
    public List<int> Tokens { get; } = [];
    /// <summary>Which cell holds each of <see cref="Tokens"/> (ids the KV-cache manager gives; sequences sharing cells share ids).</summary>
    public List<long> Cells { get; } = [];
    /// <summary>The prefix-cache scope (adapter and tenant salt) the cached <see cref="Tokens"/> were computed in; reused only within it.</summary>
    public UInt128 Scope { get; set; }
    public long LastUsed { get; set; }
    /// <summary>The adapter (0 = base) the cached <see cref="Tokens"/> were computed with: prefixes are reused only by the same one.</summary>
    public int Adapter { get; set; }
    public Job? Job { get; set; }
    public int Choice { get; private set; }
    public bool Finished { get; set; }
    /// <summary>Sampled but not yet decoded (goes into the next batch).</summary>
    public int PendingToken { get; set; } = -1;
    /// <summary>Row of the current batch whose logits this sequence samples from; -1 when none.</summary>
    public int LogitRow { get; set; } = -1;
    public int Generated { get; set; }
    public SamplerChain? Sampler { get; private set; }
    public Utf8TokenDecoder Decoder { get; } = new();
    public StopStringMatcher? Stop { get; private set; }
    /// <summary>Tokens the engine writes instead of sampling (closing an over-budget think block).</summary>
    public Queue<int> Forced { get; } = new();

    /// <summary>This step's logits row (read on the inference thread, sampled possibly on another).</summary>
    public nint Logits { get; set; }
    /// <summary>The token sampled from <see cref="Logits"/> this step; -1 when none was allowed.</summary>
    public int Sampled { get; set; } = -1;

    public void Begin(Job job, int choice, LlamaModel model, int reused, SamplerMode mode = SamplerMode.Managed)
    {
        var r = job.Request;
        var sampling = r.Sampling;
        if (choice > 0)
        {
            // Independent completions: each choice gets its own seed stream.
            sampling = sampling with { Seed = unchecked(sampling.Seed + (uint)choice * 7919u) };
        }

        samplerMode = mode;
        Sampler = SamplerChain.Create(model.Vocab, model.VocabSize, sampling, model.Utf8Guard, model.EndOfGenerationTokens, mode);
        foreach (var t in r.SamplerPrefill)
        {
            if (!Sampler.GrammarAllows(t))
            {
                // Accepting a refused token would throw inside llama.cpp (and take the process with it).
                throw new EngineRejectedException(RejectionReason.InvalidRequest, "the grammar does not accept the text the prompt already ends with (sampler prefill)", RequestField.Grammar);
            }

            Sampler.Accept(t);
        }

        deferred = r.DeferredGrammar;
        deferredSampling = sampling;
        inThink = deferred?.StartsInReasoning ?? false;
        sawOutput = false;
        Job = job;
        Choice = choice;
        Finished = false;
        PendingToken = -1;
        LogitRow = -1;
        Generated = 0;
        Decoder.Reset();
        Stop = new StopStringMatcher(r.Stop);
        Forced.Clear();
        reasoningTail.Clear();
        outputTail.Clear();
        reasoningTokens = 0;
        reasoning = r.ReasoningBudget is null ? ReasoningState.Off
            : r.ReasoningBudget.StartsInReasoning ? ReasoningState.Inside : ReasoningState.Unknown;
        _ = reused;
    }

    public string Decode(LlamaModel model, int token)
    {
        var n = model.TokenToPiece(token, piece);
        return Decoder.Push(piece.AsSpan(0, n));
    }

    /// <summary>Appends this token's text to the output's tail and says whether this token completed <paramref name="marker"/> (it may go on past it).</summary>
    public bool OutputEndsWith(string text, string marker)
    {
        if (text.Length == 0)
        {
            return false;
        }

        outputTail.Append(text);
        var keep = marker.Length + text.Length;
        if (outputTail.Length > keep)
        {
            outputTail.Remove(0, outputTail.Length - keep);
        }

        // An occurrence that ends inside this token's text (compared in place: no string per token).
        for (var end = outputTail.Length; end > outputTail.Length - text.Length && end >= marker.Length; end--)
        {
            if (TailMatches(end - marker.Length, marker))
            {
                return true;
            }
        }

        return false;
    }

    private bool TailMatches(int start, string marker)
    {
        for (var i = 0; i < marker.Length; i++)
        {
            if (outputTail[start + i] != marker[i])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The queued close was refused by the grammar: queue it again after the next token (still past the budget).</summary>
    public void RetryReasoningClose()
    {
        if (reasoning == ReasoningState.Done)
        {
            reasoning = ReasoningState.Inside;
        }
    }

    /// <summary>Counts thinking tokens and, past the budget, queues the close tokens.</summary>
    public void TrackReasoning(string text)
    {
        if (reasoning is ReasoningState.Off or ReasoningState.Done)
        {
            return;
        }

        var budget = Job!.Request.ReasoningBudget!;
        reasoningTail.Append(text);
        if (reasoning == ReasoningState.Unknown)
        {
            var t = reasoningTail.ToString().TrimStart();
            if (t.Length == 0)
            {
                return;
            }

            if (t.StartsWith(budget.OpenTag, StringComparison.Ordinal))
            {
                reasoning = ReasoningState.Inside;
            }
            else if (!budget.OpenTag.StartsWith(t, StringComparison.Ordinal))
            {
                reasoning = ReasoningState.Done;
                return;
            }
            else
            {
                return;
            }
        }

        reasoningTokens++;
        if (reasoningTail.ToString().Contains(budget.CloseTag, StringComparison.Ordinal))
        {
            reasoning = ReasoningState.Done;
            return;
        }

        // Keep only enough text to see a close tag split across tokens.
        if (reasoningTail.Length > 64)
        {
            reasoningTail.Remove(0, reasoningTail.Length - 32);
        }

        if (reasoningTokens >= budget.MaxTokens && Forced.Count == 0)
        {
            foreach (var t in budget.CloseTokens)
            {
                Forced.Enqueue(t);
            }

            reasoning = ReasoningState.Done;
        }
    }

    private SamplerMode samplerMode;
    private DeferredGrammar? deferred;
    private SamplingParams? deferredSampling;
    private bool inThink;
    private bool sawOutput;

    /// <summary>Engages the deferred grammar when its trigger token appears outside reasoning.</summary>
    public void TrackDeferredGrammar(LlamaModel model, int token)
    {
        if (deferred is null)
        {
            return;
        }

        if (token == deferred.ThinkOpenToken && !sawOutput)
        {
            inThink = true;
        }
        else if (token == deferred.ThinkCloseToken)
        {
            inThink = false;
        }
        else if (token == deferred.TriggerToken && !inThink)
        {
            // Same settings plus the grammar; the trigger token is the grammar's first accepted piece.
            var next = SamplerChain.Create(model.Vocab, model.VocabSize, deferredSampling! with { Grammar = deferred.Grammar }, model.Utf8Guard, model.EndOfGenerationTokens, samplerMode);
            if (!next.GrammarAllows(token))
            {
                next.Dispose();
                throw new EngineRejectedException(RejectionReason.InvalidRequest, "the deferred grammar does not start with its trigger token", RequestField.Grammar);
            }

            next.Accept(token);
            Sampler?.Dispose();
            Sampler = next;
            deferred = null;
            return;
        }

        sawOutput = true;
    }

    public void ReleaseSampler()
    {
        Sampler?.Dispose();
        Sampler = null;
    }

    private enum ReasoningState
    {
        Off,
        Unknown,
        Inside,
        Done,
    }
}
