namespace YoutuServer.Cli;

/// <summary>
/// A small POSIX-style argument reader: positionals, <c>--key value</c>, <c>--key=value</c>, repeatable keys and
/// boolean flags. Unknown options are an error so that typos never silently change behaviour.
/// </summary>
internal sealed class CliArgs
{
    private readonly Dictionary<string, List<string>> options = new(StringComparer.Ordinal);
    private readonly HashSet<string> used = new(StringComparer.Ordinal);

    public CliArgs(IReadOnlyList<string> args, IReadOnlySet<string>? flags = null)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (a == "--")
            {
                Positionals.AddRange(args.Skip(i + 1));
                break;
            }

            if (a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2)
            {
                var eq = a.IndexOf('=', StringComparison.Ordinal);
                string key, value;
                if (eq > 0)
                {
                    key = a[2..eq];
                    value = a[(eq + 1)..];
                }
                else if (flags?.Contains(a[2..]) == true || i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    key = a[2..];
                    value = "true";
                }
                else
                {
                    key = a[2..];
                    value = args[++i];
                }

                if (!options.TryGetValue(key, out var list))
                {
                    options[key] = list = [];
                }

                list.Add(value);
            }
            else
            {
                Positionals.Add(a);
            }
        }
    }

    public List<string> Positionals { get; } = [];

    public IEnumerable<string> Keys => options.Keys;

    public string? Get(string key)
    {
        used.Add(key);
        return options.TryGetValue(key, out var v) ? v[^1] : null;
    }

    public IReadOnlyList<string> GetAll(string key)
    {
        used.Add(key);
        return options.TryGetValue(key, out var v) ? v : [];
    }

    public string Require(string key) => Get(key) ?? throw new CliException($"missing required option --{key}");

    public int GetInt(string key, int fallback) => Get(key) is { } s
        ? int.TryParse(s, out var v) ? v : throw new CliException($"--{key} expects an integer, got '{s}'")
        : fallback;

    public float GetFloat(string key, float fallback) => Get(key) is { } s
        ? float.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : throw new CliException($"--{key} expects a number, got '{s}'")
        : fallback;

    public bool GetBool(string key, bool fallback = false) => Get(key) is { } s
        ? s is "true" or "1" or "on" or "yes" ? true : s is "false" or "0" or "off" or "no" ? false : throw new CliException($"--{key} expects on/off, got '{s}'")
        : fallback;

    /// <summary>Throws for options nobody asked for (call after reading all of them).</summary>
    public void RejectUnknown()
    {
        var unknown = options.Keys.Where(k => !used.Contains(k)).ToList();
        if (unknown.Count > 0)
        {
            throw new CliException($"unknown option{(unknown.Count > 1 ? "s" : "")}: {string.Join(", ", unknown.Select(k => "--" + k))}");
        }
    }
}

internal sealed class CliException : Exception
{
    public CliException(string message) : base(message) { }
    public CliException() { }
    public CliException(string message, Exception inner) : base(message, inner) { }
}
