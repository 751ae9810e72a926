namespace Multiprocessing;

/// <summary>
/// Shared memory could not be created, opened or attached: not enough memory or disk for the size
/// asked, a name that is taken or that no live process holds, contents of another type than
/// expected, or a segment whose creator disposed it or exited before another process attached.
/// The message says which, with the sizes involved, and what to do.
/// </summary>
public sealed class SharedMemoryException : IOException
{
    /// <summary>Creates the exception with a message.</summary>
    public SharedMemoryException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public SharedMemoryException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>Creates the exception for a size that cannot be had.</summary>
    public SharedMemoryException(string message, long requestedBytes, long availableBytes, Exception? innerException = null)
        : base(message, innerException)
    {
        RequestedBytes = requestedBytes;
        AvailableBytes = availableBytes;
    }

    /// <summary>The size that was asked for, when size was the problem.</summary>
    public long? RequestedBytes { get; }

    /// <summary>What the machine (memory, cgroup limit or file system) could give, when size was the problem.</summary>
    public long? AvailableBytes { get; }
}
