using System.Runtime.InteropServices;

namespace YoutuServer.Native;

/// <summary>Owns a <c>llama_model*</c>.</summary>
public sealed class SafeLlamaModelHandle : SafeHandle
{
    public SafeLlamaModelHandle() : base(IntPtr.Zero, ownsHandle: true) { }
    internal SafeLlamaModelHandle(nint ptr) : base(IntPtr.Zero, ownsHandle: true) => SetHandle(ptr);
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle()
    {
        NativeMethods.llama_model_free(handle);
        return true;
    }
}

/// <summary>Owns a <c>llama_context*</c> and keeps its model alive until the context is freed.</summary>
public sealed class SafeLlamaContextHandle : SafeHandle
{
    private readonly SafeLlamaModelHandle? model;

    public SafeLlamaContextHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    internal SafeLlamaContextHandle(nint ptr, SafeLlamaModelHandle model) : base(IntPtr.Zero, ownsHandle: true)
    {
        var added = false;
        model.DangerousAddRef(ref added);
        this.model = model;
        SetHandle(ptr);
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        NativeMethods.llama_free(handle);
        model?.DangerousRelease();
        return true;
    }
}

/// <summary>Owns a sampler (normally a chain; a chain frees the samplers added to it).</summary>
public sealed class SafeLlamaSamplerHandle : SafeHandle
{
    public SafeLlamaSamplerHandle() : base(IntPtr.Zero, ownsHandle: true) { }
    internal SafeLlamaSamplerHandle(nint ptr) : base(IntPtr.Zero, ownsHandle: true) => SetHandle(ptr);
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle()
    {
        NativeMethods.llama_sampler_free(handle);
        return true;
    }
}
