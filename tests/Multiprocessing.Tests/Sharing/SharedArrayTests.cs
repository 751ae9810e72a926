using Multiprocessing.Payload;
using Multiprocessing.Serialization;

namespace Multiprocessing.Tests.Sharing;

public sealed class SharedArrayTests : IAsyncLifetime
{
    private ProcessPool _pool = null!;

    public Task InitializeAsync()
    {
        _pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _pool.DisposeAsync();

    [Fact]
    public void Create_IsZeroedAndIndexable()
    {
        using var array = SharedArray<long>.Create(1000);
        Assert.Equal(1000L, array.Length);
        Assert.All(array.ToArray(), v => Assert.Equal(0L, v));
        array[999] = 5;
        Assert.Equal(5L, array[999]);
        Assert.Throws<ArgumentOutOfRangeException>(() => array[1000]);
        Assert.Throws<ArgumentOutOfRangeException>(() => array.AsSpan(990, 11));
    }

    [Fact]
    public void CreateFrom_CopiesTheValues()
    {
        using var array = SharedArray<int>.CreateFrom([1, 2, 3]);
        Assert.Equal([1, 2, 3], array.ToArray());
    }

    [Fact]
    public void MoreElementsThanASpanHolds_AreReachedThroughRanges()
    {
        long length = (long)int.MaxValue + 4096;
        using var array = SharedArray<byte>.Create(length); // sparse: only touched pages cost memory
        Assert.Equal(length, array.Length);
        array[length - 1] = 9;
        Assert.Equal(9, array.AsReadOnlySpan(length - 10, 10)[9]);
        Assert.Equal(9, array.AsSpan(length - 1)[0]);
        InvalidOperationException error = Assert.Throws<InvalidOperationException>(() => array.AsSpan());
        Assert.Contains("AsSpan(start, length)", error.Message);
    }

    [Fact]
    public async Task MapAsync_TasksReadTheSameMemory()
    {
        using var prices = SharedArray<double>.Create(1_000_000);
        for (long i = 0; i < prices.Length; i++)
        {
            prices[i] = i % 100;
        }
        double expected = prices.AsReadOnlySpan().ToArray().Sum();
        var slices = Enumerable.Range(0, 8).Select(k => (prices, (long)k * 125_000, 125_000));
        double[] sums = await _pool.MapAsync(SharedTasks.SumSlice, slices).WaitAsync(Bounds.Unexpected);
        Assert.Equal(expected, sums.Sum());
    }

    [Fact]
    public async Task Tasks_WriteIntoTheParentsMemory()
    {
        using var array = SharedArray<int>.Create(10_000);
        await _pool.MapAsync(SharedTasks.FillSlice, Enumerable.Range(0, 10).Select(k => (array, k * 1000, 1000))).WaitAsync(Bounds.Unexpected);
        Assert.Equal(Enumerable.Range(0, 10_000), array.ToArray());
    }

    [Fact]
    public async Task SharedValue_InterlockedIsAtomicAcrossProcesses()
    {
        using var counter = SharedValue<long>.Create(5);
        await _pool.MapAsync(SharedTasks.Increment, Enumerable.Repeat((counter, 20_000), 4), new MapOptions { ChunkSize = 1 }).WaitAsync(Bounds.Unexpected);
        Assert.Equal(80_005L, Volatile.Read(ref counter.Value));
    }

    [Fact]
    public void Descriptor_IsTheSameSizeWhateverTheArraysLength()
    {
        using var small = SharedArray<double>.Create(10);
        using var large = SharedArray<double>.Create(100_000_000 / sizeof(double));
        Codec<SharedArray<double>> codec = CodecProvider.Default.Get<SharedArray<double>>();
        var writer = new PayloadWriter();
        codec.Write(writer, small);
        int smallBytes = writer.Position;
        writer.Reset();
        codec.Write(writer, large);
        Assert.Equal(smallBytes, writer.Position);
        Assert.True(smallBytes < 64, $"a descriptor took {smallBytes} bytes");
    }

    [Fact]
    public async Task ReadOnlyView_ArrivesReadOnly_AndTheWorkerCannotWriteThroughTheApi()
    {
        using var array = SharedArray<int>.CreateFrom([1, 2, 3]);
        SharedArray<int> view = array.AsReadOnly();
        Assert.True(view.IsReadOnly);
        Assert.Throws<InvalidOperationException>(() => view.AsSpan());
        Assert.Throws<InvalidOperationException>(() => view[0] = 1);
        Assert.Equal(2, view[1]);

        Assert.True(await _pool.SubmitAsync(SharedTasks.IsReadOnly, view).WaitAsync(Bounds.Unexpected));
        Assert.False(await _pool.SubmitAsync(SharedTasks.IsReadOnly, array).WaitAsync(Bounds.Unexpected));
        WorkerException error = await Assert.ThrowsAsync<WorkerException>(() => _pool.SubmitAsync(SharedTasks.WriteThroughApi, view).WaitAsync(Bounds.Unexpected));
        Assert.Equal(typeof(InvalidOperationException).FullName, error.RemoteTypeName);
        Assert.Equal([1, 2, 3], array.ToArray());
    }

    [Fact]
    public async Task ReadOnlyView_IsMappedReadOnlyInTheWorker_SoEvenUnsafeWritesFault()
    {
        using var array = SharedArray<int>.CreateFrom([1, 2, 3]);
        using var child = WorkerProcess.Start(SharedTasks.WriteBehindTheApisBack, array.AsReadOnly());
        await Assert.ThrowsAsync<WorkerCrashedException>(() => child.Result.WaitAsync(Bounds.Unexpected));
        Assert.Equal([1, 2, 3], array.ToArray());
    }

    [Fact]
    public async Task RecordWithASharedArray_TravelsAsJsonAndStillAttaches()
    {
        using var values = SharedArray<int>.CreateFrom([1, 2, 3, 4]);
        Assert.Equal(30L, await _pool.SubmitAsync(SharedTasks.RecordTotal, new Batch(values, 3)).WaitAsync(Bounds.Unexpected));
    }

    [Fact]
    public async Task SharedMemoryBlock_CrossesToATask()
    {
        using var block = SharedMemory.Create(4096);
        block.AsSpan(0, 4096).Fill(2);
        block.GetReference<long>(8) = 0;
        Assert.Equal(2L * (4096 - 8), await _pool.SubmitAsync(SharedTasks.SumBytes, block).WaitAsync(Bounds.Unexpected));
        Assert.Throws<ArgumentException>(() => block.GetReference<long>(4));
        Assert.Throws<ArgumentOutOfRangeException>(() => block.AsSpan(4000, 97));
    }

    [Fact]
    public void Disposed_AccessThrows_AndViewsDieWithTheirOwner()
    {
        var array = SharedArray<int>.Create(4);
        SharedArray<int> view = array.AsReadOnly();
        view.Dispose(); // a view does not own the memory
        Assert.Equal(0, array[0]);
        SharedArray<int> other = array.AsReadOnly();
        array.Dispose();
        Assert.Throws<ObjectDisposedException>(() => array[0]);
        Assert.Throws<ObjectDisposedException>(() => other.AsReadOnlySpan());
    }

    [Fact]
    public async Task DisposedArray_CannotBeSubmitted()
    {
        var array = SharedArray<int>.Create(4);
        array.Dispose();
        var error = await Assert.ThrowsAsync<System.Runtime.Serialization.SerializationException>(() => _pool.SubmitAsync(SharedTasks.IsReadOnly, array));
        Assert.IsType<ObjectDisposedException>(error.InnerException);
    }

    [Fact]
    public void TooLarge_FailsAtCreationNamingTheSizeTheLimitAndTheWayOut()
    {
        SharedMemoryException error = Assert.Throws<SharedMemoryException>(() => SharedArray<double>.Create(1L << 47));
        Assert.Equal(8L << 47, error.RequestedBytes);
        Assert.True(error.AvailableBytes < error.RequestedBytes);
        Assert.Contains("CreateFile", error.Message);
        Assert.Contains("TiB", error.Message);
    }

    [Fact]
    public void SegmentWhoseOwnerReleasedIt_CannotBeAttached()
    {
        var array = SharedArray<int>.Create(4);
        Multiprocessing.Sharing.SegmentDescriptor descriptor = array.Segment.Describe(writable: true);
        array.Dispose();
        SharedMemoryException error = Assert.Throws<SharedMemoryException>(() => Multiprocessing.Sharing.SharedSegment.Open(descriptor, "the array"));
        Assert.Contains("disposed", error.Message);
    }

    [Fact]
    public void SegmentWhoseDescriptorNumberNowNamesASocket_CannotBeAttached()
    {
        var array = SharedArray<int>.Create(4);
        Multiprocessing.Sharing.SegmentDescriptor descriptor = array.Segment.Describe(writable: true);
        array.Dispose();
        // The owner's number reused for a socket, which /proc cannot open (ENXIO), not only for another file.
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        var reused = descriptor with { OwnerPid = Environment.ProcessId, Fd = (int)socket.Handle };

        SharedMemoryException error = Assert.Throws<SharedMemoryException>(() => Multiprocessing.Sharing.SharedSegment.Open(reused, "the array"));
        Assert.Contains("disposed", error.Message);
    }

    [Fact]
    public async Task Worker_AttachesOnce_AndLetsGoWhenTheOwnerDisposes()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        var array = SharedArray<int>.CreateFrom([1, 2, 3]);
        ulong inode = array.Segment.Identity.Inode;
        for (int i = 0; i < 3; i++)
        {
            Assert.False(await pool.SubmitAsync(SharedTasks.IsReadOnly, array).WaitAsync(Bounds.Unexpected));
        }
        Assert.Equal(1, await pool.SubmitAsync(SharedTasks.AttachedCount, 0).WaitAsync(Bounds.Unexpected));
        int worker = pool.WorkerProcessIds.Single();
        Assert.True(Maps(worker, inode), "the worker should map the array while the parent holds it");

        array.Dispose();
        await Wait.UntilAsync(() => !Maps(worker, inode), "the worker unmaps the array its owner disposed");
        Assert.Equal(0, await pool.SubmitAsync(SharedTasks.AttachedCount, 0).WaitAsync(Bounds.Unexpected));
    }

    private static bool Maps(int pid, ulong inode) =>
        File.ReadLines($"/proc/{pid}/maps").Any(l => l.Contains("/memfd:", StringComparison.Ordinal)
            && l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[4] == inode.ToString(System.Globalization.CultureInfo.InvariantCulture));

    [Fact]
    public void DeclaringTheBaseType_IsRefusedWithAReason()
    {
        NotSupportedException error = Assert.Throws<NotSupportedException>(() => CodecProvider.Default.Get<SharedObject>());
        Assert.Contains("concrete type", error.Message);
    }
}
