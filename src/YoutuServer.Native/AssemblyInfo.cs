using System.Runtime.CompilerServices;

// Every struct crossing the boundary is blittable; no runtime marshalling stubs on the hot path.
[assembly: DisableRuntimeMarshalling]
