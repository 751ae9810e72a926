namespace Multiprocessing;

public sealed partial class ProcessPool
{
    /// <summary>
    /// Reads the memory of this process and of every running worker from the kernel: per process
    /// and in total, with PSS so that pages the processes share are not counted twice.
    /// </summary>
    /// <returns>The figures, in bytes. A worker that exits while they are read is left out.</returns>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <exception cref="UnauthorizedAccessException">A worker's memory cannot be read (the ptrace policy forbids it).</exception>
    /// <exception cref="InvalidDataException">The kernel's report is not in the expected format.</exception>
    /// <exception cref="PlatformNotSupportedException">The kernel is older than 4.14 (no <c>smaps_rollup</c>).</exception>
    /// <exception cref="IOException">Reading a report failed for another reason.</exception>
    public PoolMemoryUsage GetMemoryUsage()
    {
        lock (_scheduler.Gate)
        {
            ObjectDisposedException.ThrowIf(_scheduler.IsClosed, this);
        }
        MemoryUsage parent = ProcessMemory.ReadCurrent();
        var workers = new List<MemoryUsage>();
        foreach (int processId in WorkerProcessIds)
        {
            // The kernel is read outside the pool lock (a read walks every mapping); a worker that
            // ends meanwhile is simply no longer part of the pool.
            if (ProcessMemory.TryRead(processId, out MemoryUsage? usage))
            {
                workers.Add(usage);
            }
        }
        return new PoolMemoryUsage { Parent = parent, Workers = workers };
    }
}
