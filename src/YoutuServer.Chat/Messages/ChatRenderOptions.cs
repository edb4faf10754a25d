using System.Text.Json;

namespace YoutuServer.Chat.Messages;

/// <summary>Template variables for one render; mirrors the kwargs HF passes to <c>apply_chat_template</c>.</summary>
public sealed record ChatRenderOptions
{
    public const string DefaultBosToken = "<|begin_of_text|>";

    public static ChatRenderOptions Default { get; } = new();

    /// <summary>Append the assistant header (and any thinking prefill) when the last turn is a user or tool turn.</summary>
    public bool AddGenerationPrompt { get; init; } = true;

    /// <summary>The <c>enable_thinking</c> kwarg; null means "not passed" (the template's default is thinking on).</summary>
    public bool? EnableThinking { get; init; }

    /// <summary>The <c>forced_thinking</c> kwarg; null means "not passed".</summary>
    public bool? ForcedThinking { get; init; }

    /// <summary>Whole OpenAI tool objects (<c>{"type":"function","function":{...}}</c>), key order preserved. Empty is treated as absent.</summary>
    public IReadOnlyList<JsonElement>? Tools { get; init; }

    public string BosToken { get; init; } = DefaultBosToken;

    /// <summary>False renders an empty <c>bos_token</c>, for tokenizers that add BOS themselves.</summary>
    public bool IncludeBos { get; init; } = true;
}
