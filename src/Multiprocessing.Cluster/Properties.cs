using System.Runtime.CompilerServices;

// Tests check internals that no public member shows: who returns a shared piece's pooled blocks,
// and that the stranded-call path ran.
[assembly: InternalsVisibleTo("Multiprocessing.Tests")]

// mp node, and the benchmark's node as it, start themselves over with the node's runtime settings (Node/NodeRuntime).
[assembly: InternalsVisibleTo("mp")]
[assembly: InternalsVisibleTo("Multiprocessing.Benchmarks")]
