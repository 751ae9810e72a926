namespace Multiprocessing.Cluster;

/// <summary>
/// Work could not run because no node was left to run it (after <see cref="ClusterPoolOptions.NodeWaitTimeout"/>),
/// or because every node it was started on left or died (<see cref="ClusterPoolOptions.MaxRetries"/>).
/// </summary>
public sealed class NodeUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public NodeUnavailableException() : base("No node of the cluster was available.") { }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What happened.</param>
    public NodeUnavailableException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What happened.</param>
    /// <param name="innerException">The last node's failure.</param>
    public NodeUnavailableException(string message, Exception innerException) : base(message, innerException) { }
}
