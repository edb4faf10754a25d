using System.Text.Json;
using YoutuServer.Chat.Messages;

namespace YoutuServer.Generation;

/// <summary>
/// What a client wants generated, in no wire format's vocabulary: every front door (OpenAI chat, legacy
/// completions, Responses, Anthropic Messages, the simple /chat) maps its request onto this, and
/// <see cref="GenerationPlanner"/> turns it into a prompt, a grammar and an engine request in one place.
/// </summary>
internal sealed record GenerationIntent
{
    /// <summary>The model name the client asked for; null or empty means the served model.</summary>
    public string? Model { get; init; }

    /// <summary>The conversation. Assistant messages may carry <see cref="ChatMessage.Reasoning"/> as the model produced it.</summary>
    public IReadOnlyList<ChatMessage> Messages { get; init; } = [];

    /// <summary>Raw prompt token ids instead of a conversation (legacy completions); no template, no parsing.</summary>
    public RawPrompt? Raw { get; init; }

    public IReadOnlyList<ToolDefinition> Tools { get; init; } = [];
    public ToolChoice ToolChoice { get; init; } = ToolChoice.Default;
    public bool ParallelToolCalls { get; init; } = true;
    public OutputConstraint Output { get; init; } = OutputConstraint.Text;
    public ThinkingIntent Thinking { get; init; } = new();
    public SamplingIntent Sampling { get; init; } = new();
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Number of independent completions.</summary>
    public int N { get; init; } = 1;

    /// <summary>Null: as many as fit (bounded by the server's default).</summary>
    public int? MaxTokens { get; init; }

    /// <summary>
    /// True when <see cref="MaxTokens"/> is a cap clamped to the room the prompt leaves (Anthropic's max_tokens, as
    /// llama-server treats Claude Code's fixed 32000), not a request that fails when it does not fit.
    /// </summary>
    public bool MaxTokensIsCap { get; init; }

    /// <summary>
    /// Responses' <c>truncation: "auto"</c>: when the prompt (with the requested output) does not fit the context, the
    /// oldest turns are dropped until it does; system and developer messages and the last user turn always stay.
    /// </summary>
    public bool DropOldestToFit { get; init; }
    public int? MinTokens { get; init; }
    public bool IgnoreEos { get; init; }

    /// <summary>Null: no logprobs; 0: the chosen token's only; k: plus the k most likely alternatives.</summary>
    public int? TopLogprobs { get; init; }

    /// <summary>Logprobs asked for without a count (validated against <see cref="TopLogprobs"/>).</summary>
    public bool Logprobs { get; init; }

    /// <summary>
    /// Text an earlier turn's prompt and output rendered to, with the exact tokens the engine evaluated and generated
    /// for it (a stored conversation continued by id). When the rendered prompt starts with this text, those tokens
    /// are used for it and only the rest is tokenized, so the prefix cache reuses the whole earlier turn even where
    /// the model chose another tokenization of its output than the tokenizer would.
    /// </summary>
    public PromptPrefix? KnownPrefix { get; init; }

    /// <summary>
    /// The request's own prefix-cache salt (vLLM's <c>cache_salt</c>): cached prompt prefixes are reused only between
    /// requests with the same salt (and the same tenant). Null: the tenant's shared scope.
    /// </summary>
    public string? CacheSalt { get; init; }

    /// <summary>
    /// A conversation's id (OpenAI's <c>prompt_cache_key</c>, sent by Codex per conversation): a hint to keep that
    /// conversation's prefix cached between its turns. Never widens what may be reused.
    /// </summary>
    public string? CacheKey { get; init; }

    /// <summary>Whose request it is: the state services (remembered turns) and the prefix cache are scoped by it.</summary>
    internal State.TenantId Tenant { get; init; } = State.TenantId.Anonymous;

    /// <summary>
    /// Assistant turns of <see cref="Messages"/> that <see cref="State.IOutputMemory"/> remembers, by
    /// <see cref="OutputMemoryKeys"/> key: fetched before planning (<see cref="GenerationPlanner.PlanAsync"/>), so
    /// that planning itself does no I/O.
    /// </summary>
    internal IReadOnlyDictionary<string, State.RememberedOutput>? RecalledTurns { get; init; }
}

/// <summary>A prompt prefix and the tokens it stands for (see <see cref="GenerationIntent.KnownPrefix"/>).</summary>
internal sealed record PromptPrefix(string Text, IReadOnlyList<int> Tokens);

/// <summary>A legacy-completions prompt: text tokenized with BOS, or token ids as given.</summary>
internal sealed record RawPrompt(string? Text, IReadOnlyList<int>? Tokens, bool Echo = false);

/// <summary>A function the model may call. <see cref="TemplateJson"/> is the object the chat template renders.</summary>
internal sealed record ToolDefinition
{
    public required string Name { get; init; }
    public string? Description { get; init; }

    /// <summary>JSON Schema of the arguments; null means any object.</summary>
    public JsonElement? Parameters { get; init; }
    public bool Strict { get; init; }

    /// <summary>
    /// The tool as the template sees it: <c>{"type":"function","function":{...}}</c> (the convention of Hugging Face chat
    /// templates). An adapter whose wire already has that shape passes the client's object, keeping its key order.
    /// </summary>
    public required JsonElement TemplateJson { get; init; }

    /// <summary>Builds <see cref="TemplateJson"/> from the parts, for wire formats with another tool shape.</summary>
    public static ToolDefinition Create(string name, string? description, JsonElement? parameters, bool strict = false)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("type", "function");
            w.WriteStartObject("function");
            w.WriteString("name", name);
            if (description is not null)
            {
                w.WriteString("description", description);
            }

            if (parameters is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) } p)
            {
                w.WritePropertyName("parameters");
                p.WriteTo(w);
            }

            if (strict)
            {
                w.WriteBoolean("strict", true);
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        using var doc = JsonDocument.Parse(buffer.WrittenMemory);
        return new ToolDefinition { Name = name, Description = description, Parameters = parameters, Strict = strict, TemplateJson = doc.RootElement.Clone() };
    }
}

internal enum ToolChoiceKind
{
    /// <summary>Not said: auto when there are tools, none otherwise.</summary>
    Default,
    Auto,
    None,
    Required,
    Named,
}

internal sealed record ToolChoice(ToolChoiceKind Kind, string? Name = null)
{
    public static ToolChoice Default { get; } = new(ToolChoiceKind.Default);
    public static ToolChoice Auto { get; } = new(ToolChoiceKind.Auto);
    public static ToolChoice None { get; } = new(ToolChoiceKind.None);
    public static ToolChoice Required { get; } = new(ToolChoiceKind.Required);
    public static ToolChoice Function(string name) => new(ToolChoiceKind.Named, name);
}

internal enum OutputKind
{
    Text,
    JsonObject,
    JsonSchema,
}

/// <summary>
/// What the answer text must be: free text, any JSON object, or JSON following a schema (grammar-enforced).
/// <see cref="SchemaPath"/> is where the schema sits in the client's request (a JSON pointer), for error messages.
/// </summary>
internal sealed record OutputConstraint(OutputKind Kind, JsonElement? Schema = null, string? Name = null, string SchemaPath = "/schema")
{
    public static OutputConstraint Text { get; } = new(OutputKind.Text);
}

/// <summary>Thinking on or off (null: the server's default), a budget in tokens (null: the server's; -1: unlimited), forced.</summary>
internal sealed record ThinkingIntent(bool? Enabled = null, int? Budget = null, bool Forced = false);

/// <summary>Sampling as asked; unset fields take the model's recommended preset for the thinking mode.</summary>
internal sealed record SamplingIntent
{
    public double? Temperature { get; init; }
    public double? TopP { get; init; }
    public int? TopK { get; init; }
    public double? MinP { get; init; }
    public double? PresencePenalty { get; init; }
    public double? FrequencyPenalty { get; init; }
    public double? RepetitionPenalty { get; init; }
    public long? Seed { get; init; }

    /// <summary>Token id (as the client wrote it) → bias in [-100, 100]; -100 bans.</summary>
    public IReadOnlyDictionary<string, double>? LogitBias { get; init; }
}
