namespace Multiprocessing;

/// <summary>How a map splits and streams its input.</summary>
public sealed record MapOptions
{
    private readonly int? _chunkSize;
    private readonly int? _lookAhead;

    /// <summary>Items sent to a worker in one message. Larger chunks cost less per item; smaller ones balance uneven work better.</summary>
    /// <value>
    /// The default is null: automatic. For an input whose length is known, about four chunks per worker,
    /// as CPython's Pool.map does; for a lazy input, chunks grow from one item until each takes about
    /// two milliseconds.
    /// </value>
    public int? ChunkSize
    {
        get => _chunkSize;
        init => _chunkSize = value is null or >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(ChunkSize), value, "Must be at least 1, or null for automatic.");
    }

    /// <summary>For <see cref="ProcessPool.MapStreamAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>: results in input order (true) or as they finish (false).</summary>
    /// <value>The default is true.</value>
    public bool Ordered { get; init; } = true;

    /// <summary>
    /// Most input items read ahead of the consumer: taken from the input but whose results have not
    /// been handed out yet. Bounds memory for long or endless inputs.
    /// </summary>
    /// <value>The default is null: automatic, four chunks per worker and at least 256 items per worker.</value>
    public int? LookAhead
    {
        get => _lookAhead;
        init => _lookAhead = value is null or >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(LookAhead), value, "Must be at least 1, or null for automatic.");
    }

    /// <summary>Receives the number of items completed (and the total, when known) as chunks complete.</summary>
    /// <value>The default is null.</value>
    public IProgress<MapProgress>? Progress { get; init; }
}

/// <summary>Progress of a map.</summary>
/// <param name="Completed">Items whose results are in.</param>
/// <param name="Total">Items in the input, when it is known.</param>
public readonly record struct MapProgress(long Completed, long? Total);
