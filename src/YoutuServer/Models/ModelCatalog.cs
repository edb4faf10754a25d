using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace YoutuServer.Models;

/// <summary>One sampling preset (a mode's recommended decoding parameters).</summary>
internal sealed class SamplingPreset
{
    [JsonPropertyName("temperature")] public float? Temperature { get; set; }
    [JsonPropertyName("top_p")] public float? TopP { get; set; }
    [JsonPropertyName("top_k")] public int? TopK { get; set; }
    [JsonPropertyName("min_p")] public float? MinP { get; set; }
    [JsonPropertyName("repetition_penalty")] public float? RepetitionPenalty { get; set; }
}

internal sealed class ModelSampling
{
    [JsonPropertyName("thinking")] public SamplingPreset? Thinking { get; set; }
    [JsonPropertyName("normal")] public SamplingPreset? Normal { get; set; }
}

internal sealed class ModelSource
{
    [JsonPropertyName("repo")] public string? Repo { get; set; }
    [JsonPropertyName("file")] public string? File { get; set; }
    [JsonPropertyName("revision")] public string? Revision { get; set; }
    [JsonPropertyName("url")] public string? Url { get; set; }
    [JsonPropertyName("sha256")] public string? Sha256 { get; set; }
    [JsonPropertyName("size")] public long? Size { get; set; }
}

internal sealed class ModelEntry
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("aliases")] public List<string> Aliases { get; set; } = [];
    [JsonPropertyName("description")] public string? Description { get; set; }
    [JsonPropertyName("source")] public ModelSource? Source { get; set; }
    [JsonPropertyName("path")] public string? Path { get; set; }
    [JsonPropertyName("quantization")] public string? Quantization { get; set; }
    [JsonPropertyName("context_length")] public int? ContextLength { get; set; }
    [JsonPropertyName("chat_format")] public string? ChatFormat { get; set; }
    [JsonPropertyName("sampling")] public ModelSampling? Sampling { get; set; }
}

/// <summary>A LoRA adapter of a base model: requests select it by putting its id in "model".</summary>
internal sealed class AdapterEntry
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    /// <summary>The adapter GGUF (general.type "adapter"); relative paths resolve like model paths.</summary>
    [JsonPropertyName("path")] public string? Path { get; set; }
    /// <summary>Id (or alias) of the base model in "models" it was trained on; loaded only when that model is served.</summary>
    [JsonPropertyName("base")] public string? Base { get; set; }
    /// <summary>Scale it is applied with; default 1.</summary>
    [JsonPropertyName("scale")] public float? Scale { get; set; }
    [JsonPropertyName("description")] public string? Description { get; set; }
}

internal sealed class ModelCatalogDocument
{
    [JsonPropertyName("default")] public string? Default { get; set; }
    [JsonPropertyName("models")] public List<ModelEntry> Models { get; set; } = [];
    [JsonPropertyName("adapters")] public List<AdapterEntry> Adapters { get; set; } = [];
}

[JsonSourceGenerationOptions(ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true)]
[JsonSerializable(typeof(ModelCatalogDocument))]
[JsonSerializable(typeof(ModelEntry))]
[JsonSerializable(typeof(ModelSource))]
[JsonSerializable(typeof(ModelSampling))]
[JsonSerializable(typeof(SamplingPreset))]
[JsonSerializable(typeof(AdapterEntry))]
internal sealed partial class CatalogJsonContext : JsonSerializerContext;

/// <summary>models.json: the models this server knows, where they live and how to fetch them.</summary>
internal sealed partial class ModelCatalog
{
    private ModelCatalog(ModelCatalogDocument doc, string baseDir)
    {
        Document = doc;
        BaseDirectory = baseDir;
    }

    public ModelCatalogDocument Document { get; }
    /// <summary>Relative model paths resolve against this folder (the one holding models.json).</summary>
    public string BaseDirectory { get; }
    public IReadOnlyList<ModelEntry> Models => Document.Models;
    public ModelEntry? Default => Document.Default is { } d ? Find(d) : Document.Models.FirstOrDefault();

    public static ModelCatalog Empty { get; } = new(new ModelCatalogDocument(), Directory.GetCurrentDirectory());

    /// <summary>Loads and validates; errors name the entry and the field.</summary>
    public static ModelCatalog Load(string path) =>
        Parse(File.ReadAllText(path), Path.GetDirectoryName(Path.GetFullPath(path))!, path);

    /// <summary>Parses and validates catalog JSON; <paramref name="source"/> prefixes every error (usually the file path).</summary>
    public static ModelCatalog Parse(string json, string baseDirectory, string source = "models.json")
    {
        var errors = new List<string>();
        JsonDocument raw;
        try
        {
            raw = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not valid JSON (line {e.LineNumber + 1}: {FirstSentence(e.Message)})", e);
        }

        ModelCatalogDocument? doc = null;
        using (raw)
        {
            if (raw.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"{source}: the top level must be an object with 'default' and 'models'");
            }

            // Typos ("context_lenght") would otherwise be ignored silently and the default used instead.
            CheckUnknownFields(raw.RootElement, errors);
            try
            {
                // From the text, not the element, so that line numbers refer to the file.
                doc = JsonSerializer.Deserialize(json, CatalogJsonContext.Default.ModelCatalogDocument);
            }
            catch (JsonException e)
            {
                var line = e.LineNumber is { } l ? $" (line {l + 1})" : "";
                errors.Add($"{DescribePath(e.Path, raw.RootElement)} has a value of the wrong type{line}");
            }
        }

        if (doc is null)
        {
            throw new InvalidDataException($"{source}: " + (errors.Count > 0 ? string.Join("; ", errors) : "empty document"));
        }

        var catalog = new ModelCatalog(doc, baseDirectory);
        errors.AddRange(catalog.Validate());
        if (errors.Count > 0)
        {
            throw new InvalidDataException($"{source}: " + string.Join("; ", errors));
        }

        return catalog;
    }

    public List<string> Validate()
    {
        var errors = new List<string>();
        if (Document.Models.Count == 0)
        {
            errors.Add("field 'models' must list at least one model");
        }

        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < Document.Models.Count; i++)
        {
            var m = Document.Models[i];
            var where = string.IsNullOrWhiteSpace(m.Id) ? $"models[{i}]" : $"model '{m.Id}'";
            if (string.IsNullOrWhiteSpace(m.Id))
            {
                errors.Add($"{where}: field 'id' is required");
            }

            if (m.Aliases.Any(string.IsNullOrWhiteSpace))
            {
                errors.Add($"{where}: field 'aliases' must not contain empty names");
            }

            // Names match case-insensitively, so an alias that only differs from its own id in case is no clash.
            foreach (var n in m.Aliases.Prepend(m.Id).Where(n => !string.IsNullOrWhiteSpace(n)).Distinct(StringComparer.OrdinalIgnoreCase))
            {
                if (!names.Add(n))
                {
                    errors.Add($"{where}: name '{n}' is used by another entry");
                }
            }

            if (string.IsNullOrWhiteSpace(m.Path))
            {
                errors.Add($"{where}: field 'path' is required");
            }
            else if (!files.TryAdd(Path.GetFileName(m.Path), where))
            {
                // With --models-dir every model lives in one folder under its file name, so names must differ.
                errors.Add($"{where}: field 'path' has the same file name as {files[Path.GetFileName(m.Path)]}");
            }

            if (m.ContextLength is <= 0)
            {
                errors.Add($"{where}: field 'context_length' must be positive");
            }

            if (m.Source is { } s)
            {
                if (s.Url is { } url)
                {
                    if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
                    {
                        errors.Add($"{where}: field 'source.url' is not an absolute http(s) URL");
                    }
                }
                else if (string.IsNullOrWhiteSpace(s.Repo) || string.IsNullOrWhiteSpace(s.File))
                {
                    errors.Add($"{where}: field 'source' needs 'url', or 'repo' and 'file' (a Hugging Face repository)");
                }

                if (s.Sha256 is { } h && (h.Length != 64 || !h.All(Uri.IsHexDigit)))
                {
                    errors.Add($"{where}: field 'source.sha256' must be 64 hex digits");
                }

                if (s.Size is <= 0)
                {
                    errors.Add($"{where}: field 'source.size' must be positive");
                }
            }

            foreach (var (mode, preset) in new[] { ("thinking", m.Sampling?.Thinking), ("normal", m.Sampling?.Normal) })
            {
                if (preset is null)
                {
                    continue;
                }

                if (preset.Temperature is < 0 or > 2)
                {
                    errors.Add($"{where}: field 'sampling.{mode}.temperature' must be within [0, 2]");
                }

                if (preset.TopP is <= 0 or > 1)
                {
                    errors.Add($"{where}: field 'sampling.{mode}.top_p' must be within (0, 1]");
                }

                if (preset.TopK is < 0)
                {
                    errors.Add($"{where}: field 'sampling.{mode}.top_k' must be >= 0");
                }

                if (preset.MinP is < 0 or > 1)
                {
                    errors.Add($"{where}: field 'sampling.{mode}.min_p' must be within [0, 1]");
                }

                if (preset.RepetitionPenalty is <= 0)
                {
                    errors.Add($"{where}: field 'sampling.{mode}.repetition_penalty' must be > 0");
                }
            }
        }

        if (Document.Default is { } d && Find(d) is null)
        {
            errors.Add($"field 'default': no model named '{d}'");
        }

        for (var i = 0; i < Document.Adapters.Count; i++)
        {
            var a = Document.Adapters[i];
            var where = string.IsNullOrWhiteSpace(a.Id) ? $"adapters[{i}]" : $"adapter '{a.Id}'";
            if (string.IsNullOrWhiteSpace(a.Id))
            {
                errors.Add($"{where}: field 'id' is required");
            }
            else if (!names.Add(a.Id))
            {
                errors.Add($"{where}: name '{a.Id}' is used by another entry");
            }

            if (string.IsNullOrWhiteSpace(a.Path))
            {
                errors.Add($"{where}: field 'path' is required");
            }

            if (string.IsNullOrWhiteSpace(a.Base))
            {
                errors.Add($"{where}: field 'base' is required (the id of its base model)");
            }
            else if (Find(a.Base) is null)
            {
                errors.Add($"{where}: field 'base': no model named '{a.Base}'");
            }

            if (a.Scale is { } scale && (!float.IsFinite(scale) || scale < 0))
            {
                errors.Add($"{where}: field 'scale' must be a finite number >= 0");
            }
        }

        return errors;
    }

    /// <summary>Where <c>pull</c> downloads from: <c>source.url</c>, else the Hugging Face resolve URL of repo/file/revision.</summary>
    public static Uri? DownloadUrl(ModelEntry m)
    {
        if (m.Source is not { } s)
        {
            return null;
        }

        if (!string.IsNullOrWhiteSpace(s.Url))
        {
            return Uri.TryCreate(s.Url, UriKind.Absolute, out var u) ? u : null;
        }

        if (string.IsNullOrWhiteSpace(s.Repo) || string.IsNullOrWhiteSpace(s.File))
        {
            return null;
        }

        var file = string.Join('/', s.File.Split('/').Select(Uri.EscapeDataString));
        var revision = Uri.EscapeDataString(string.IsNullOrWhiteSpace(s.Revision) ? "main" : s.Revision);
        return new Uri($"https://huggingface.co/{s.Repo}/resolve/{revision}/{file}");
    }

    public ModelEntry? Find(string idOrAlias) => Document.Models.FirstOrDefault(m =>
        string.Equals(m.Id, idOrAlias, StringComparison.OrdinalIgnoreCase) ||
        m.Aliases.Any(a => string.Equals(a, idOrAlias, StringComparison.OrdinalIgnoreCase)));

    /// <summary>Adapters whose base is <paramref name="model"/>.</summary>
    public IEnumerable<AdapterEntry> AdaptersFor(ModelEntry model) => Document.Adapters.Where(a => a.Base is { } b && Find(b) == model);

    /// <summary>Where an adapter file is: absolute as given, else in <paramref name="modelsDir"/> or beside models.json.</summary>
    public string AdapterPath(AdapterEntry a, string? modelsDir = null)
    {
        var p = a.Path ?? a.Id + ".gguf";
        if (Path.IsPathRooted(p))
        {
            return p;
        }

        return modelsDir is { Length: > 0 } dir ? Path.Combine(dir, Path.GetFileName(p)) : Path.Combine(BaseDirectory, p);
    }

    public string LocalPath(ModelEntry m, string? modelsDir = null)
    {
        var p = m.Path ?? m.Id + ".gguf";
        if (Path.IsPathRooted(p))
        {
            return p;
        }

        return modelsDir is { Length: > 0 } dir ? Path.Combine(dir, Path.GetFileName(p)) : Path.Combine(BaseDirectory, p);
    }

    private static void CheckUnknownFields(JsonElement root, List<string> errors)
    {
        var ctx = CatalogJsonContext.Default;
        Check(root, ctx.ModelCatalogDocument, "", "", errors, allowSchema: true);
        if (!root.TryGetProperty("models", out var models) || models.ValueKind != JsonValueKind.Array)
        {
            return;
        }

        if (root.TryGetProperty("adapters", out var adapters) && adapters.ValueKind == JsonValueKind.Array)
        {
            var k = 0;
            foreach (var a in adapters.EnumerateArray())
            {
                Check(a, ctx.AdapterEntry, $"adapters[{k++}]", "", errors);
            }
        }

        var i = 0;
        foreach (var m in models.EnumerateArray())
        {
            var where = EntryName(m, i++);
            if (m.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            Check(m, ctx.ModelEntry, where, "", errors);
            if (m.TryGetProperty("source", out var source))
            {
                Check(source, ctx.ModelSource, where, "source.", errors);
            }

            if (m.TryGetProperty("sampling", out var sampling))
            {
                Check(sampling, ctx.ModelSampling, where, "sampling.", errors);
                foreach (var mode in new[] { "thinking", "normal" })
                {
                    if (sampling.ValueKind == JsonValueKind.Object && sampling.TryGetProperty(mode, out var preset))
                    {
                        Check(preset, ctx.SamplingPreset, where, $"sampling.{mode}.", errors);
                    }
                }
            }
        }

        static void Check(JsonElement obj, JsonTypeInfo type, string where, string prefix, List<string> errors, bool allowSchema = false)
        {
            if (obj.ValueKind != JsonValueKind.Object)
            {
                return;
            }

            var known = type.Properties.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var p in obj.EnumerateObject())
            {
                if (!known.Contains(p.Name) && !(allowSchema && p.Name == "$schema"))
                {
                    var head = where.Length > 0 ? where + ": " : "";
                    errors.Add($"{head}unknown field '{prefix}{p.Name}' (expected one of: {string.Join(", ", known.Order(StringComparer.Ordinal))})");
                }
            }
        }
    }

    private static string EntryName(JsonElement m, int index) =>
        m.ValueKind == JsonValueKind.Object && m.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(id.GetString())
            ? $"model '{id.GetString()}'"
            : $"models[{index}]";

    /// <summary>Turns a JSON path such as <c>$.models[1].source.size</c> into "model 'x': field 'source.size'".</summary>
    private static string DescribePath(string? path, JsonElement root)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "the document";
        }

        var match = ModelPathRegex().Match(path);
        if (match.Success && int.TryParse(match.Groups[1].Value, out var i) &&
            root.TryGetProperty("models", out var models) && models.ValueKind == JsonValueKind.Array && i < models.GetArrayLength())
        {
            var field = match.Groups[2].Value;
            return field.Length > 0 ? $"{EntryName(models[i], i)}: field '{field}'" : EntryName(models[i], i);
        }

        return $"field '{path.TrimStart('$', '.')}'";
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^\$\.models\[(\d+)\]\.?(.*)$")]
    private static partial System.Text.RegularExpressions.Regex ModelPathRegex();

    private static string FirstSentence(string message)
    {
        var dot = message.IndexOf(". ", StringComparison.Ordinal);
        return dot > 0 ? message[..dot] : message;
    }

    /// <summary>Finds models.json: explicit path, then the working folder, then up from the executable.</summary>
    public static string? Locate(string? configured)
    {
        if (!string.IsNullOrEmpty(configured))
        {
            return configured;
        }

        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
            {
                var f = Path.Combine(d.FullName, "models.json");
                if (File.Exists(f))
                {
                    return f;
                }
            }
        }

        return null;
    }
}
