namespace YoutuServer.Engine.Scheduling;

/// <summary>
/// Which waiting prompts get a step's prompt budget, and how big that budget is: the time-to-first-token policy.
/// </summary>
/// <remarks>
/// <para>Every step first carries one decode token per generating sequence (their pace is never traded away). The
/// rest of the step-token budget (<see cref="EngineOptions.StepTokens"/>, default the batch size) goes to prompts,
/// so a prompt that fits is evaluated whole in the next step instead of in fixed 128-token slices over several
/// steps; <see cref="EngineOptions.PromptChunkWhileGenerating"/> (0 = no cap) can still cap it.</para>
/// <para>Prompts are served shortest remaining first, so a short question is not queued behind a long document
/// that arrived a moment earlier (the median time to first token is set by the many short prompts); a prompt's
/// remaining length counts down by <see cref="AgingTokensPerStep"/> for every step it has waited, so a long one
/// still moves ahead of newer short ones eventually and nothing starves. The long prompt keeps any budget the
/// shorter ones leave.</para>
/// </remarks>
internal static class PrefillPolicy
{
    /// <summary>Tokens of priority a waiting prompt gains per step.</summary>
    public const int AgingTokensPerStep = 64;

    /// <summary>The prompt tokens this step may carry besides <paramref name="decodeTokens"/> decode tokens.</summary>
    public static int PromptBudget(int batchCapacity, int stepTokens, int chunkWhileGenerating, int decodeTokens)
    {
        var step = stepTokens > 0 ? Math.Min(stepTokens, batchCapacity) : batchCapacity;
        var budget = Math.Max(1, step - decodeTokens);
        if (decodeTokens > 0 && chunkWhileGenerating > 0)
        {
            budget = Math.Min(budget, chunkWhileGenerating);
        }

        return Math.Min(budget, batchCapacity - decodeTokens);
    }

    /// <summary>Priority key: smaller goes first.</summary>
    public static long Key(int remainingTokens, long stepsWaited) => remainingTokens - (stepsWaited * AgingTokensPerStep);

    /// <summary>Sorts <paramref name="prefilling"/> in place: smallest key first, then earliest admitted.</summary>
    public static void Order(List<(Job Job, int Remaining, long AdmitStep)> prefilling, long step)
    {
        prefilling.Sort((a, b) =>
        {
            var c = Key(a.Remaining, step - a.AdmitStep).CompareTo(Key(b.Remaining, step - b.AdmitStep));
            return c != 0 ? c : a.AdmitStep.CompareTo(b.AdmitStep);
        });
    }
}
