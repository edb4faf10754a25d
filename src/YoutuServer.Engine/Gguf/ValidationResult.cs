using System.Globalization;
using System.Text;

namespace YoutuServer.Engine.Gguf;

/// <summary>The validation category of a file the GGUF reader could not read, and the read-then-check both validators run.</summary>
internal static class ValidationCodes
{
    /// <summary>
    /// Reads a GGUF image with <paramref name="read"/> and checks it (<see cref="Check{T}"/>); a file the reader rejects
    /// or cannot read becomes <paramref name="fail"/> with its code and message (<paramref name="what"/>: "model", "adapter").
    /// </summary>
    public static T ReadAndCheck<T>(Func<GgufFile> read, string what, Func<GgufFile, T> check, Func<ValidationCode, string, T> fail)
    {
        GgufFile file;
        try
        {
            file = read();
        }
        catch (GgufFormatException e)
        {
            return fail(Of(e.Kind), e.Message);
        }
        catch (Exception e)
        {
            return fail(ValidationCode.Unreadable, $"cannot read the {what} file: {e.Message}");
        }

        return Check(file, check, fail);
    }

    /// <summary>Runs <paramref name="check"/>; if it throws (a bug in a check must not take the server down), <paramref name="fail"/> as malformed.</summary>
    public static T Check<T>(GgufFile file, Func<GgufFile, T> check, Func<ValidationCode, string, T> fail)
    {
        try
        {
            return check(file);
        }
        catch (Exception e)
        {
            return fail(ValidationCode.Malformed, $"validation failed unexpectedly: {e.GetType().Name}: {e.Message}");
        }
    }

    public static ValidationCode Of(GgufErrorKind kind) => kind switch
    {
        GgufErrorKind.BadMagic => ValidationCode.NotGguf,
        GgufErrorKind.UnsupportedVersion => ValidationCode.UnsupportedVersion,
        GgufErrorKind.Truncated => ValidationCode.Truncated,
        GgufErrorKind.Io => ValidationCode.Unreadable,
        _ => ValidationCode.Malformed,
    };
}

/// <summary>Category of the first problem <see cref="ModelValidator"/> found.</summary>
public enum ValidationCode
{
    Ok,
    MissingFile,
    Unreadable,
    NotGguf,
    UnsupportedVersion,
    Truncated,
    Malformed,
    UnsupportedArchitecture,
    MissingKey,
    WrongKeyType,
    InvalidValue,
    Tokenizer,
    MissingTensor,
    UnexpectedTensor,
    WrongTensorShape,
    BadTensorType,
    BadTensorOffset,
}

/// <summary>Outcome of <see cref="ModelValidator.Validate(string)"/>: ok with a summary, or the problems found.</summary>
public sealed class ValidationResult
{
    internal ValidationResult(string path, IReadOnlyList<(ValidationCode Code, string Message)> problems,
        IReadOnlyList<string> warnings, ModelSummary? summary)
    {
        Path = path;
        Problems = problems.Select(p => p.Message).ToArray();
        Code = problems.Count == 0 ? ValidationCode.Ok : problems[0].Code;
        Warnings = warnings;
        Summary = summary;
    }

    public string Path { get; }

    public bool IsValid => Code == ValidationCode.Ok;

    /// <summary>Category of the first problem (<see cref="ValidationCode.Ok"/> when valid).</summary>
    public ValidationCode Code { get; }

    /// <summary>Every problem found, most fundamental first (later stages are skipped once one fails).</summary>
    public IReadOnlyList<string> Problems { get; }

    /// <summary>Things llama.cpp tolerates but that degrade behaviour (missing pre-tokenizer, chat template...).</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>Hyper-parameters and counts; present when the file is valid.</summary>
    public ModelSummary? Summary { get; }

    /// <summary>One line for logs and error responses.</summary>
    public string Message => IsValid
        ? $"'{Path}' is a valid {Summary}"
        : $"'{Path}' cannot be loaded: {Problems[0]}" + (Problems.Count > 1
            ? string.Create(CultureInfo.InvariantCulture, $" (and {Problems.Count - 1} more problem(s): {string.Join("; ", Problems.Skip(1).Take(5))})")
            : string.Empty);

    public override string ToString() => Message;
}

/// <summary>What a valid model looks like, for logging.</summary>
public sealed record ModelSummary
{
    public required string Architecture { get; init; }
    public string? Name { get; init; }
    public required uint GgufVersion { get; init; }
    public required string FileType { get; init; }
    public required Deepseek2HyperParameters HyperParameters { get; init; }
    public required long ParameterCount { get; init; }
    public required int TensorCount { get; init; }
    public required int KeyValueCount { get; init; }
    public required long TensorDataBytes { get; init; }
    public required long FileLength { get; init; }
    public required bool TiedEmbeddings { get; init; }
    public string? TokenizerPre { get; init; }
    public int? BosTokenId { get; init; }
    public int? EosTokenId { get; init; }
    public bool? AddBosToken { get; init; }
    public required bool HasChatTemplate { get; init; }

    /// <summary>Ids of the Youtu chat markers present in the vocabulary (by token text).</summary>
    public required IReadOnlyDictionary<string, int> MarkerTokenIds { get; init; }

    public override string ToString()
    {
        var h = HyperParameters;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture,
            $"{Architecture} model{(Name is null ? string.Empty : $" '{Name}'")}: {ParameterCount:N0} params, {FileType}, ");
        sb.Append(CultureInfo.InvariantCulture,
            $"n_embd={h.EmbeddingLength} n_layer={h.BlockCount} n_head={h.HeadCount} q_lora={h.QLoraRank} kv_lora={h.KvLoraRank} ");
        sb.Append(CultureInfo.InvariantCulture,
            $"nope={h.QkNopeHeadDim} rope={h.QkRopeHeadDim} v={h.VHeadDim} n_ff={h.FeedForwardLength} n_vocab={h.VocabSize} ");
        sb.Append(CultureInfo.InvariantCulture,
            $"n_ctx_train={h.ContextLength} rope_base={h.RopeFreqBase} eps={h.RmsNormEpsilon}, {TensorCount} tensors, {KeyValueCount} KV, ");
        sb.Append(CultureInfo.InvariantCulture, $"GGUF v{GgufVersion}, {FileLength:N0} bytes");
        return sb.ToString();
    }
}
