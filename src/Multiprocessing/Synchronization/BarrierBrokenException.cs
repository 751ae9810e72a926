namespace Multiprocessing;

/// <summary>
/// A <see cref="SharedBarrier"/> is broken, or broke or was reset while the participant waited:
/// <see cref="SharedBarrier.Abort"/> was called (in any process), its post-phase action threw
/// (then, for the participant that ran it, <see cref="Exception.InnerException"/> is the action's
/// exception), or <see cref="SharedBarrier.Reset"/> dropped the waiting arrival. Python's
/// counterpart is <c>threading.BrokenBarrierError</c>. The message says which.
/// </summary>
/// <remarks>
/// .NET's <see cref="BarrierPostPhaseException"/> covers only a throwing post-phase action; this
/// one also covers a barrier broken on purpose, which <see cref="Barrier"/> does not have.
/// </remarks>
public sealed class BarrierBrokenException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public BarrierBrokenException() : base("The SharedBarrier is broken.") { }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What broke the barrier.</param>
    public BarrierBrokenException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the exception that broke the barrier.</summary>
    /// <param name="message">What broke the barrier.</param>
    /// <param name="innerException">The post-phase action's exception, or null.</param>
    public BarrierBrokenException(string message, Exception? innerException) : base(message, innerException) { }
}
