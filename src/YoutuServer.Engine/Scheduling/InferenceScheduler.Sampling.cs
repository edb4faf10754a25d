using YoutuServer.Engine.Sampling;
using YoutuServer.Native;

namespace YoutuServer.Engine.Scheduling;

/// <summary>Sampling: every sequence with a logits row samples with its own chain (on several threads when worth it), then tokens and stop rules are applied on the inference thread.</summary>
public sealed partial class InferenceScheduler
{
    // ------------------------------------------------------------------ sampling

    private unsafe void SampleAll()
    {
        toSample.Clear();
        foreach (var j in running)
        {
            foreach (var s in j.Slots)
            {
                if (s.Job == j && !s.Finished && s.LogitRow >= 0)
                {
                    toSample.Add(s);
                }
            }
        }

        // 1. On this thread (it owns the context): each row's address, and forced tokens, which need no sampling.
        pickCount = 0;
        foreach (var s in toSample)
        {
            var row = s.LogitRow;
            s.LogitRow = -1;
            s.Logits = (nint)NativeMethods.llama_get_logits_ith(ctx, row);
            s.Sampled = -1;
            if (s.Logits == 0)
            {
                continue;
            }

            if (s.Forced.Count > 0 && !s.Sampler!.GrammarAllows(s.Forced.Peek()))
            {
                // A reasoning budget ending where the grammar does not allow the close tag now (inside a UTF-8
                // character, or a tool-call grammar engaged inside text-level reasoning): the grammar wins this step,
                // and the budget tries again after the next token.
                s.Forced.Clear();
                s.RetryReasoningClose();
            }

            if (s.Forced.Count > 0)
            {
                s.Sampled = s.Forced.Dequeue();
                s.Sampler!.Accept(s.Sampled);
            }
            else
            {
                picks[pickCount++] = s;
            }
        }

        // 2. Sampling: each sequence has its own chain and only reads its row, so they may run side by side.
        if (samplingWorkers is not null && pickCount >= Math.Max(2, options.ParallelSamplingMinSequences)
            && model.VocabSize >= options.ParallelSamplingMinVocab)
        {
            samplingWorkers.Run(pickCount);
            parallelSampleSteps++;
        }
        else
        {
            for (var i = 0; i < pickCount; i++)
            {
                SampleOne(i);
            }
        }

        Array.Clear(picks, 0, pickCount);

        // 3. On this thread again: events, stop strings, finishing.
        foreach (var s in toSample)
        {
            var job = s.Job!;
            var r = job.Request;
            var logits = (float*)s.Logits;
            s.Logits = 0;
            if (logits == null)
            {
                FinishChoice(s, FinishReason.Error, "no logits for this sequence");
                continue;
            }

            var token = s.Sampled;
            if (token == SamplerChain.End)
            {
                // ignore_eos and min_tokens forbid the end, but a grammar that allows nothing else has ended the
                // output: that is a Stop, not a failure (SamplerChain relaxes conflicting constraints in a fixed order).
                FinishChoice(s, FinishReason.Stop, null);
                continue;
            }

            if (token < 0)
            {
                FinishChoice(s, FinishReason.Error, "no token is allowed by the grammar at this point");
                continue;
            }

            var logprobs = r.TopLogprobs >= 0 ? Logprobs.Prepare(logits, model.VocabSize, r.TopLogprobs) : default;
            generatedTokens++;
            s.Generated++;
            try
            {
                s.TrackDeferredGrammar(model, token);
            }
            catch (EngineRejectedException e)
            {
                FinishChoice(s, FinishReason.Error, e.Message);
                continue;
            }

            if (model.IsEndOfGeneration(token) && !r.IgnoreEos)
            {
                FinishChoice(s, FinishReason.Stop, null);
                continue;
            }

            var text = s.Decode(model, token);
            s.TrackReasoning(text);
            var emit = s.Stop!.Push(text, out var hitStop);
            var lp = r.TopLogprobs >= 0 ? logprobs.Of(logits, token) : 0f;
            job.Output.Writer.TryWrite(new TokenEvent(s.Choice, token, emit, lp, logprobs.Top));
            if (hitStop)
            {
                FinishChoice(s, FinishReason.Stop, null, stopString: true);
            }
            else if (r.EndUnlessRoom is { } room && s.OutputEndsWith(text, room.AfterText) && r.MaxTokens - s.Generated < room.MinRoom)
            {
                FinishChoice(s, FinishReason.Stop, null);
            }
            else if (s.Generated >= r.MaxTokens)
            {
                FinishChoice(s, FinishReason.Length, null);
            }
            else if (s.Tokens.Count + 1 >= nCtx)
            {
                FinishChoice(s, FinishReason.Length, null);
            }
            else
            {
                s.PendingToken = token;
            }
        }
    }

    /// <summary>Samples picks[i] from its row (any thread: touches only that slot's sampler and reads the row).</summary>
    private unsafe void SampleOne(int i)
    {
        var s = picks[i];
        var r = s.Job!.Request;
        // ignore_eos / min_tokens: end-of-generation tokens count as -inf (the row itself is not written); the result
        // may be SamplerChain.End (the grammar allows only the forbidden end) or -1, handled on the inference thread.
        s.Sampled = s.Sampler!.Sample((float*)s.Logits, endForbidden: r.IgnoreEos || s.Generated < r.MinTokens);
    }
}
