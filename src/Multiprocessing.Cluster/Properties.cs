using System.Runtime.CompilerServices;

// Tests check internals that no public member shows: who returns a shared piece's pooled blocks,
// and that the stranded-call path ran.
[assembly: InternalsVisibleTo("Multiprocessing.Tests")]
