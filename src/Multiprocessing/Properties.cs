using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Multiprocessing.Tests")]
[assembly: InternalsVisibleTo("Multiprocessing.Benchmarks")]

// The mp tool reads the kernel's /proc files through the library's one reader (Interop/ProcFs.cs).
[assembly: InternalsVisibleTo("mp")]

// The cluster package runs encoded chunks on a node's local pool and schedules work through the same core.
[assembly: InternalsVisibleTo("Multiprocessing.Cluster")]
