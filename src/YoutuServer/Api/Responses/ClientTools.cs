using System.Text.Json;
using System.Text.Json.Nodes;
using YoutuServer.Chat.Grammar;
using YoutuServer.Api.Common;
using YoutuServer.Generation;
using YoutuServer.Http;

namespace YoutuServer.Api.Responses;

/// <summary>The Responses tools a client runs itself besides functions: each is offered to the model as a function.</summary>
internal enum ClientToolKind
{
    /// <summary><c>custom</c>: free text (or text in a grammar) in, returned as <c>custom_tool_call</c> with <c>input</c>.</summary>
    Custom,
    /// <summary><c>apply_patch</c>: a file operation, returned as <c>apply_patch_call</c> with <c>operation</c>.</summary>
    ApplyPatch,
    /// <summary><c>shell</c>: commands, returned as <c>shell_call</c> with <c>action</c>.</summary>
    Shell,
    /// <summary><c>local_shell</c>: one command, returned as <c>local_shell_call</c> with an <c>exec</c> action.</summary>
    LocalShell,
}

/// <summary>
/// The client-run tools of the Responses API (custom, apply_patch, shell, local_shell) as the model sees them —
/// function tools with a description and a parameters schema — and their calls as the API's items, both ways.
/// </summary>
internal static class ClientTools
{
    public const string ApplyPatchName = "apply_patch";
    public const string ShellName = "shell";
    public const string LocalShellName = "local_shell";

    private const string ApplyPatchDescription =
        "Create, update or delete a file in the user's workspace. operation 'create_file' and 'update_file' take a V4A diff "
        + "('diff': for a new file every line starts with '+'; for an update, '@@' context lines then lines starting with ' ', '-' or '+'); "
        + "'delete_file' takes only the path.";

    private const string ShellDescription =
        "Run shell commands in the user's environment and get their output: 'commands' run in order; 'timeout_ms' and "
        + "'max_output_length' (characters kept per command) are optional limits.";

    private const string LocalShellDescription =
        "Run one command on the user's machine: 'command' is the argv list (e.g. [\"bash\", \"-lc\", \"ls\"]); 'working_directory', "
        + "'timeout_ms' and 'user' are optional.";

    private static readonly JsonElement ApplyPatchParameters = JsonDocument.Parse("""
        {"type":"object","properties":{
          "type":{"type":"string","enum":["create_file","update_file","delete_file"]},
          "path":{"type":"string"},
          "diff":{"type":"string"}},
         "required":["type","path"],"additionalProperties":false}
        """).RootElement.Clone();

    private static readonly JsonElement ShellParameters = JsonDocument.Parse("""
        {"type":"object","properties":{
          "commands":{"type":"array","items":{"type":"string"},"minItems":1,"maxItems":16},
          "timeout_ms":{"type":"integer","minimum":1},
          "max_output_length":{"type":"integer","minimum":1}},
         "required":["commands"],"additionalProperties":false}
        """).RootElement.Clone();

    private static readonly JsonElement LocalShellParameters = JsonDocument.Parse("""
        {"type":"object","properties":{
          "command":{"type":"array","items":{"type":"string"},"minItems":1,"maxItems":32},
          "working_directory":{"type":"string"},
          "timeout_ms":{"type":"integer","minimum":1},
          "user":{"type":"string"}},
         "required":["command"],"additionalProperties":false}
        """).RootElement.Clone();

    /// <summary>The function the model sees for a client tool of <paramref name="type"/> (tools[i] is <paramref name="tool"/>).</summary>
    public static (ToolDefinition Definition, ClientToolKind Kind) Define(string type, JsonElement tool, string p)
    {
        switch (type)
        {
            case "apply_patch":
                return (ToolDefinition.Create(ApplyPatchName, ApplyPatchDescription, ApplyPatchParameters, strict: true), ClientToolKind.ApplyPatch);
            case "shell":
                return (ToolDefinition.Create(ShellName, ShellDescription, ShellParameters, strict: true), ClientToolKind.Shell);
            case "local_shell":
                return (ToolDefinition.Create(LocalShellName, LocalShellDescription, LocalShellParameters, strict: true), ClientToolKind.LocalShell);
            default:
                var name = Str(tool, "name") is { Length: > 0 } n ? n : throw ApiException.BadRequest($"{p}.name is required.", $"{p}.name");
                var description = Str(tool, "description");
                var input = CustomInputSchema(tool, p);
                var parameters = new JsonObject
                {
                    ["type"] = "object",
                    ["properties"] = new JsonObject { ["input"] = input },
                    ["required"] = new JsonArray("input"),
                    ["additionalProperties"] = false,
                };
                var text = description is null ? "Takes free-form text as 'input'." : description + " (Takes free-form text as 'input'.)";
                return (ToolDefinition.Create(name, text, JsonSerializer.SerializeToElement(parameters, ResponsesJsonContext.Wire.JsonNode), strict: true), ClientToolKind.Custom);
        }
    }

    /// <summary>The schema of a custom tool's <c>input</c>: any string, or one its grammar (regex or Lark) admits.</summary>
    private static JsonObject CustomInputSchema(JsonElement tool, string p)
    {
        if (!tool.TryGetProperty("format", out var format) || format.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined || Str(format, "type") == "text")
        {
            return new JsonObject { ["type"] = "string" };
        }

        if (Str(format, "type") != "grammar")
        {
            throw ApiException.BadRequest($"{p}.format.type must be 'text' or 'grammar', got '{Str(format, "type")}'.", $"{p}.format.type");
        }

        var definition = Str(format, "definition") ?? throw ApiException.BadRequest($"{p}.format.definition is required.", $"{p}.format.definition");
        var syntax = Str(format, "syntax");
        try
        {
            var pattern = syntax switch
            {
                "regex" => "^(?:" + definition + ")$",
                "lark" => LarkToRegex.Convert(definition, $"/{p.Replace('[', '/').Replace("]", "", StringComparison.Ordinal)}/format/definition"),
                _ => throw ApiException.BadRequest($"{p}.format.syntax must be 'lark' or 'regex', got '{syntax}'.", $"{p}.format.syntax"),
            };
            // Checked now, so an unsupported regex construct is a 400 naming this tool, not the generated schema.
            _ = ResponseFormatGrammar.BuildJson(true, JsonSerializer.SerializeToElement(new JsonObject { ["type"] = "string", ["pattern"] = pattern }, ResponsesJsonContext.Wire.JsonNode), allowThinking: false, "/pattern");
            return new JsonObject { ["type"] = "string", ["pattern"] = pattern };
        }
        catch (UnsupportedSchemaException e)
        {
            throw ApiException.BadRequest($"{p}.format: this {syntax} grammar cannot be enforced: {e.Message}", $"{p}.format.definition");
        }
    }

    /// <summary>The call item the API defines for a client tool's call (the function call's arguments parsed).</summary>
    public static ResponseItem ToItem(ClientToolKind kind, string? callId, string name, string arguments, string status)
    {
        JsonObject args;
        try
        {
            args = JsonNode.Parse(arguments) as JsonObject ?? [];
        }
        catch (JsonException)
        {
            args = []; // cut off by the token limit: the item is incomplete anyway
        }

        switch (kind)
        {
            case ClientToolKind.Custom:
                return new ResponseItem
                {
                    Id = "ctc_" + Ids.Random24(), Type = "custom_tool_call", Status = status, CallId = callId, Name = name,
                    Input = args["input"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : "",
                };
            case ClientToolKind.ApplyPatch:
                return new ResponseItem { Id = "apc_" + Ids.Random24(), Type = "apply_patch_call", Status = status, CallId = callId, Operation = Element(args) };
            case ClientToolKind.Shell:
                return new ResponseItem { Id = "sh_" + Ids.Random24(), Type = "shell_call", Status = status, CallId = callId, Action = Element(args) };
            default:
                var action = new JsonObject { ["type"] = "exec" };
                foreach (var (k, val) in args)
                {
                    action[k] = val?.DeepClone();
                }

                action.TryAdd("env", new JsonObject());
                return new ResponseItem { Id = "lsh_" + Ids.Random24(), Type = "local_shell_call", Status = status, CallId = callId, Action = Element(action) };
        }
    }

    /// <summary>
    /// A client tool's call sent back as input (custom_tool_call, apply_patch_call, shell_call, local_shell_call):
    /// the function name and arguments the model wrote for it.
    /// </summary>
    public static (string Name, string Arguments)? FromInputItem(string type, JsonElement item, string p)
    {
        switch (type)
        {
            case "custom_tool_call":
                var name = Str(item, "name") ?? throw ApiException.BadRequest($"{p}.name is required.", $"{p}.name");
                return (name, new JsonObject { ["input"] = Str(item, "input") ?? "" }.ToJsonString());
            case "apply_patch_call":
                return (ApplyPatchName, Object(item, "operation", p).ToJsonString());
            case "shell_call":
                return (ShellName, Object(item, "action", p).ToJsonString());
            case "local_shell_call":
                var action = Object(item, "action", p);
                action.Remove("type");
                return (LocalShellName, action.ToJsonString());
            default:
                return null;
        }
    }

    /// <summary>True for the output items of client tools' calls (their text goes back to the model as a tool result).</summary>
    public static bool IsOutputItem(string type) => type is "custom_tool_call_output" or "apply_patch_call_output" or "shell_call_output" or "local_shell_call_output";

    /// <summary>A client tool's output as the model reads it.</summary>
    public static string OutputText(JsonElement item)
    {
        if (item.TryGetProperty("output", out var o))
        {
            return o.ValueKind == JsonValueKind.String ? o.GetString()! : o.GetRawText();
        }

        // apply_patch_call_output may carry only a status.
        return Str(item, "status") is { } status ? "status: " + status : "";
    }

    private static JsonObject Object(JsonElement item, string field, string p) =>
        item.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Object
            ? JsonObject.Create(v)!.DeepClone().AsObject()
            : throw ApiException.BadRequest($"{p}.{field} must be an object.", $"{p}.{field}");

    private static JsonElement Element(JsonObject o) => JsonSerializer.SerializeToElement(o, ResponsesJsonContext.Wire.JsonNode);

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
