namespace Multiprocessing;

/// <summary>
/// One process's memory as the kernel counts it in <c>/proc/PID/smaps_rollup</c>, every figure in
/// bytes: the .NET counterpart of Python's <c>psutil.Process.memory_full_info()</c>.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="Rss"/> counts every resident page the process maps, so pages shared with other
/// processes (the runtime's code, a shared array) are counted once per process and a sum of RSS
/// over a pool overstates what the pool costs. <see cref="Pss"/> divides each shared page among
/// the processes that map it, so PSS figures add up: the sum over a pool is what the pool costs.
/// <see cref="Uss"/> counts only the pages no other process maps: what ending this process would
/// give back.
/// </para>
/// <para>
/// Figures that older kernels do not report are null: <see cref="FilePmdMapped"/> (Linux 5.4),
/// <see cref="PssAnon"/>, <see cref="PssFile"/> and <see cref="PssShmem"/> (5.9),
/// <see cref="PssDirty"/> (6.0) and <see cref="Ksm"/> (6.6).
/// </para>
/// </remarks>
public sealed record MemoryUsage
{
    /// <summary>The process the figures belong to.</summary>
    public required int ProcessId { get; init; }

    /// <summary>Resident set size: every page of the process that is in RAM, shared or not (<c>Rss</c>).</summary>
    public required long Rss { get; init; }

    /// <summary>Proportional set size: resident pages, each shared page divided by the number of processes that map it (<c>Pss</c>). Sums over processes are meaningful.</summary>
    public required long Pss { get; init; }

    /// <summary>The part of <see cref="Pss"/> in dirty pages (<c>Pss_Dirty</c>); null if the kernel does not report it.</summary>
    public long? PssDirty { get; init; }

    /// <summary>The part of <see cref="Pss"/> in anonymous memory: heap, stacks, the managed heap (<c>Pss_Anon</c>); null if the kernel does not report it.</summary>
    public long? PssAnon { get; init; }

    /// <summary>The part of <see cref="Pss"/> in file-backed pages: code and mapped files (<c>Pss_File</c>); null if the kernel does not report it.</summary>
    public long? PssFile { get; init; }

    /// <summary>The part of <see cref="Pss"/> in shared memory: tmpfs, memfd, System V segments, such as a <c>SharedArray</c> (<c>Pss_Shmem</c>); null if the kernel does not report it.</summary>
    public long? PssShmem { get; init; }

    /// <summary>Resident pages that other processes also map and that nobody has written since they were read in (<c>Shared_Clean</c>).</summary>
    public required long SharedClean { get; init; }

    /// <summary>Resident pages that other processes also map and that have been written (<c>Shared_Dirty</c>).</summary>
    public required long SharedDirty { get; init; }

    /// <summary>Resident pages only this process maps, unmodified (<c>Private_Clean</c>).</summary>
    public required long PrivateClean { get; init; }

    /// <summary>Resident pages only this process maps, written to (<c>Private_Dirty</c>): most of its heap.</summary>
    public required long PrivateDirty { get; init; }

    /// <summary>Pages marked as recently accessed (<c>Referenced</c>).</summary>
    public required long Referenced { get; init; }

    /// <summary>Resident pages not backed by a file (<c>Anonymous</c>).</summary>
    public required long Anonymous { get; init; }

    /// <summary>Pages merged with identical pages of other processes by kernel same-page merging (<c>KSM</c>); null if the kernel does not report it.</summary>
    public long? Ksm { get; init; }

    /// <summary>Pages released with <c>MADV_FREE</c> that the kernel may reclaim without writing them out (<c>LazyFree</c>).</summary>
    public required long LazyFree { get; init; }

    /// <summary>Anonymous memory backed by transparent huge pages (<c>AnonHugePages</c>).</summary>
    public required long AnonHugePages { get; init; }

    /// <summary>Shared memory mapped with huge pages (<c>ShmemPmdMapped</c>).</summary>
    public required long ShmemPmdMapped { get; init; }

    /// <summary>File-backed memory mapped with huge pages (<c>FilePmdMapped</c>); null if the kernel does not report it.</summary>
    public long? FilePmdMapped { get; init; }

    /// <summary>hugetlbfs pages that other processes also map (<c>Shared_Hugetlb</c>); not counted in <see cref="Rss"/>.</summary>
    public required long SharedHugetlb { get; init; }

    /// <summary>hugetlbfs pages only this process maps (<c>Private_Hugetlb</c>); not counted in <see cref="Rss"/>.</summary>
    public required long PrivateHugetlb { get; init; }

    /// <summary>Anonymous memory of the process that has been swapped out (<c>Swap</c>).</summary>
    public required long Swap { get; init; }

    /// <summary>Proportional swap: <see cref="Swap"/> with each shared swapped page divided among its sharers (<c>SwapPss</c>).</summary>
    public required long SwapPss { get; init; }

    /// <summary>Pages locked in RAM with <c>mlock</c> (<c>Locked</c>).</summary>
    public required long Locked { get; init; }

    /// <summary>Unique set size: <see cref="PrivateClean"/> + <see cref="PrivateDirty"/>, what this process alone costs, the memory its exit would free.</summary>
    public long Uss => PrivateClean + PrivateDirty;

    /// <summary>Resident pages this process shares with others: <see cref="SharedClean"/> + <see cref="SharedDirty"/>.</summary>
    public long Shared => SharedClean + SharedDirty;
}
