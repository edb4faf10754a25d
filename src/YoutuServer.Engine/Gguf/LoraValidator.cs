using System.Globalization;

namespace YoutuServer.Engine.Gguf;

/// <summary>What <see cref="LoraValidator"/> found: ok with the adapter's rank and alpha, or the first problems.</summary>
public sealed record LoraValidationResult(string Path, ValidationCode Code, IReadOnlyList<string> Problems, int Rank, float Alpha, int TensorPairs)
{
    public bool IsValid => Code == ValidationCode.Ok;

    /// <summary>One line for logs and start-up errors.</summary>
    public string Message => IsValid
        ? string.Create(CultureInfo.InvariantCulture, $"'{Path}' is a valid LoRA adapter (rank {Rank}, alpha {Alpha}, {TensorPairs} tensor pairs)")
        : $"'{Path}' cannot be loaded as a LoRA adapter: {Problems[0]}" + (Problems.Count > 1 ? $" (and {Problems.Count - 1} more problem(s))" : "");
}

/// <summary>
/// Checks a LoRA adapter GGUF against the base model's tensor table in managed code before llama_adapter_lora_init
/// sees it, the way <see cref="ModelValidator"/> guards base models: the metadata llama.cpp requires (general.type
/// "adapter", adapter.type "lora", the base's architecture), every tensor a complete .lora_a/.lora_b pair over a 2-D
/// base weight with matching dimensions (A {in, r}, B {r, out}), usable tensor types, and data placement.
/// </summary>
public static class LoraValidator
{
    public const string GeneralType = "general.type";
    public const string AdapterType = "adapter.type";
    public const string LoraAlpha = "adapter.lora.alpha";
    public const int MaxRank = 1 << 14;

    public static LoraValidationResult Validate(string path, GgufFile baseModel)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        var shown = path ?? string.Empty;
        if (string.IsNullOrWhiteSpace(path) || !File.Exists(path))
        {
            return Fail(shown, ValidationCode.MissingFile, "adapter file not found");
        }

        return ValidationCodes.ReadAndCheck(
            () =>
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, FileOptions.RandomAccess);
                return GgufReader.Read(stream);
            },
            "adapter", file => Check(shown, file, baseModel), (code, message) => Fail(shown, code, message));
    }

    private static LoraValidationResult Check(string path, GgufFile f, GgufFile baseModel)
    {
        var problems = new List<(ValidationCode Code, string Message)>();
        string? Str(string key)
        {
            if (!f.TryGetValue(key, out var v))
            {
                problems.Add((ValidationCode.MissingKey, $"missing required key '{key}'"));
                return null;
            }

            if (v.AsString() is not { } s)
            {
                problems.Add((ValidationCode.WrongKeyType, $"key '{key}' has type {v.TypeName}, expected str"));
            }
            else
            {
                return s;
            }

            return null;
        }

        var type = Str(GeneralType);
        var arch = Str(GgufKeys.Architecture);
        var adapterType = Str(AdapterType);
        if (problems.Count > 0)
        {
            return Result(path, problems, 0, 0, 0);
        }

        if (type != "adapter")
        {
            problems.Add((ValidationCode.InvalidValue, $"'{GeneralType}' is '{Short(type!)}', expected 'adapter' (is this a base model?)"));
        }

        var baseArch = baseModel.Find(GgufKeys.Architecture)?.AsString() ?? "?";
        if (arch != baseArch)
        {
            problems.Add((ValidationCode.UnsupportedArchitecture, $"the adapter is for architecture '{Short(arch!)}', the base model is '{baseArch}'"));
        }

        if (adapterType != "lora")
        {
            problems.Add((ValidationCode.InvalidValue, $"'{AdapterType}' is '{Short(adapterType!)}', only 'lora' is supported"));
        }

        var alpha = 0f;
        if (f.TryGetValue(LoraAlpha, out var alphaValue))
        {
            if (!alphaValue.TryGetFloat32(out alpha))
            {
                problems.Add((ValidationCode.WrongKeyType, $"key '{LoraAlpha}' has type {alphaValue.TypeName}, expected f32"));
            }
            else if (!float.IsFinite(alpha) || alpha < 0)
            {
                problems.Add((ValidationCode.InvalidValue, $"'{LoraAlpha}' is {alpha.ToString(CultureInfo.InvariantCulture)}, expected a finite value >= 0"));
            }
        }

        if (problems.Count > 0)
        {
            return Result(path, problems, 0, alpha, 0);
        }

        // Pair .lora_a/.lora_b by base tensor name; norms are skipped by llama.cpp, anything else is an error there.
        var pairs = new Dictionary<string, (GgufTensorInfo? A, GgufTensorInfo? B)>(StringComparer.Ordinal);
        foreach (var t in f.Tensors)
        {
            if (t.Name.EndsWith(".lora_a", StringComparison.Ordinal))
            {
                var name = t.Name[..^7];
                pairs[name] = (t, pairs.GetValueOrDefault(name).B);
            }
            else if (t.Name.EndsWith(".lora_b", StringComparison.Ordinal))
            {
                var name = t.Name[..^7];
                pairs[name] = (pairs.GetValueOrDefault(name).A, t);
            }
            else if (!t.Name.EndsWith("_norm.weight", StringComparison.Ordinal))
            {
                problems.Add((ValidationCode.UnexpectedTensor, $"tensor '{Short(t.Name)}' is neither a .lora_a nor a .lora_b tensor"));
            }
        }

        if (pairs.Count == 0 && problems.Count == 0)
        {
            problems.Add((ValidationCode.MissingTensor, "the adapter has no .lora_a/.lora_b tensors"));
        }

        var rank = 0;
        foreach (var (name, (a, b)) in pairs)
        {
            if (a is null || b is null)
            {
                problems.Add((ValidationCode.MissingTensor, $"LoRA tensor pair for '{Short(name)}' is missing its {(a is null ? "lora_a" : "lora_b")}"));
                continue;
            }

            var target = baseModel.FindTensor(name);
            if (target is null)
            {
                problems.Add((ValidationCode.UnexpectedTensor, $"LoRA tensor '{Short(name)}' has no weight of that name in the base model (an adapter for another model?)"));
                continue;
            }

            if (name == "token_embd.weight" || !Is2D(target.Dimensions))
            {
                problems.Add((ValidationCode.UnexpectedTensor, $"LoRA on '{name}' {target.ShapeText} is not supported (only 2-D projection weights)"));
                continue;
            }

            if (!Is2D(a.Dimensions) || !Is2D(b.Dimensions))
            {
                problems.Add((ValidationCode.WrongTensorShape, $"LoRA tensors of '{name}' must be 2-D, got {a.ShapeText} and {b.ShapeText}"));
                continue;
            }

            var r = a.Dimensions[1];
            if (a.Dimensions[0] != target.Dimensions[0] || b.Dimensions[1] != target.Dimensions[1] || b.Dimensions[0] != r)
            {
                problems.Add((ValidationCode.WrongTensorShape,
                    $"LoRA tensors of '{name}' have shapes {a.ShapeText} and {b.ShapeText}; the base weight {target.ShapeText} needs {{{target.Dimensions[0]}, r}} and {{r, {target.Dimensions[1]}}} (an adapter for another model size?)"));
                continue;
            }

            if (r < 1 || r > MaxRank)
            {
                problems.Add((ValidationCode.WrongTensorShape, $"LoRA rank {r} of '{name}' is outside 1..{MaxRank}"));
                continue;
            }

            foreach (var t in new[] { a, b })
            {
                if (!GgmlTypes.IsWeightType(t.Type))
                {
                    problems.Add((ValidationCode.BadTensorType, $"tensor '{t.Name}' has ggml type {GgmlTypes.Name(t.Type)}, which llama.cpp cannot use for weights"));
                }
            }

            rank = Math.Max(rank, (int)r);
        }

        if (problems.Count == 0)
        {
            problems.AddRange(ModelValidator.PlacementProblems(f));
        }

        return Result(path, problems, rank, alpha, pairs.Count);
    }

    private static bool Is2D(IReadOnlyList<long> dims)
    {
        for (var i = 2; i < dims.Count; i++)
        {
            if (dims[i] != 1)
            {
                return false;
            }
        }

        return dims.Count >= 2 && dims[0] > 0 && dims[1] > 0;
    }

    private static LoraValidationResult Result(string path, List<(ValidationCode Code, string Message)> problems, int rank, float alpha, int pairs) =>
        new(path, problems.Count == 0 ? ValidationCode.Ok : problems[0].Code, problems.Select(p => p.Message).ToArray(), rank, alpha, pairs);

    private static LoraValidationResult Fail(string path, ValidationCode code, string message) => new(path, code, [message], 0, 0, 0);

    private static string Short(string s) => s.Length <= 80 ? s : s[..77] + "...";
}
