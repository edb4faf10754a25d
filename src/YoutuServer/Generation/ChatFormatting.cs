using YoutuServer.Chat.Messages;
using YoutuServer.Chat.Templates;
using YoutuServer.Hosting;

namespace YoutuServer.Generation;

/// <summary>
/// Picks the prompt formatter once, from the model's tokenizer.chat_template: Youtu's template selects the C#
/// implementation; a template llama.cpp recognises falls back to llama_chat_apply_template (role + content only);
/// anything else is refused at start-up unless --chat-format forces a formatter.
/// </summary>
internal sealed class ChatFormatting
{
    private readonly EngineHost host;
    private readonly ServerOptions options;
    private IChatFormatter? formatter;

    public ChatFormatting(EngineHost host, ServerOptions options)
    {
        this.host = host;
        this.options = options;
    }

    public IChatFormatter Formatter => formatter ??= Select();

    public string Render(IReadOnlyList<ChatMessage> messages, ChatRenderOptions renderOptions)
    {
        try
        {
            return Formatter.Render(messages, renderOptions);
        }
        catch (ChatTemplateException e)
        {
            throw new IntentException(IntentFailure.Invalid(IntentField.Messages, _ => $"The conversation cannot be rendered with the model's chat template: {e.Message}"));
        }
    }

    /// <summary>Called at start-up so a bad template fails fast with a clear message.</summary>
    public IChatFormatter Select()
    {
        var forced = options.ChatFormat?.Trim().ToLowerInvariant();
        var template = host.Engine.ChatTemplate;
        if (forced is "youtu")
        {
            return YoutuChatFormatter.Instance;
        }

        if (forced is { Length: > 0 } && forced != "auto")
        {
            return new BuiltinTemplateFormatter(host, forced);
        }

        if (YoutuChatFormatter.Matches(template))
        {
            return YoutuChatFormatter.Instance;
        }

        if (template is not null && host.Engine.ApplyBuiltinTemplate(template, [("user", "x")], true) is not null)
        {
            return new BuiltinTemplateFormatter(host, template);
        }

        if (template is null)
        {
            // No template at all: a Youtu-shaped deepseek2 GGUF without metadata; Youtu's format is the right guess.
            return YoutuChatFormatter.Instance;
        }

        throw new InvalidOperationException(
            "The model's tokenizer.chat_template is neither Youtu's template nor one llama.cpp knows. " +
            "Start with --chat-format youtu (or a llama.cpp template name such as chatml) to choose one.");
    }

    /// <summary>llama.cpp's built-in templates: role and content only, so tools are refused.</summary>
    private sealed class BuiltinTemplateFormatter(EngineHost host, string template) : IChatFormatter
    {
        public string Name => "llama.cpp:" + (template.Length > 24 ? "custom" : template);

        public string Render(IReadOnlyList<ChatMessage> messages, ChatRenderOptions options)
        {
            if (options.Tools is { Count: > 0 })
            {
                throw new ChatTemplateException("this model's chat template (a llama.cpp built-in) cannot render tools");
            }

            var msgs = messages.Select(m => (m.Role == "developer" ? "system" : m.Role, m.Content ?? "")).ToList();
            return host.Engine.ApplyBuiltinTemplate(template, msgs, options.AddGenerationPrompt)
                ?? throw new ChatTemplateException($"llama.cpp does not know the template '{template}'");
        }
    }
}

/// <summary>Maps a request's "model" to what serves it: the base model (its id or an alias) or one of its LoRA adapters.</summary>
internal static class ModelResolver
{
    /// <summary>Refuses (model not found) unless the name is served here (empty = the served model).</summary>
    public static void Check(EngineHost host, string? model) => Resolve(host, model);

    /// <summary>The adapter id to generate with, or null for the base model; any other name is refused (model not found).</summary>
    public static string? Resolve(EngineHost host, string? model)
    {
        ArgumentNullException.ThrowIfNull(host);
        // Exact names first: the served id and its exact aliases, then an adapter's id, and only then a wildcard
        // alias (so 'claude-*' never hides an adapter named 'claude-lora').
        if (string.IsNullOrEmpty(model) || string.Equals(model, host.ServedModelId, StringComparison.OrdinalIgnoreCase)
            || host.ServedAliases.Any(a => !a.EndsWith('*') && string.Equals(a, model, StringComparison.OrdinalIgnoreCase)))
        {
            return null;
        }

        foreach (var a in host.ServedAdapters)
        {
            if (string.Equals(a.Id, model, StringComparison.OrdinalIgnoreCase))
            {
                return a.Id;
            }
        }

        if (host.ServedAliases.Any(a => a.EndsWith('*') && Matches(a, model)))
        {
            return null;
        }

        var served = host.ServedModelId;
        var adapters = host.ServedAdapters.Count > 0 ? $" and its adapters {string.Join(", ", host.ServedAdapters.Select(a => $"'{a.Id}'"))}" : "";
        throw new IntentException(new IntentFailure(IntentField.Model, IntentFailureKind.ModelNotFound,
            _ => $"The model '{model}' does not exist or you do not have access to it. This server serves '{served}'{adapters}. " +
                $"To route a client's own model name here, start the server with --model-alias '{model}={served}' " +
                $"(repeatable; a trailing * matches any suffix, e.g. --model-alias 'claude-*={served}') or add the name to the model's \"aliases\" in models.json."));
    }

    /// <summary>True when the base model answers this name (an adapter's exact id is the adapter's, even under a wildcard alias).</summary>
    public static bool Serves(EngineHost host, string? model)
    {
        ArgumentNullException.ThrowIfNull(host);
        return string.IsNullOrEmpty(model)
            || string.Equals(model, host.ServedModelId, StringComparison.OrdinalIgnoreCase)
            || (host.ServedAliases.Any(a => Matches(a, model))
                && (host.ServedAliases.Any(a => !a.EndsWith('*') && string.Equals(a, model, StringComparison.OrdinalIgnoreCase))
                    || !host.ServedAdapters.Any(a => string.Equals(a.Id, model, StringComparison.OrdinalIgnoreCase))));
    }

    /// <summary>An alias matches a name exactly (ignoring case), or by prefix when it ends in '*'.</summary>
    public static bool Matches(string alias, string model)
    {
        ArgumentNullException.ThrowIfNull(alias);
        return alias.EndsWith('*')
            ? model.StartsWith(alias[..^1], StringComparison.OrdinalIgnoreCase)
            : string.Equals(alias, model, StringComparison.OrdinalIgnoreCase);
    }
}
