using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Multiprocessing.Tests")]
[assembly: InternalsVisibleTo("Multiprocessing.Benchmarks")]
