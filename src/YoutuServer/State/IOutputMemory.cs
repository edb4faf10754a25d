namespace YoutuServer.State;

/// <summary>A bounded memory of values by tenant and key: what <see cref="IOutputMemory"/> and
/// <see cref="IToolUseMemory"/> share on every backend.</summary>
internal interface IKeyedMemory<T>
    where T : class
{
    ValueTask RememberAsync(TenantId tenant, string key, T value, CancellationToken cancellationToken);

    ValueTask<T?> RecallAsync(TenantId tenant, string key, CancellationToken cancellationToken);

    /// <summary>
    /// The values of several keys (those held; a key named twice is looked up once), in one store round trip: a
    /// request recalls all its earlier turns before generating, so the shared store's latency is paid once, not per turn.
    /// </summary>
    ValueTask<IReadOnlyDictionary<string, T>> RecallManyAsync(TenantId tenant, IReadOnlyCollection<string> keys, CancellationToken cancellationToken);
}

/// <summary>
/// The exact text and token ids of recent finished assistant turns, by a key of what the client saw (see
/// Generation's OutputMemoryKeys), so that a turn sent back goes into the prompt as the tokens the model produced
/// and the prefix cache reuses it. Scoped and bounded per tenant. A miss only costs prefix-cache reuse; a store that
/// cannot answer throws <see cref="StateUnavailableException"/> and callers may treat it as a miss.
/// </summary>
internal interface IOutputMemory : IKeyedMemory<RememberedOutput>
{
}

/// <summary>A remembered turn: the text it rendered to and the token ids that text is, in order.</summary>
internal sealed record RememberedOutput(string Text, IReadOnlyList<int> Tokens)
{
    public long Bytes => 64 + (2L * Text.Length) + (4L * Tokens.Count);
}

/// <summary>
/// The exact argument text of recent tool calls by the id a wire format gave them (Anthropic's toolu_ ids), so that
/// a call a client re-serialized (spacing lost) goes back into the prompt as the model's own text; plus
/// whitespace-only text its turn had. Scoped and bounded per tenant; failures as for <see cref="IOutputMemory"/>.
/// </summary>
internal interface IToolUseMemory : IKeyedMemory<RememberedToolUse>
{
}

/// <summary>A remembered tool call: the model's argument text and the whitespace-only content its turn had (or null).</summary>
internal sealed record RememberedToolUse(string Arguments, string? TurnContent)
{
    public long Bytes => 64 + (2L * (Arguments.Length + (TurnContent?.Length ?? 0)));
}
