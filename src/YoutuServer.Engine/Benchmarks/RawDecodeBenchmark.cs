using System.Diagnostics;
using YoutuServer.Engine.Model;
using YoutuServer.Engine.Sampling;
using YoutuServer.Native;

namespace YoutuServer.Engine.Benchmarks;

/// <summary>
/// Throughput of a plain loop over the binding: the baseline the scheduler is measured against. FirstSequence: the
/// greedy tokens of sequence 0 (its prompt is the same whatever the sequence count).
/// </summary>
public sealed record RawDecodeResult(int Sequences, int Steps, double DecodeSeconds, double PromptTokensPerSecond, int[]? FirstSequence = null)
{
    public double TokensPerSecond => Sequences * Steps / DecodeSeconds;
}

/// <summary>
/// llama.cpp driven directly, as its own examples do: one context, prompts decoded in one batch, then steps of one
/// token per sequence. No scheduler, no channels, no text handling.
/// </summary>
/// <remarks>
/// Greedy (the default) is an arg-max over each logits row, exactly what the scheduler's greedy path does, so
/// "scheduler / raw" compares like with like (it used to go through llama_sampler_sample, which fills a 128,256-entry
/// candidate array per sequence: ~23 ms of each 32-sequence step on the H200). With <c>sampling</c> set, every
/// sequence samples through llama.cpp's own chain over the full candidate array, one after another, the way
/// llama-server does; the scheduler side then shows what managed and parallel sampling buy.
/// Each step's time includes llama_synchronize, so on a GPU it is the device's time, not the launch's.
/// </remarks>
public static unsafe class RawDecodeBenchmark
{
    public static RawDecodeResult Run(LlamaModel model, EngineOptions options, int sequences, int promptTokens, int steps, SamplingParams? sampling = null)
    {
        var p = NativeMethods.llama_context_default_params();
        var threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        var nBatch = Math.Max(options.BatchSize, Math.Max(sequences, promptTokens));
        p.NCtx = (uint)options.CtxSize;
        p.NBatch = (uint)nBatch;
        p.NUbatch = (uint)Math.Min(nBatch, 512);
        p.NSeqMax = (uint)Math.Max(sequences, options.Parallel);
        p.NThreads = threads;
        p.NThreadsBatch = threads;
        p.FlashAttnType = options.FlashAttention;
        p.KvUnified = true;
        var ctx = NativeMethods.llama_init_from_model(model.Handle.DangerousGetHandle(), p);
        if (ctx == 0)
        {
            throw new ModelLoadException("could not create a benchmark context");
        }

        var batch = NativeMethods.llama_batch_init(nBatch, 0, 1);
        var greedy = sampling is null || sampling.IsGreedy && sampling.RepetitionPenalty == 1f && sampling.PresencePenalty == 0f && sampling.FrequencyPenalty == 0f;
        var samplers = new SamplerChain?[sequences];
        if (!greedy)
        {
            for (var s = 0; s < sequences; s++)
            {
                samplers[s] = SamplerChain.Create(model.Vocab, model.VocabSize, sampling! with { Seed = sampling.Seed + (uint)s }, mode: SamplerMode.LlamaChain);
            }
        }

        int Next(int seq, int row)
        {
            var logits = NativeMethods.llama_get_logits_ith(ctx, row);
            return greedy ? ArgMax(logits, model.VocabSize) : samplers[seq]!.Sample(logits);
        }

        try
        {
            var rng = new Random(1234);
            var vocab = model.VocabSize;
            // Prompt evaluation: each sequence's prompt in its own decode (measures prompt throughput).
            var ppTimer = Stopwatch.StartNew();
            var logitRow = new int[sequences];
            for (var s = 0; s < sequences; s++)
            {
                batch.NTokens = promptTokens;
                for (var i = 0; i < promptTokens; i++)
                {
                    batch.Token[i] = rng.Next(vocab);
                    batch.Pos[i] = i;
                    batch.NSeqId[i] = 1;
                    batch.SeqId[i][0] = s;
                    batch.Logits[i] = (sbyte)(i == promptTokens - 1 ? 1 : 0);
                }

                Check(NativeMethods.llama_decode(ctx, batch));
                logitRow[s] = Next(s, promptTokens - 1); // reuse as "next token"
            }

            var ppSeconds = ppTimer.Elapsed.TotalSeconds;
            var next = logitRow;
            var first = new int[steps + 1];
            first[0] = next[0];
            var sw = Stopwatch.StartNew();
            for (var step = 0; step < steps; step++)
            {
                batch.NTokens = sequences;
                for (var s = 0; s < sequences; s++)
                {
                    batch.Token[s] = next[s];
                    batch.Pos[s] = promptTokens + step;
                    batch.NSeqId[s] = 1;
                    batch.SeqId[s][0] = s;
                    batch.Logits[s] = 1;
                }

                Check(NativeMethods.llama_decode(ctx, batch));
                NativeMethods.llama_synchronize(ctx);
                for (var s = 0; s < sequences; s++)
                {
                    next[s] = Math.Max(0, Next(s, s));
                }

                first[step + 1] = next[0];
            }

            return new RawDecodeResult(sequences, steps, sw.Elapsed.TotalSeconds, sequences * promptTokens / ppSeconds, first);
        }
        finally
        {
            foreach (var s in samplers)
            {
                s?.Dispose();
            }

            NativeMethods.llama_batch_free(batch);
            NativeMethods.llama_free(ctx);
        }
    }

    private static int ArgMax(float* logits, int n)
    {
        var best = 0;
        var max = float.NegativeInfinity;
        for (var i = 0; i < n; i++)
        {
            if (logits[i] > max)
            {
                max = logits[i];
                best = i;
            }
        }

        return best;
    }

    private static void Check(int rc)
    {
        if (rc != 0)
        {
            throw new InvalidOperationException($"llama_decode returned {rc}");
        }
    }
}
