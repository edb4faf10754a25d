using System.Globalization;
using YoutuServer.Engine.Sampling;
using YoutuServer.Engine.Scheduling;
using YoutuServer.Hosting;
using YoutuServer.Models;

namespace YoutuServer.Generation;

/// <summary>Limits and sampling: counts, stops, max/min tokens and logprobs checked; sampling values checked and mapped onto the mode's preset.</summary>
internal sealed class RequestLimits(EngineHost host, ServerOptions options)
{

    /// <summary>The engine request's prompt, counts, stops and sampling, checked.</summary>
    public GenerationRequest Counts(GenerationIntent intent, int[] prompt, SamplingParams sampling)
    {
        var n = CheckCount(intent.N);
        var maxTokens = ResolveMaxTokens(intent.MaxTokens, prompt.Length, intent.MaxTokensIsCap);
        CheckMinTokens(intent.MinTokens, maxTokens);
        return new GenerationRequest
        {
            Prompt = prompt,
            MaxTokens = maxTokens,
            MinTokens = intent.MinTokens ?? 0,
            IgnoreEos = intent.IgnoreEos,
            Stop = CheckStop(intent.Stop),
            N = n,
            Sampling = sampling,
        };
    }

    private int CheckCount(int n) => n < 1 || n > options.Parallel
        ? throw Fail(IntentField.N, f => $"'{f(IntentField.N)}' must be between 1 and {options.Parallel} on this server, got {n}.")
        : n;

    public static int CheckLogprobs(GenerationIntent intent)
    {
        if (intent.TopLogprobs is { } tl)
        {
            if (tl is < 0 or > 20)
            {
                throw Fail(IntentField.TopLogprobs, n => $"'{n(IntentField.TopLogprobs)}' must be between 0 and 20, got {tl}.");
            }

            if (!intent.Logprobs)
            {
                throw Fail(IntentField.TopLogprobs, n => $"'{n(IntentField.TopLogprobs)}' requires '{n(IntentField.Logprobs)}' to be true.");
            }
        }

        return intent.Logprobs ? intent.TopLogprobs ?? 0 : -1;
    }

    private int ResolveMaxTokens(int? requested, int promptTokens, bool isCap)
    {
        if (requested is < 1)
        {
            throw Fail(IntentField.MaxTokens, n => $"'{n(IntentField.MaxTokens)}' must be at least 1, got {requested}.");
        }

        var ctx = options.CtxSize;
        if (requested is { } cap && isCap && promptTokens < ctx)
        {
            return Math.Min(cap, ctx - promptTokens);
        }

        if (requested is { } m)
        {
            if ((long)promptTokens + m > ctx)
            {
                throw new IntentException(new IntentFailure(IntentField.Prompt, IntentFailureKind.ContextLengthExceeded, n =>
                    $"This model's maximum context length is {ctx} tokens. However, you requested {(long)promptTokens + m} tokens ({promptTokens} in the {n(IntentField.Prompt)}, {m} in the completion). Please reduce the length of the {n(IntentField.Prompt)} or completion."));
            }

            return m;
        }

        if (promptTokens >= ctx)
        {
            throw new IntentException(new IntentFailure(IntentField.Prompt, IntentFailureKind.ContextLengthExceeded, n =>
                $"This model's maximum context length is {ctx} tokens. However, your {n(IntentField.Prompt)} resulted in {promptTokens} tokens. Please reduce the length of the {n(IntentField.Prompt)}."));
        }

        var room = ctx - promptTokens;
        return options.DefaultMaxTokens > 0 ? Math.Min(options.DefaultMaxTokens, room) : room;
    }

    private static void CheckMinTokens(int? minTokens, int maxTokens)
    {
        if (minTokens is { } mt && (mt < 0 || mt > maxTokens))
        {
            throw Fail(IntentField.MinTokens, n => $"'{n(IntentField.MinTokens)}' must be between 0 and {n(IntentField.MaxTokens)} ({maxTokens}), got {mt}.");
        }
    }

    private static IReadOnlyList<string> CheckStop(IReadOnlyList<string> stop)
    {
        if (stop.Count > GenerationPlanner.MaxStopStrings)
        {
            throw Fail(IntentField.Stop, n => $"'{n(IntentField.Stop)}' may hold at most {GenerationPlanner.MaxStopStrings} strings, got {stop.Count}.");
        }

        foreach (var s in stop)
        {
            if (string.IsNullOrEmpty(s))
            {
                throw Fail(IntentField.Stop, n => $"'{n(IntentField.Stop)}' strings must not be empty.");
            }
        }

        return stop;
    }


    public SamplingParams BuildSampling(SamplingIntent s, bool? thinking)
    {
        Range(s.Temperature, 0, 2, IntentField.Temperature);
        RangeOpenLow(s.TopP, 0, 1, IntentField.TopP);
        Range(s.MinP, 0, 1, IntentField.MinP);
        Range(s.PresencePenalty, -2, 2, IntentField.PresencePenalty);
        Range(s.FrequencyPenalty, -2, 2, IntentField.FrequencyPenalty);
        RangeOpenLow(s.RepetitionPenalty, 0, 10, IntentField.RepetitionPenalty);
        if (s.TopK is < 0)
        {
            throw Fail(IntentField.TopK, n => $"'{n(IntentField.TopK)}' must be >= 0, got {s.TopK}.");
        }

        // Youtu's recommended decoding per mode, from models.json (research/youtu.md §2.3), when the request sets none.
        var preset = thinking == false ? host.CatalogEntry?.Sampling?.Normal ?? SamplingDefaults.Normal : host.CatalogEntry?.Sampling?.Thinking ?? SamplingDefaults.Thinking;
        return new SamplingParams
        {
            // Each field the request leaves unset takes the mode's recommended value (as vLLM does with generation_config).
            Temperature = (float)(s.Temperature ?? preset.Temperature ?? 1.0),
            TopP = (float)(s.TopP ?? preset.TopP ?? 1.0),
            TopK = s.TopK ?? preset.TopK ?? 0,
            MinP = (float)(s.MinP ?? preset.MinP ?? 0),
            RepetitionPenalty = (float)(s.RepetitionPenalty ?? preset.RepetitionPenalty ?? 1.0),
            PresencePenalty = (float)(s.PresencePenalty ?? 0),
            FrequencyPenalty = (float)(s.FrequencyPenalty ?? 0),
            Seed = options.ResolveSeed(s.Seed),
            LogitBias = ParseLogitBias(s.LogitBias),
        };
    }

    private Dictionary<int, float>? ParseLogitBias(IReadOnlyDictionary<string, double>? logitBias)
    {
        if (logitBias is null || logitBias.Count == 0)
        {
            return null;
        }

        if (logitBias.Count > 1024)
        {
            throw Fail(IntentField.LogitBias, n => $"'{n(IntentField.LogitBias)}' may hold at most 1024 entries.");
        }

        var vocab = host.Engine.VocabSize;
        var result = new Dictionary<int, float>(logitBias.Count);
        foreach (var (k, v) in logitBias)
        {
            if (!int.TryParse(k, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id >= vocab)
            {
                throw Fail(IntentField.LogitBias, n => $"Invalid token id '{k}' in {n(IntentField.LogitBias)}: expected an integer in [0, {vocab - 1}].");
            }

            if (double.IsNaN(v) || v < -100 || v > 100)
            {
                throw Fail(IntentField.LogitBias, n => $"{n(IntentField.LogitBias)} values must be within [-100, 100]; token {k} has {v}.");
            }

            // OpenAI semantics: -100 bans a token, +100 forces it.
            result[id] = v <= -100 ? float.NegativeInfinity : (float)v;
        }

        return result;
    }

    private static void Range(double? v, double lo, double hi, IntentField field)
    {
        if (v is { } x && (double.IsNaN(x) || x < lo || x > hi))
        {
            throw Fail(field, n => $"'{n(field)}' must be between {lo.ToString(CultureInfo.InvariantCulture)} and {hi.ToString(CultureInfo.InvariantCulture)}, got {x.ToString(CultureInfo.InvariantCulture)}.");
        }
    }

    private static void RangeOpenLow(double? v, double lo, double hi, IntentField field)
    {
        if (v is { } x && (double.IsNaN(x) || x <= lo || x > hi))
        {
            throw Fail(field, n => $"'{n(field)}' must be greater than {lo.ToString(CultureInfo.InvariantCulture)} and at most {hi.ToString(CultureInfo.InvariantCulture)}, got {x.ToString(CultureInfo.InvariantCulture)}.");
        }
    }

    private static IntentException Fail(IntentField field, Func<FieldNamer, string> describe, int? index = null) =>
        new(IntentFailure.Invalid(field, describe, index));
}

/// <summary>Youtu's recommended sampling per mode (research/youtu.md §2.3), used when models.json names none.</summary>
internal static class SamplingDefaults
{
    public static readonly SamplingPreset Thinking = new() { Temperature = 1.0f, TopP = 0.95f, TopK = 20, RepetitionPenalty = 1.05f };
    public static readonly SamplingPreset Normal = new() { Temperature = 0.7f, TopP = 0.8f, TopK = 20, RepetitionPenalty = 1.0f };
}
