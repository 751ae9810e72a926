using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Multiprocessing.Tests")]
[assembly: InternalsVisibleTo("Multiprocessing.Benchmarks")]

// The mp tool reads the kernel's /proc files through the library's one reader (Interop/ProcFs.cs).
[assembly: InternalsVisibleTo("mp")]
