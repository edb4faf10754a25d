using System.Text.Json;
using YoutuServer.Chat.Grammar;
using YoutuServer.Engine.Sampling;

namespace YoutuServer.Generation;

/// <summary>Tools and grammars: the tools checked for the template, the tool choice resolved, and the output grammar built.</summary>
internal static class ToolPlanning
{
    public const int MaxTools = 128;


    internal enum ToolMode
    {
        Auto,
        None,
        Required,
        Named,
    }

    /// <summary>The tools as the template and the grammar see them, after checking names and schemas.</summary>
    public static List<JsonElement> ValidateTools(IReadOnlyList<ToolDefinition> tools)
    {
        if (tools.Count == 0)
        {
            return []; // no tools is the same as an empty list (the template would render a phantom preamble)
        }

        if (tools.Count > MaxTools)
        {
            throw Fail(IntentField.Tools, n => $"At most {MaxTools} tools are supported in '{n(IntentField.Tools)}'.");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<JsonElement>(tools.Count);
        for (var i = 0; i < tools.Count; i++)
        {
            var t = tools[i];
            var at = i;
            var name = t.Name;
            if (name is not { Length: > 0 and <= 64 } || !name.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '_' or '-' or '.'))
            {
                throw Fail(IntentField.ToolName, n => $"{n(IntentField.ToolName, at)} must be 1-64 characters of a-z, A-Z, 0-9, '_', '-' or '.'.", i);
            }

            if (!names.Add(name))
            {
                throw Fail(IntentField.ToolName, _ => $"Duplicate tool name '{name}'.", i);
            }

            if (t.Parameters is { ValueKind: not (JsonValueKind.Object or JsonValueKind.Null or JsonValueKind.Undefined) })
            {
                throw Fail(IntentField.ToolParameters, n => $"{n(IntentField.ToolParameters, at)} must be a JSON Schema object.", i);
            }

            list.Add(t.TemplateJson);
        }

        return list;
    }

    public static (ToolMode Mode, string? Name) ResolveToolChoice(ToolChoice choice, IReadOnlyList<ToolDefinition> tools)
    {
        switch (choice.Kind)
        {
            case ToolChoiceKind.Default:
                return (tools.Count > 0 ? ToolMode.Auto : ToolMode.None, null);
            case ToolChoiceKind.Auto:
                return (ToolMode.Auto, null);
            case ToolChoiceKind.None:
                return (ToolMode.None, null);
            case ToolChoiceKind.Required:
                return tools.Count == 0
                    ? throw Fail(IntentField.ToolChoice, n => $"{n(IntentField.ToolChoice)} 'required' needs at least one tool in '{n(IntentField.Tools)}'.")
                    : (ToolMode.Required, null);
            default:
                var name = choice.Name ?? "";
                return tools.Any(t => t.Name == name)
                    ? (ToolMode.Named, name)
                    : throw Fail(IntentField.ToolChoice, n => $"{n(IntentField.ToolChoice)} names function '{name}', which is not in '{n(IntentField.Tools)}'.");
        }
    }

    /// <summary>
    /// The grammar for this request, whether it waits for a tool call to begin (tool choice auto), and the grammar's
    /// spec (for the room a forced call or answer needs).
    /// </summary>
    public static (GrammarConstraint? Grammar, bool DeferredUntilCall, GrammarSpec? Spec) BuildGrammar(OutputConstraint output, List<JsonElement> tools, ToolMode mode, string? named, bool parallel, bool? thinking, JsonGrammarOptions? options = null)
    {
        var allowThinking = thinking != false;
        try
        {
            if (tools.Count > 0 && mode is ToolMode.Required or ToolMode.Named)
            {
                var spec = ToolCallGrammar.Build(tools, mode == ToolMode.Named ? ToolChoiceMode.Named : ToolChoiceMode.Required, parallel, allowThinking, named, options);
                return (new GrammarConstraint(spec.Gbnf, spec.Root, spec.TriggerPatterns, spec.Lazy), false, spec);
            }

            if (output.Kind != OutputKind.Text
                && ResponseFormatGrammar.BuildJson(output.Kind == OutputKind.JsonSchema, output.Schema, allowThinking, output.SchemaPath, options) is { } json)
            {
                return (new GrammarConstraint(json.Gbnf, json.Root, json.TriggerPatterns, json.Lazy), false, json);
            }

            if (tools.Count > 0 && mode == ToolMode.Auto)
            {
                // The calls themselves, without a think block: the grammar engages after reasoning, at <tool_call>.
                var spec = ToolCallGrammar.Build(tools, ToolChoiceMode.Required, parallel, allowThinking: false);
                return (new GrammarConstraint(spec.Gbnf, spec.Root, spec.TriggerPatterns, spec.Lazy), true, spec);
            }
        }
        catch (UnsupportedSchemaException e)
        {
            var field = tools.Count > 0 && mode != ToolMode.None ? IntentField.Tools : IntentField.Output;
            throw new IntentException(new IntentFailure(field, IntentFailureKind.UnsupportedSchema, _ => e.Message));
        }
        catch (ArgumentException e)
        {
            throw Fail(IntentField.Output, _ => e.Message);
        }

        return (null, false, null);
    }

    /// <summary>
    /// The most tokens one forced call (or answer) alone can take under <paramref name="options"/>, no think block
    /// (a UTF-8 byte bound: a token is at least a byte); null when unbounded.
    /// </summary>
    public static long? LongestForcedOutput(OutputConstraint output, List<JsonElement> tools, ToolMode mode, string? named, JsonGrammarOptions options)
    {
        var (grammar, deferred, spec) = BuildGrammar(output, tools, mode, named, parallel: false, thinking: false, options);
        return grammar is null || deferred ? null : spec!.LongestOutputBytes();
    }

    private static IntentException Fail(IntentField field, Func<FieldNamer, string> describe, int? index = null) =>
        new(IntentFailure.Invalid(field, describe, index));
}
