namespace Multiprocessing;

/// <summary>The pool (or a <see cref="WorkerProcess"/>) could not start a worker, or the worker's initializer failed.</summary>
public sealed class WorkerStartException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What happened.</param>
    public WorkerStartException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What happened.</param>
    /// <param name="innerException">The cause.</param>
    public WorkerStartException(string message, Exception innerException) : base(message, innerException) { }
}
