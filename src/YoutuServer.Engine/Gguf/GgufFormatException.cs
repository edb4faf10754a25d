namespace YoutuServer.Engine.Gguf;

/// <summary>What kind of problem a <see cref="GgufFormatException"/> reports.</summary>
public enum GgufErrorKind
{
    /// <summary>The file could not be opened or read (I/O error).</summary>
    Io,
    /// <summary>The first four bytes are not "GGUF".</summary>
    BadMagic,
    /// <summary>A GGUF version this reader does not support (only v2 and v3 are).</summary>
    UnsupportedVersion,
    /// <summary>The file ends inside the header, metadata or tensor table.</summary>
    Truncated,
    /// <summary>A count or length in the file exceeds a sanity cap.</summary>
    LimitExceeded,
    /// <summary>Anything else structurally wrong (bad type id, duplicate key, bad UTF-8, ...).</summary>
    Malformed,
}

/// <summary>
/// The only exception <see cref="GgufReader"/> throws: the message names the problem and the byte offset.
/// </summary>
public sealed class GgufFormatException : Exception
{
    public GgufFormatException(GgufErrorKind kind, long offset, string problem)
        : base(FormattableString.Invariant($"{problem} (at byte offset {offset})"))
    {
        Kind = kind;
        Offset = offset;
        Problem = problem;
    }

    public GgufFormatException(GgufErrorKind kind, long offset, string problem, Exception inner)
        : base(FormattableString.Invariant($"{problem} (at byte offset {offset})"), inner)
    {
        Kind = kind;
        Offset = offset;
        Problem = problem;
    }

    public GgufErrorKind Kind { get; }

    /// <summary>Byte offset in the file where the problem was found.</summary>
    public long Offset { get; }

    /// <summary>The message without the offset suffix.</summary>
    public string Problem { get; }
}
