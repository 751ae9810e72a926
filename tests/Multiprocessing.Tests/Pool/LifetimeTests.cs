using System.Buffers;
using Multiprocessing.Wire;
using Multiprocessing.Worker;

namespace Multiprocessing.Tests.Pool;

/// <summary>Workers start, recycle and stop when they should; nothing outlives its owner.</summary>
public sealed class LifetimeTests
{
    [Fact]
    public async Task DisposeAsync_StopsEveryWorker()
    {
        var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 });
        await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
        IReadOnlyList<int> pids = pool.WorkerProcessIds;
        Assert.Equal(2, pids.Count);
        await pool.DisposeAsync().AsTask().WaitAsync(Bounds.Unexpected);
        Assert.All(pids, pid => Assert.False(Wait.ProcessExists(pid), $"worker {pid} still runs after DisposeAsync"));
        Assert.Throws<ObjectDisposedException>(() => { _ = pool.SubmitAsync(Tasks.Square, 1); });
    }

    [Fact]
    public async Task DisposeAsync_QueuedTasksFailAndRunningOnesAreStoppedAfterTheShutdownTimeout()
    {
        var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, ShutdownTimeout = TimeSpan.FromMilliseconds(200) });
        await pool.WaitForWorkersAsync().WaitAsync(Bounds.Unexpected);
        Task<int> running = pool.SubmitAsync(Tasks.SleepForever, 1);
        Task<int>[] queued = Enumerable.Range(0, 5).Select(i => pool.SubmitAsync(Tasks.SleepForever, i)).ToArray();
        await pool.DisposeAsync().AsTask().WaitAsync(Bounds.Unexpected);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => running.WaitAsync(Bounds.Unexpected));
        foreach (Task<int> task in queued)
        {
            await Assert.ThrowsAsync<ObjectDisposedException>(() => task.WaitAsync(Bounds.Unexpected));
        }
    }

    [Fact]
    public async Task ParentKilled_ItsWorkersExitWithinSeconds()
    {
        string pidFile = Path.Combine(Path.GetTempPath(), $"mp-pids-{Guid.NewGuid():N}");
        using var parent = WorkerProcess.Start(Tasks.HostPool, pidFile);
        int[] workers = [];
        try
        {
            await Wait.UntilAsync(() => File.Exists(pidFile), "the child pool reported its workers");
            workers = File.ReadAllText(pidFile).Split(',').Select(int.Parse).ToArray();
            Assert.Equal(2, workers.Length);
            Assert.All(workers, pid => Assert.True(Wait.ProcessExists(pid)));
            parent.Kill();
            await Wait.UntilAsync(() => workers.All(pid => !Wait.ProcessExists(pid)), "the killed parent's workers exit", TimeSpan.FromSeconds(15));
        }
        finally
        {
            foreach (int pid in workers.Where(Wait.ProcessExists))
            {
                System.Diagnostics.Process.GetProcessById(pid).Kill();
            }
            File.Delete(pidFile);
        }
    }

    [Fact]
    public async Task MaxTasksPerWorker_ReplacesWorkersAfterTheirQuota()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2, MaxTasksPerWorker = 2 });
        int[] pids = await pool.MapAsync(Tasks.Pid, Enumerable.Range(0, 12), new MapOptions { ChunkSize = 1 }).WaitAsync(Bounds.Unexpected);
        Assert.All(pids.GroupBy(p => p), g => Assert.True(g.Count() <= 2, $"worker {g.Key} ran {g.Count()} tasks"));
        Assert.True(pids.Distinct().Count() >= 6);
    }

    [Fact]
    public async Task WorkerMemoryLimit_ReplacesAWorkerThatGrewPastIt()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, WorkerMemoryLimit = 96L << 20 });
        long first = await pool.SubmitAsync(Tasks.Allocate, 128).WaitAsync(Bounds.Unexpected);
        long second = await pool.SubmitAsync(Tasks.Allocate, 1).WaitAsync(Bounds.Unexpected);
        long third = await pool.SubmitAsync(Tasks.Allocate, 1).WaitAsync(Bounds.Unexpected);
        Assert.NotEqual(first, second);
        Assert.Equal(second, third);
    }

    [Fact]
    public void ControlSocket_LivesInAPrivateDirectoryThatIsRemovedAfterUse()
    {
        string directory;
        var listener = new ConnectionListener();
        using (ConnectionListener.Expectation expectation = listener.Expect())
        {
            directory = Path.GetDirectoryName(expectation.SocketPath)!;
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(directory));
            Assert.Equal(Protocol.TokenSize * 2, expectation.Token.Length);
        }
        Assert.False(Directory.Exists(directory), "the socket directory outlived the last starting worker");
    }

    [Fact]
    public async Task Serializer_UserSerializerIsUsedInBothProcesses()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, Serializer = new MoneySerializer() });
        Money doubled = await pool.SubmitAsync(Double, new Money(21)).WaitAsync(Bounds.Unexpected);
        Assert.Equal(42, doubled.Cents);
        Assert.True(doubled.ViaCustomSerializer);
    }

    private static Money Double(Money m) => m.ViaCustomSerializer ? new Money(m.Cents * 2) : throw new InvalidOperationException("the worker did not use the custom serializer");

    public sealed class Money(long cents)
    {
        public long Cents { get; } = cents;

        public bool ViaCustomSerializer { get; init; }
    }

    public sealed class MoneySerializer : IWorkerSerializer
    {
        public bool CanSerialize(Type type) => type == typeof(Money);

        public void Serialize<T>(IBufferWriter<byte> writer, T value)
        {
            BitConverter.TryWriteBytes(writer.GetSpan(8), ((Money)(object)value!).Cents);
            writer.Advance(8);
        }

        public T Deserialize<T>(ReadOnlySpan<byte> data) => (T)(object)new Money(BitConverter.ToInt64(data)) { ViaCustomSerializer = true };
    }
}
