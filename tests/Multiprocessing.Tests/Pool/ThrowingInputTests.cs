using System.Collections;

namespace Multiprocessing.Tests.Pool;

/// <summary>
/// A map whose input throws part-way: every item read before the failure is mapped and its result
/// reaches the caller first, then the input's own exception; nothing hangs and the pool stays usable.
/// </summary>
public sealed class ThrowingInputTests : IAsyncLifetime
{
    // The race this guards against (the input's error overtaking results still in flight) shows up
    // only some of the time, so each test runs its scenario many times.
    private const int Iterations = 20;

    private ProcessPool _pool = null!;

    public async Task InitializeAsync()
    {
        _pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 });
        await _pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
    }

    public async Task DisposeAsync() => await _pool.DisposeAsync();

    private static string Broke(int after) => $"the input broke after {after} items";

    private static IEnumerable<int> ThrowAfter(int count)
    {
        for (int i = 0; i < count; i++)
        {
            yield return i;
        }
        throw new InvalidDataException(Broke(count));
    }

    private static async IAsyncEnumerable<int> ThrowAfterAsync(int count)
    {
        for (int i = 0; i < count; i++)
        {
            await Task.Yield();
            yield return i;
        }
        throw new InvalidDataException(Broke(count));
    }

    /// <summary>Chunk sizes to run each scenario with: one item per task, a partial last chunk, and the adaptive default.</summary>
    private static int? ChunkFor(int iteration) => (iteration % 3) switch { 0 => 1, 1 => 4, _ => null };

    private static int CountFor(int iteration) => 1 + iteration % 7;

    [Fact]
    public async Task MapStreamAsync_OrderedInputThrows_YieldsEveryEarlierResultInOrderThenTheInputsException()
    {
        for (int iteration = 0; iteration < Iterations; iteration++)
        {
            int count = CountFor(iteration);
            var seen = new List<int>();
            var options = new MapOptions { ChunkSize = ChunkFor(iteration) };
            InvalidDataException error = await Assert.ThrowsAsync<InvalidDataException>(async () =>
            {
                await foreach (int result in _pool.MapStreamAsync(Tasks.Square, ThrowAfter(count), options).WithCancellation(new CancellationTokenSource(Bounds.Unexpected).Token))
                {
                    seen.Add(result);
                }
            });
            Assert.Equal(Broke(count), error.Message);
            Assert.Equal(Enumerable.Range(0, count).Select(i => i * i), seen);
        }
    }

    [Fact]
    public async Task MapStreamAsync_AsyncInputThrows_YieldsEveryEarlierResultInOrderThenTheInputsException()
    {
        for (int iteration = 0; iteration < Iterations; iteration++)
        {
            int count = CountFor(iteration);
            var seen = new List<int>();
            var options = new MapOptions { ChunkSize = ChunkFor(iteration) };
            InvalidDataException error = await Assert.ThrowsAsync<InvalidDataException>(async () =>
            {
                await foreach (int result in _pool.MapStreamAsync(Tasks.Square, ThrowAfterAsync(count), options).WithCancellation(new CancellationTokenSource(Bounds.Unexpected).Token))
                {
                    seen.Add(result);
                }
            });
            Assert.Equal(Broke(count), error.Message);
            Assert.Equal(Enumerable.Range(0, count).Select(i => i * i), seen);
        }
    }

    [Fact]
    public async Task MapStreamAsync_UnorderedInputThrows_YieldsEveryEarlierResultThenTheInputsException()
    {
        for (int iteration = 0; iteration < Iterations; iteration++)
        {
            int count = CountFor(iteration);
            var seen = new List<int>();
            var options = new MapOptions { ChunkSize = ChunkFor(iteration), Ordered = false };
            InvalidDataException error = await Assert.ThrowsAsync<InvalidDataException>(async () =>
            {
                await foreach (int result in _pool.MapStreamAsync(Tasks.Square, ThrowAfter(count), options).WithCancellation(new CancellationTokenSource(Bounds.Unexpected).Token))
                {
                    seen.Add(result);
                }
            });
            Assert.Equal(Broke(count), error.Message);
            Assert.Equal(Enumerable.Range(0, count).Select(i => i * i), seen.Order());
        }
    }

    [Fact]
    public async Task MapAsync_InputThrows_FaultsWithTheInputsExceptionAndThePoolStaysUsable()
    {
        for (int iteration = 0; iteration < Iterations; iteration++)
        {
            int count = CountFor(iteration);
            var options = new MapOptions { ChunkSize = ChunkFor(iteration) };
            InvalidDataException lazy = await Assert.ThrowsAsync<InvalidDataException>(() => _pool.MapAsync(Tasks.Square, ThrowAfter(count), options).WaitAsync(Bounds.Unexpected));
            Assert.Equal(Broke(count), lazy.Message);
            // A collection's count is known up front: that map writes into one array instead of streaming.
            InvalidDataException counted = await Assert.ThrowsAsync<InvalidDataException>(() => _pool.MapAsync(Tasks.Square, new ThrowingCollection(count), options).WaitAsync(Bounds.Unexpected));
            Assert.Equal(Broke(count), counted.Message);
        }
        Assert.Equal(81, await _pool.SubmitAsync(Tasks.Square, 9).WaitAsync(Bounds.Unexpected));
    }

    /// <summary>Claims one item more than it yields: its enumerator throws where the last should be.</summary>
    private sealed class ThrowingCollection(int count) : ICollection<int>
    {
        public int Count => count + 1;

        public bool IsReadOnly => true;

        public IEnumerator<int> GetEnumerator() => ThrowAfter(count).GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public void Add(int item) => throw new NotSupportedException();

        public void Clear() => throw new NotSupportedException();

        public bool Contains(int item) => throw new NotSupportedException();

        public void CopyTo(int[] array, int arrayIndex) => throw new NotSupportedException();

        public bool Remove(int item) => throw new NotSupportedException();
    }
}
